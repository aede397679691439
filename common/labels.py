"""The one label type: a review is negative or positive, whatever spelling carried it.

Why one type: the review files (fastText ``__label__1``/``__label__2``, CSV/JSONL ``1``/``0`` or words), the
message contract (``"negative"``/``"positive"``), the model (class 1 = negative, as it outputs p(negative)) and the
dashboard must agree on what a label is, or a labelled review loses its label, or worse, flips it, on the way.
Every spelling is read and written here and nowhere else; the rest of the code holds a ``Label``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

# A review is negative when the model's p(negative) is above this.
DECISION_THRESHOLD = 0.5


class Label(StrEnum):
    """A review's polarity. Its value is the word the message contract carries (a StrEnum: it compares, hashes and
    serialises as that word)."""

    NEGATIVE = "negative"
    POSITIVE = "positive"

    @property
    def target(self) -> int:
        """The model's class and training target, also the CSV spelling: 1 = negative (the model outputs
        p(negative)), 0 = positive."""
        return 1 if self is Label.NEGATIVE else 0

    @property
    def fasttext(self) -> str:
        """The fastText tag of the Kaggle files: ``__label__1`` = negative, ``__label__2`` = positive."""
        return _FASTTEXT_TAGS[self]

    @classmethod
    def parse(cls, value: Any) -> Label:
        """The label from any accepted spelling: 0/1 numbers, '0'/'1', 'negative'/'positive', 'neg'/'pos' or fastText
        tags (any case, surrounding spaces ignored); ValueError for anything else, booleans included."""
        if isinstance(value, bool):
            raise ValueError(f"label {value!r} is a boolean; expected 1 (negative) or 0 (positive)")
        if isinstance(value, (int, float)) and value in (0, 1):
            return cls.from_target(int(value))
        if isinstance(value, str) and value.strip().lower() in _SPELLINGS:
            return _SPELLINGS[value.strip().lower()]
        raise ValueError(f"label {value!r} is not 1 (negative) or 0 (positive)")

    @classmethod
    def from_fasttext(cls, tag: str) -> Label:
        """The label of a fastText tag, exactly ``__label__1`` or ``__label__2``; ValueError for another tag."""
        for label, spelled in _FASTTEXT_TAGS.items():
            if tag == spelled:
                return label
        raise ValueError(f"unknown label {tag!r} (expected __label__1 or __label__2)")

    @classmethod
    def from_target(cls, target: int) -> Label:
        """The label of the model's class 1 (negative) or 0 (positive); ValueError for another number."""
        if target == 1:
            return cls.NEGATIVE
        if target == 0:
            return cls.POSITIVE
        raise ValueError(f"class {target!r} is not 1 (negative) or 0 (positive)")

    @classmethod
    def of(cls, p_negative: float) -> Label:
        """The model's verdict for a probability of being negative."""
        return cls.NEGATIVE if p_negative > DECISION_THRESHOLD else cls.POSITIVE


_FASTTEXT_TAGS = {Label.NEGATIVE: "__label__1", Label.POSITIVE: "__label__2"}
_SPELLINGS: dict[str, Label] = {
    spelling: label
    for label in Label
    for spelling in (label.value, label.value[:3], str(label.target), f"{label.target}.0", label.fasttext)
}
