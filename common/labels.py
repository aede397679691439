"""The one label vocabulary: every spelling of a true label that training, the readers and the contract accept.

Why here: the message contract (common/) and the data readers (model/) must agree on what a label is, or a
review the producer and training read as labelled loses its label, or more, in the stream. model/ imports
this module; common/ never imports model/.
"""

from __future__ import annotations

from typing import Any

# The training data's convention: 1 = negative, 0 = positive (fastText __label__1 / __label__2).
NEGATIVE_CLASS = 1
POSITIVE_CLASS = 0
LABEL_WORDS = {
    "1": NEGATIVE_CLASS, "0": POSITIVE_CLASS,
    "1.0": NEGATIVE_CLASS, "0.0": POSITIVE_CLASS,
    "negative": NEGATIVE_CLASS, "positive": POSITIVE_CLASS,
    "neg": NEGATIVE_CLASS, "pos": POSITIVE_CLASS,
    "__label__1": NEGATIVE_CLASS, "__label__2": POSITIVE_CLASS,
}


def parse_label(value: Any) -> int:
    """1 (negative) or 0 (positive) from 0/1 numbers, '0'/'1', 'negative'/'positive', 'neg'/'pos' or fastText
    labels (any case, surrounding spaces ignored); ValueError for anything else, booleans included."""
    if isinstance(value, bool):
        raise ValueError(f"label {value!r} is a boolean; expected 1 (negative) or 0 (positive)")
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in LABEL_WORDS:
        return LABEL_WORDS[value.strip().lower()]
    raise ValueError(f"label {value!r} is not 1 (negative) or 0 (positive)")
