"""The Kafka client layer: configuration layers in their order, produce under a full queue, topic checks."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import ClusterMetadata, PartitionMetadata, TopicMetadata

from common import kafka


def test_the_user_overrides_defaults_and_fixed_settings_override_the_user():
    user = {"bootstrap.servers": "b:1", "linger.ms": 50, "enable.auto.commit": True, "client.id": "mine"}
    config = kafka.consumer_config(
        user, defaults={"linger.ms": 5, "auto.offset.reset": "earliest", "client.id": "x"}, fixed={"group.id": "g"}
    )
    assert config == {
        "bootstrap.servers": "b:1",
        "linger.ms": 50,  # the user's, over the role's default
        "auto.offset.reset": "earliest",  # the role's default, the user said nothing
        "client.id": "mine",
        "enable.auto.commit": False,  # the project's: consumers commit offsets themselves
        "enable.auto.offset.store": False,
        "group.id": "g",
    }


def test_producers_are_idempotent_unless_the_user_says_otherwise():
    assert kafka.producer_config({"bootstrap.servers": "b:1"})["enable.idempotence"] is True
    assert kafka.producer_config({"enable.idempotence": False})["enable.idempotence"] is False
    assert kafka.producer_config({"enable.idempotence": False}, fixed={"enable.idempotence": True})[
        "enable.idempotence"
    ]


def test_the_layers_do_not_change_the_callers_mappings():
    user, defaults, fixed = {"a": 1}, {"b": 2}, {"c": 3}
    kafka.client_config(user, defaults, fixed)
    assert (user, defaults, fixed) == ({"a": 1}, {"b": 2}, {"c": 3})


class _QueueFullProducer:
    """Refuses the first ``full`` produce calls as librdkafka does with a full queue; records polls and messages."""

    def __init__(self, full: int) -> None:
        self.full = full
        self.polls: list[float] = []
        self.queued: list[tuple] = []

    def produce(self, topic, value, key=None, **kwargs) -> None:
        if self.full:
            self.full -= 1
            raise BufferError("Local: Queue full")
        self.queued.append((topic, value, key, kwargs))

    def poll(self, timeout: float) -> int:
        self.polls.append(timeout)
        return 0


def test_produce_serves_delivery_reports_while_the_queue_is_full_and_then_queues_once():
    producer = _QueueFullProducer(full=3)
    kafka.produce(producer, "t", b"v", b"k")  # type: ignore[arg-type]  # a stand-in for librdkafka's producer
    assert producer.queued == [("t", b"v", b"k", {})]
    assert len(producer.polls) == 3 and all(timeout > 0 for timeout in producer.polls)


def test_produce_passes_headers_and_the_delivery_callback():
    producer = _QueueFullProducer(full=0)

    def report(err, msg):
        return None

    kafka.produce(producer, "t", b"v", headers=[("h", b"1")], on_delivery=report)  # type: ignore[arg-type]
    assert producer.queued == [("t", b"v", None, {"headers": [("h", b"1")], "on_delivery": report})]
    assert producer.polls == []


def test_produce_leaves_other_refusals_to_the_caller():
    class TooLarge(_QueueFullProducer):
        def produce(self, topic, value, key=None, **kwargs) -> None:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))

    with pytest.raises(KafkaException) as raised:
        kafka.produce(TooLarge(full=0), "t", b"v")  # type: ignore[arg-type]
    assert raised.value.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE


def _metadata(**topics: KafkaError | None) -> ClusterMetadata:
    metadata = ClusterMetadata()
    for name, error in topics.items():
        topic = TopicMetadata()
        topic.topic, topic.error, topic.partitions = name, error, {0: PartitionMetadata()}
        metadata.topics[name] = topic
    return metadata


def test_a_topic_exists_only_when_the_metadata_has_it_without_an_error():
    metadata = _metadata(reviews=None, secret=KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    assert kafka.topic_exists(metadata, "reviews")
    assert not kafka.topic_exists(metadata, "secret")
    assert not kafka.topic_exists(metadata, "absent")
    assert kafka.missing_topics(metadata, ["absent", "reviews", "secret", "absent"]) == ["absent", "secret"]
