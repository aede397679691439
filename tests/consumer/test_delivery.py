"""At-least-once bookkeeping: a batch's input offsets are committed only once every output of it is acknowledged.

The delivery callbacks are called here in orders a real broker rarely shows (one output of an early batch last,
a failure in the middle), which the integration tests in test_pipeline.py cannot arrange.
"""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition

from common.contract import Source
from consumer.delivery import AtLeastOnce, DeliveryFailed
from consumer.metrics import ConsumerMetrics
from consumer.scoring import OutRecord


class RecordingProducer:
    """Keeps each produced message's delivery callback for the test to call."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Any]] = []

    def produce(self, topic: str, value: bytes, key: bytes | None, headers: Any, on_delivery: Any) -> None:
        self.sent.append((value, on_delivery))

    def poll(self, _timeout: float) -> int:
        return 0


class RecordingConsumer:
    def __init__(self) -> None:
        self.commits: list[dict[tuple[str, int], int]] = []

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.commits.append({(tp.topic, tp.partition): tp.offset for tp in offsets})


class Delivered:
    """What librdkafka hands a delivery callback: the output message."""

    def __init__(self, value: bytes) -> None:
        self._value = value

    def value(self) -> bytes:
        return self._value


def record(partition: int, offset: int, label: str | None = "positive") -> OutRecord:
    return OutRecord(Source("reviews", partition, offset), "out", None, f"out-{partition}-{offset}".encode(), None,
                     label=label, reason=None if label else "not_json", event_time=1.0)


def ack(producer: RecordingProducer, index: int, err: KafkaError | None = None) -> None:
    value, callback = producer.sent[index]
    callback(err, Delivered(value))


@pytest.fixture
def parts() -> tuple[AtLeastOnce, RecordingProducer, RecordingConsumer, ConsumerMetrics]:
    producer, consumer, metrics = RecordingProducer(), RecordingConsumer(), ConsumerMetrics()
    return AtLeastOnce(consumer, producer, metrics), producer, consumer, metrics  # type: ignore[arg-type]  # fakes with the methods AtLeastOnce calls


def test_a_batch_is_committed_once_all_its_outputs_are_acknowledged_in_any_order(parts) -> None:
    delivery, producer, consumer, metrics = parts
    delivery.publish([record(0, 10), record(1, 3), record(0, 11, label=None)])
    delivery.publish([record(0, 12)])
    assert delivery.backlog() == 4

    ack(producer, 3)  # the later batch first: partition 0 must wait for offsets 10-11
    ack(producer, 0)
    ack(producer, 2)
    delivery.service()
    assert consumer.commits == [] and delivery.backlog() == 3  # counted per batch: the first is not complete

    ack(producer, 1)
    delivery.service()
    assert consumer.commits == [{("reviews", 0): 13, ("reviews", 1): 4}] and delivery.backlog() == 0
    assert metrics.predictions.labels(label="positive")._value.get() == 3
    assert metrics.dead_letters.labels(reason="not_json")._value.get() == 1


def test_dropped_optional_fields_are_counted_by_field_once_delivered(parts) -> None:
    delivery, producer, _, metrics = parts
    delivery.publish([record(0, 1)._replace(dropped=("label", "ts")), record(0, 2)._replace(dropped=("ts",)), record(0, 3)])
    assert metrics.dropped_fields.labels(field="ts")._value.get() == 0  # nothing counted before the acknowledgement
    for index in range(3):
        ack(producer, index)
    delivery.service()
    assert metrics.dropped_fields.labels(field="ts")._value.get() == 2
    assert metrics.dropped_fields.labels(field="label")._value.get() == 1


def test_a_failed_output_stops_the_service_naming_its_input_and_commits_nothing(parts) -> None:
    delivery, producer, consumer, _ = parts
    delivery.publish([record(2, 7), record(2, 8)])
    ack(producer, 0)
    ack(producer, 1, KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
    with pytest.raises(DeliveryFailed, match="reviews:2:8"):
        delivery.service()
    assert consumer.commits == []
