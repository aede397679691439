"""common.labels: every spelling of a label read and written by the one type."""

from __future__ import annotations

import json

import orjson
import pytest

from common.labels import Label

NEGATIVE_SPELLINGS = [1, 1.0, "1", "1.0", "negative", "Negative", " NEG ", "neg", "__label__1", "__LABEL__1"]
POSITIVE_SPELLINGS = [0, 0.0, "0", "0.0", "positive", "POSITIVE", "pos", " Pos", "__label__2"]


@pytest.mark.parametrize("spelling", NEGATIVE_SPELLINGS)
def test_every_negative_spelling_reads_as_negative(spelling: object) -> None:
    assert Label.parse(spelling) is Label.NEGATIVE


@pytest.mark.parametrize("spelling", POSITIVE_SPELLINGS)
def test_every_positive_spelling_reads_as_positive(spelling: object) -> None:
    assert Label.parse(spelling) is Label.POSITIVE


@pytest.mark.parametrize("value", [2, -1, 0.5, "maybe", "", "__label__3", "negatif", True, False, None, [1]])
def test_anything_else_is_refused(value: object) -> None:
    with pytest.raises(ValueError):
        Label.parse(value)


def test_the_spellings_it_writes() -> None:
    # The Kaggle files' convention (data/PROVENANCE.md): __label__1 is the 1-2 star (negative) class.
    assert [(label.value, label.target, label.fasttext) for label in Label] == [
        ("negative", 1, "__label__1"),
        ("positive", 0, "__label__2"),
    ]
    assert {label: Label.parse(label.fasttext) for label in Label} == {
        Label.NEGATIVE: Label.NEGATIVE,
        Label.POSITIVE: Label.POSITIVE,
    }
    assert [Label.from_target(1), Label.from_target(0)] == [Label.NEGATIVE, Label.POSITIVE]
    with pytest.raises(ValueError):
        Label.from_target(2)


def test_fasttext_tags_are_read_exactly() -> None:
    assert (Label.from_fasttext("__label__1"), Label.from_fasttext("__label__2")) == (Label.NEGATIVE, Label.POSITIVE)
    for tag in ("__label__0", "__label__3", "__LABEL__1", "negative"):
        with pytest.raises(ValueError, match="expected __label__1 or __label__2"):
            Label.from_fasttext(tag)


def test_a_verdict_is_negative_only_above_one_half() -> None:
    assert [Label.of(p) for p in (0.0, 0.4999, 0.5, 0.5001, 1.0)] == [
        Label.POSITIVE,
        Label.POSITIVE,
        Label.POSITIVE,
        Label.NEGATIVE,
        Label.NEGATIVE,
    ]


def test_it_is_the_contract_word_wherever_text_is_made() -> None:
    assert orjson.loads(orjson.dumps({"label": Label.NEGATIVE})) == {"label": "negative"}
    assert json.loads(json.dumps([Label.POSITIVE])) == ["positive"]
    assert f"{Label.NEGATIVE}" == str(Label.NEGATIVE) == "negative"
    assert {Label.POSITIVE: 3} == {"positive": 3}
