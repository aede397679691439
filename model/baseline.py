"""The yardstick beside the LSTM: TF-IDF over word unigrams and bigrams + logistic regression (scikit-learn).

Why on token ids rather than raw text: the ids are what training already holds in memory (the
raw text of 3.6M reviews would not fit the memory budget), and they make the comparison fair:
the baseline sees the same 15,000-word vocabulary and the same last 166 tokens as the LSTM.
Bigrams are hashed into ``BIGRAM_BUCKETS`` columns. Trained on the LSTM's training rows
(at most ``max_train_rows`` of them, drawn at random) and scored on the same validation and
test rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # scipy is imported where it is used: serving never needs it
    import scipy.sparse

from model.evaluate import classification_metrics

BIGRAM_BUCKETS = 1 << 18
CHUNK = 50_000
MAX_TRAIN_ROWS = 200_000  # bounds the sparse matrices (~0.5 GB) on the full 3.6M-review download


def bag_of_ngrams(ids: np.ndarray, num_words: int) -> scipy.sparse.csr_matrix:
    """Counts of unigram ids and hashed bigrams of pre-padded id rows (0 = padding), rows x columns CSR."""
    from scipy import sparse

    ids = ids.astype(np.int64)
    rows, cols = np.nonzero(ids)
    unigram = sparse.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, ids[rows, cols])), shape=(len(ids), num_words + BIGRAM_BUCKETS)
    )
    left, right = ids[:, :-1], ids[:, 1:]
    brows, bcols = np.nonzero((left > 0) & (right > 0))
    hashed = num_words + (left[brows, bcols] * 1_000_003 + right[brows, bcols]) % BIGRAM_BUCKETS
    bigram = sparse.csr_matrix((np.ones(len(brows), np.float32), (brows, hashed)), shape=unigram.shape)
    counts = unigram + bigram
    counts.sum_duplicates()
    return counts


def _features(ids: np.ndarray, rows: np.ndarray, num_words: int):
    from scipy import sparse

    return sparse.vstack(
        [bag_of_ngrams(ids[rows[i : i + CHUNK]], num_words) for i in range(0, len(rows), CHUNK)], format="csr"
    )


def tfidf_logistic_regression(
    ids: np.ndarray,
    labels: np.ndarray,
    train_rows: np.ndarray,
    eval_sets: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    num_words: int,
    seed: int = 0,
    max_train_rows: int = MAX_TRAIN_ROWS,
) -> dict[str, Any]:
    """Fit on ``ids[train_rows]``; return settings, metrics and p_negative for each ``name: (ids, labels, rows)``."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    if len(train_rows) > max_train_rows:
        train_rows = np.sort(np.random.default_rng(seed).choice(train_rows, max_train_rows, replace=False))
    tfidf = TfidfTransformer(sublinear_tf=True)
    x_train = tfidf.fit_transform(_features(ids, train_rows, num_words))
    classifier = LogisticRegression(C=4.0, max_iter=1000, solver="liblinear", random_state=seed)
    classifier.fit(x_train, labels[train_rows])
    negative_column = list(classifier.classes_).index(1)
    metrics, scores = {}, {}
    for name, (set_ids, set_labels, rows) in eval_sets.items():
        p = classifier.predict_proba(tfidf.transform(_features(set_ids, rows, num_words)))[:, negative_column]
        scores[name] = p
        metrics[name] = classification_metrics(set_labels[rows], p)
    return {
        "model": "TF-IDF (sublinear tf, unigrams + hashed bigrams of the LSTM's token ids) + logistic regression "
        "(liblinear, C=4)",
        "train_reviews": int(len(train_rows)),
        "metrics": metrics,
        "scores": scores,
    }
