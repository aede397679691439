"""Reference statistics: what the data a model was validated on looked like, recorded in its metadata.json.

The live stream is compared against them (drift signals): a stream whose share of out-of-vocabulary tokens,
review lengths, positive share or p_negative distribution moves away from these figures is no longer the
traffic the model was measured on. Training computes them on its validation split; ``sentiment-model
reference`` computes them for an existing artifact from review files, with the artifact's own tokenizer and
model. Both go through :func:`reference_statistics`, so the two can never disagree on a definition.

Definitions (the consumer's live metrics use the same ones):

- a review's tokens are its tokenizer ids, one per word (the OOV token included, nothing truncated);
- ``oov_share``: OOV tokens / all tokens, after the ``num_words`` cut (a word beyond it is OOV);
- ``tokens_quantiles``: the smallest token count that at least 50/90/99% of the reviews do not exceed;
- ``truncated_share``: the share of reviews with more than ``max_len`` tokens (the model reads the last ``max_len``);
- ``positive_share``: the share of positive true labels;
- ``p_negative_histogram``: the share of reviews per tenth of p_negative (the last bin includes 1.0).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from common.labels import Label
from model.tokenizer import OOV_ID

QUANTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99}
HISTOGRAM_EDGES = [round(i / 10, 1) for i in range(11)]


def token_counts(sequences: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(tokens, OOV tokens) per review, from untruncated tokenizer output."""
    tokens = np.fromiter((len(s) for s in sequences), np.int64, len(sequences))
    oov = np.fromiter((sum(1 for i in s if i == OOV_ID) for s in sequences), np.int64, len(sequences))
    return tokens, oov


def reference_statistics(
    data: str, tokens: np.ndarray, oov: np.ndarray, labels: np.ndarray, p_negative: np.ndarray, max_len: int
) -> dict[str, Any]:
    """The ``reference`` object of metadata.json; ``labels`` are classes (``Label.target``)."""
    tokens, oov, labels, p_negative = (np.asarray(a) for a in (tokens, oov, labels, p_negative))
    if not len(tokens) or not (len(tokens) == len(oov) == len(labels) == len(p_negative)):
        raise ValueError("reference statistics need one token count, OOV count, label and p_negative per review")
    counts, _ = np.histogram(np.clip(p_negative, 0.0, 1.0), bins=HISTOGRAM_EDGES)
    return {
        "data": data,
        "reviews": int(len(tokens)),
        "oov_share": float(oov.sum() / max(int(tokens.sum()), 1)),
        "tokens_quantiles": {name: int(np.quantile(tokens, q, method="inverted_cdf")) for name, q in QUANTILES.items()},
        "truncated_share": float(np.mean(tokens > max_len)),
        "positive_share": float(np.mean(labels == Label.POSITIVE.target)),
        "p_negative_histogram": {"edges": HISTOGRAM_EDGES, "shares": (counts / counts.sum()).tolist()},
    }


def validation_description(paths: Sequence[str | Path], fraction: float, random_state: int) -> str:
    """What ``data`` says for training's validation split, the same from training and from a later computation."""
    return f"validation split ({fraction:g}, stratified, random_state {random_state}) of " + " + ".join(
        str(p) for p in paths
    )


def _labelled(paths: Sequence[str], read_options: dict[str, Any], limit: int | None) -> Iterator[tuple[str, int]]:
    """(text, class) of every file in order, read as training reads them (``limit`` per file)."""
    from common.readers import ErrorCounter, read_records

    for path in paths:
        for record in read_records(path, errors=ErrorCounter(), limit=limit, **read_options):
            if record.label is None:
                raise ValueError(f"{path} line {record.line}: no label; reference statistics need labelled reviews")
            yield record.text, record.label.target


def artifact_reference(
    predictor, paths: Sequence[str], read_options: dict[str, Any], validation_split: bool, chunk: int = 2048
) -> dict[str, Any]:
    """The reference statistics of ``predictor`` on review files, with its own tokenizer and model.

    ``validation_split``: the files are the ones the model was trained on, in training's order; only the rows of
    training's validation split count (the same stratified split, rebuilt from the metadata's hyperparameters).
    Otherwise every review counts (a held-out test file). Reads the files twice, keeping no text beyond a chunk.
    """
    hyper = predictor.metadata.get("hyperparameters", {})
    limit = hyper.get("limit_per_file") if validation_split else None
    labels = np.fromiter((label for _, label in _labelled(paths, read_options, limit)), np.uint8)
    if not len(labels):
        raise ValueError(f"no labelled reviews in {', '.join(map(str, paths))}")
    keep = np.zeros(len(labels), bool)
    if validation_split:
        from model.train import PRESETS, stratified_split

        fraction, state = hyper.get("validation_fraction", 0.2), hyper.get("split_random_state", 0)
        split = dataclasses.replace(PRESETS["default"], validation_fraction=fraction, split_random_state=state)
        keep[stratified_split(labels, split)[1]] = True
        data = validation_description(paths, fraction, state)
    else:
        keep[:] = True
        data = "all reviews of " + " + ".join(str(p) for p in paths)
    tokens, oov, p_negative = [], [], []
    kept = (text for row, (text, _) in enumerate(_labelled(paths, read_options, limit)) if keep[row])
    while part := list(itertools.islice(kept, chunk)):
        counts = token_counts(predictor.tokenizer.texts_to_sequences(part))
        tokens.append(counts[0])
        oov.append(counts[1])
        p_negative.append(predictor.predict_proba(part))
    return reference_statistics(
        data, np.concatenate(tokens), np.concatenate(oov), labels[keep], np.concatenate(p_negative), predictor.max_len
    )
