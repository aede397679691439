"""score_batch on stand-in messages and models: one record per message in input order, one model call for the batch,
and when that call fails, one call per review so that only the review the model fails on is dead-lettered."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from common import contract
from common.labels import Label
from consumer.scoring import score_batch
from model.predictor import Assessment
from tests.consumer.fakes import FakeMessage


class ChokesOn:
    """A stand-in model that raises on any call holding a text with ``poison`` in it, and records its calls."""

    version = "stand-in"
    metadata: ClassVar[dict[str, Any]] = {}

    def __init__(self, poison: str) -> None:
        self.poison = poison
        self.calls: list[list[str]] = []

    def judge(self, texts: Sequence[str]) -> list[tuple[Label, float] | None]:
        return [a.verdict for a in self.assess(texts)]

    def assess(self, texts: Sequence[str]) -> list[Assessment]:
        self.calls.append(list(texts))
        if any(self.poison in t for t in texts):
            raise ValueError("the kernel met a text it cannot take")
        # negative when the review says "broke", else positive: an answer the test knows without the model
        return [
            Assessment((Label.NEGATIVE, 0.9) if "broke" in t else (Label.POSITIVE, 0.2), len(t.split()), 0)
            for t in texts
        ]


def messages(values: list[bytes]) -> list[Any]:
    """Stand-ins for confluent_kafka.Message (typed Any: score_batch reads only what FakeMessage has)."""
    return [FakeMessage("in", 0, offset, value, key=f"k{offset}".encode()) for offset, value in enumerate(values)]


def test_a_batch_is_one_model_call_and_each_message_gets_one_record_in_input_order() -> None:
    model = ChokesOn("never")
    batch = score_batch(
        messages([b"it broke in a day", b'{"text": "a fine kettle"}', b'{"text": 5}']), model, "out", "dlq"
    )
    assert model.calls == [["it broke in a day", "a fine kettle"]]
    assert [(r.source.offset, r.topic, r.label, r.reason) for r in batch.records] == [
        (0, "out", "negative", None),
        (1, "out", "positive", None),
        (2, "dlq", None, contract.NO_TEXT),
    ]
    assert batch.scored == 2
    assert [json.loads(r.value)["p_negative"] for r in batch.records[:2]] == [0.9, 0.2]


def test_a_failing_batch_is_scored_one_by_one_and_only_the_failing_review_is_dead_lettered() -> None:
    model = ChokesOn("\u2603")
    values = [b"it broke in a day", "snowman \u2603 inside".encode(), b"a fine kettle"]
    batch = score_batch(messages(values), model, "out", "dlq")

    assert model.calls == [
        ["it broke in a day", "snowman \u2603 inside", "a fine kettle"],
        ["it broke in a day"],
        ["snowman \u2603 inside"],
        ["a fine kettle"],
    ]
    assert [(r.topic, r.label, r.reason) for r in batch.records] == [
        ("out", "negative", None),
        ("dlq", None, contract.SCORING_FAILED),
        ("out", "positive", None),
    ]
    dead = batch.records[1]
    assert dead.value == values[1]  # the original bytes, for a replay
    headers = dict(dead.headers or [])
    assert headers[contract.H_ERROR_CODE] == contract.SCORING_FAILED.encode()
    assert b"cannot take" in headers[contract.H_ERROR_MESSAGE]


def test_a_model_that_fails_on_everything_dead_letters_every_review_and_loses_none() -> None:
    batch = score_batch(messages([b"a snowman here", b"snowman again"]), ChokesOn("snowman"), "out", "dlq")
    assert [(r.source.offset, r.reason) for r in batch.records] == [
        (0, contract.SCORING_FAILED),
        (1, contract.SCORING_FAILED),
    ]
