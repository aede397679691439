"""A shadow candidate beside the served model: its verdicts ride along in every output and in the metrics, and a
broken candidate costs only its own fields."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from common import contract
from common.labels import Label
from consumer.scoring import score_batch
from localkafka.harness import Topics, item_ids, produce, read_topic, review_items
from model.predictor import Assessment


class Message:
    """The few calls score_batch makes of a confluent_kafka Message."""

    def __init__(self, offset: int, value: bytes) -> None:
        self._offset, self._value = offset, value

    def topic(self) -> str:
        return "in"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return f"k{self._offset}".encode()

    def value(self) -> bytes:
        return self._value

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (0, 0)


class Fixed:
    def __init__(self, version: str, verdict: tuple[str, float] | None, fails: bool = False) -> None:
        self.version, self.verdict, self.fails = version, verdict, fails
        self.metadata: dict[str, Any] = {}

    def judge(self, texts):
        if self.fails:
            raise RuntimeError("candidate broke")
        return [self.verdict] * len(texts)

    def assess(self, texts):
        return [
            Assessment(verdict, len(text.split()), 0) for verdict, text in zip(self.judge(texts), texts, strict=True)
        ]


MESSAGES: list[Any] = [
    Message(0, b'{"text": "fine kettle", "label": "positive"}'),
    Message(1, b"!!!!"),
    Message(2, b"plain text review, quite good"),
]


def test_the_shadow_verdict_rides_along_and_never_decides_the_label() -> None:
    batch = score_batch(
        MESSAGES, Fixed("served", (Label.POSITIVE, 0.2)), "out", "dlq", shadow=Fixed("cand", (Label.NEGATIVE, 0.9))
    )
    docs = [json.loads(r.value) for r in batch.records if r.topic == "out"]
    assert [d["label"] for d in docs] == ["positive"] * 3
    assert [d["shadow"] for d in docs] == [{"model_version": "cand", "label": "negative", "p_negative": 0.9}] * 3
    assert batch.shadow_error is None and batch.shadow_seconds is not None
    assert contract.decode_result(batch.records[0].value).shadow == contract.ShadowVerdict("cand", Label.NEGATIVE, 0.9)


def test_a_failing_shadow_costs_only_its_own_fields() -> None:
    alone = score_batch(MESSAGES, Fixed("served", (Label.POSITIVE, 0.2)), "out", "dlq")
    broken = score_batch(
        MESSAGES, Fixed("served", (Label.POSITIVE, 0.2)), "out", "dlq", shadow=Fixed("cand", None, fails=True)
    )
    assert [r.topic for r in broken.records] == [r.topic for r in alone.records]
    for with_broken, without in zip(broken.records, alone.records, strict=True):
        assert json.loads(with_broken.value).keys() == json.loads(without.value).keys()
        assert "shadow" not in json.loads(with_broken.value) or with_broken.topic == "dlq"
    assert broken.shadow_error and "candidate broke" in broken.shadow_error


@pytest.mark.integration
def test_a_consumer_with_a_shadow_publishes_both_verdicts_and_counts_agreement_and_accuracy(
    topics: Topics, start_consumer, reviews, predictor, candidate_model: Path
) -> None:
    from model.predictor import Predictor

    candidate = Predictor.load(candidate_model, backend="onnxruntime")
    items = review_items(reviews, 400, prefix="s")
    consumer = start_consumer(topics, "--shadow-model-dir", str(candidate_model))
    consumer.wait_ready()
    produce(topics.bootstrap, topics.input, items)
    results = [
        contract.decode_result(m.value() or b"")
        for m in read_topic(topics.bootstrap, topics.output, ids=item_ids(items))
    ]
    texts = {key.decode(): json.loads(value)["text"] for key, value in items}
    served = dict(zip(texts, predictor.judge(list(texts.values())), strict=True))
    shadow: dict[str, Any] = dict(zip(texts, candidate.judge(list(texts.values())), strict=True))
    assert len(results) == len(items)
    for result in results:
        assert (result.label, result.p_negative) == (
            served[result.id][0],
            pytest.approx(served[result.id][1], abs=1e-6),
        )
        assert result.shadow is not None and result.shadow.model_version == candidate.version
        assert (result.shadow.label, result.shadow.p_negative) == (
            shadow[result.id][0],
            pytest.approx(shadow[result.id][1], abs=1e-6),
        )
    disagree = sum(r.shadow.label != r.label for r in results)  # type: ignore[union-attr]  # every result here has a shadow verdict
    assert 0 < disagree < len(results), "a candidate with other weights disagrees on some reviews, not all"

    consumer.wait_metric("sentiment_messages_consumed_total", len(items))
    scrape = consumer.metrics()
    agreement = {
        dict(labels)["agreement"]: value
        for (name, labels), value in scrape.items()
        if name == "sentiment_shadow_predictions_total"
    }
    assert agreement == {"agree": len(results) - disagree, "disagree": disagree}
    outcomes: Counter[tuple[str, str, str]] = Counter()
    for r in results:
        outcomes[(r.model_version, "served", "correct" if r.label == r.true_label else "wrong")] += 1
        outcomes[(r.shadow.model_version, "shadow", "correct" if r.shadow.label == r.true_label else "wrong")] += 1  # type: ignore[union-attr]  # every result here has a shadow verdict
    counted = {
        (dict(labels)["model_version"], dict(labels)["role"], dict(labels)["outcome"]): value
        for (name, labels), value in scrape.items()
        if name == "sentiment_labelled_predictions_total"
    }
    assert counted == dict(outcomes)
    assert consumer.terminate() == 0


@pytest.mark.integration
def test_a_candidate_that_does_not_load_leaves_the_served_path_alone(
    topics: Topics, start_consumer, reviews, tmp_path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metadata.json").write_text("{not json")
    items = review_items(reviews, 50, prefix="b", words=12)
    consumer = start_consumer(topics, "--shadow-model-dir", str(broken))
    consumer.wait_ready()
    produce(topics.bootstrap, topics.input, items)
    results = [
        contract.decode_result(m.value() or b"")
        for m in read_topic(topics.bootstrap, topics.output, ids=item_ids(items))
    ]
    assert len(results) == len(items) and all(r.shadow is None for r in results)
    assert consumer.metrics()[("sentiment_shadow_failures_total", (("stage", "load"),))] == 1
    assert consumer.terminate() == 0
