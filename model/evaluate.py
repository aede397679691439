"""Quality figures of a sentiment model: one definition used by training's report and ``sentiment-evaluate``.

Conventions: class 1 = negative (``Label.target``; the positive class of every score below, as in the published
work's recall), 0 = positive; a review is predicted negative when p_negative is above ``DECISION_THRESHOLD``, as
the Predictor decides.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from common.labels import DECISION_THRESHOLD, Label
from common.readers import ErrorCounter, Reading, read_records

# The confusion matrix's row and column order, and that of the per-class figures: negative first.
_NAME_ORDER = [label.value for label in (Label.NEGATIVE, Label.POSITIVE)]
_TARGET_ORDER = [label.target for label in (Label.NEGATIVE, Label.POSITIVE)]
CHANCE_ACCURACY = 0.5  # a coin toss between the two classes
# A ROC AUC this far below chance (0.5) means the scores rank the classes the wrong way round: far likelier a
# file whose 1 means positive than a model that learnt the opposite of its training data.
INVERTED_AUC = 0.25


class ScoresTexts(Protocol):
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


def predicted_labels(p_negative: np.ndarray) -> np.ndarray:
    return (np.asarray(p_negative) > DECISION_THRESHOLD).astype(np.int64)


def classification_metrics(
    labels: Sequence[int] | np.ndarray, p_negative: Sequence[float] | np.ndarray
) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1, average precision and ROC AUC (negative = class of interest),
    and the confusion matrix (rows true, columns predicted, order negative then positive)."""
    from sklearn.metrics import (
        average_precision_score,
        confusion_matrix,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(p_negative, dtype=np.float64).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"{y.shape[0]} labels but {p.shape[0]} probabilities")
    if not len(y):
        raise ValueError("no labelled reviews to evaluate")
    predicted = predicted_labels(p)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, predicted, labels=_TARGET_ORDER, zero_division=0
    )
    both_classes = len(np.unique(y)) == 2
    return {
        "n": int(len(y)),
        "accuracy": float(np.mean(predicted == y)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(_NAME_ORDER)
        },
        "average_precision": float(average_precision_score(y, p)) if both_classes else None,
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else None,
        "confusion_matrix": {
            "rows": "true",
            "columns": "predicted",
            "labels": list(_NAME_ORDER),
            "matrix": confusion_matrix(y, predicted, labels=_TARGET_ORDER).tolist(),
        },
    }


def evaluate_file(
    predictor: ScoresTexts,
    path: str | Path,
    *,
    fmt: str = "auto",
    text_column: str = "text",
    label_column: str = "label",
    limit: int | None = None,
    batch_size: int = 256,
    errors: ErrorCounter | None = None,
    reading: Reading = Reading(),
) -> dict[str, Any]:
    """Score every labelled review of ``path`` in batches; metrics plus the scoring speed.

    reviews_per_second counts only the predictor's time (raw strings to probabilities), not file reading.
    """
    errors = ErrorCounter() if errors is None else errors
    labels: list[int] = []
    scores: list[np.ndarray] = []
    seconds = 0.0
    batch: list[str] = []

    def flush() -> None:
        nonlocal seconds
        started = time.perf_counter()
        scores.append(np.asarray(predictor.predict_proba(batch), dtype=np.float64).reshape(-1))
        seconds += time.perf_counter() - started
        batch.clear()

    for record in read_records(
        path,
        fmt=fmt,
        text_column=text_column,
        label_column=label_column,
        errors=errors,
        limit=limit,
        **reading.options(),
    ):
        if record.label is None:
            raise ValueError(f"{path} line {record.line}: no label; evaluation needs labelled reviews")
        labels.append(record.label.target)
        batch.append(record.text)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    if not labels:
        raise ValueError(f"{path}: no reviews to evaluate")
    result = classification_metrics(labels, np.concatenate(scores))
    result["reviews_per_second"] = round(len(labels) / seconds, 1) if seconds > 0 else None
    result["malformed_lines"] = errors.malformed
    result["dropped_lines"] = sum(errors.dropped.values())
    result["warnings"] = label_warnings(result)
    return result


def label_warnings(metrics: dict[str, Any]) -> list[str]:
    """What to know before trusting ``metrics``: labels that look inverted (accuracy and AUC far below chance)."""
    auc, accuracy = metrics.get("roc_auc"), metrics["accuracy"]
    if auc is None or auc >= INVERTED_AUC or accuracy >= CHANCE_ACCURACY:
        return []
    return [
        f"the labels look inverted: accuracy {accuracy:.4f} and ROC AUC {auc:.4f} are far below chance. "
        f"Labels 1, {Label.NEGATIVE.fasttext} and '{Label.NEGATIVE}' are read as negative, 0, "
        f"{Label.POSITIVE.fasttext} "
        f"and '{Label.POSITIVE}' as positive; "
        f"with this file's labels swapped, accuracy would be {1 - accuracy:.4f}"
    ]
