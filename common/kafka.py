"""The project's Kafka clients: one way to build each kind, produce under backpressure and ask whether topics exist.

Every client's configuration is three layers, later winning: the role's ``defaults`` (what suits this client
unless the user says otherwise), the user's configuration (``bootstrap.servers`` and the ``-X`` /
``SENTIMENT_KAFKA_*`` pass-through, as ``common.config.Settings.kafka_config`` resolves it), then the role's
``fixed`` settings (what the code relies on: callbacks, offsets it commits itself, its group). The project-wide
layers are PRODUCER_DEFAULTS and CONSUMER_FIXED; a role adds its own on top.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient, ClusterMetadata

# Every producer of the project: librdkafka's retries never duplicate or reorder a message (implies acks=all).
PRODUCER_DEFAULTS: dict[str, Any] = {"enable.idempotence": True}
# Every consumer of the project stores and commits offsets itself (or, reading only, never).
CONSUMER_FIXED: dict[str, Any] = {"enable.auto.commit": False, "enable.auto.offset.store": False}
# How long produce() serves delivery reports before it tries again while librdkafka's queue is full.
QUEUE_FULL_POLL_S = 0.05

DeliveryCallback = Callable[[KafkaError | None, Message], None]


def client_config(
    kafka_config: Mapping[str, Any], defaults: Mapping[str, Any] | None = None, fixed: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``defaults``, then the user's ``kafka_config`` over them, then ``fixed`` over both."""
    return {**(defaults or {}), **kafka_config, **(fixed or {})}


def producer_config(
    kafka_config: Mapping[str, Any], defaults: Mapping[str, Any] | None = None, fixed: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A producer's configuration: PRODUCER_DEFAULTS and the role's ``defaults`` under the user's, ``fixed`` over it."""
    return client_config(kafka_config, {**PRODUCER_DEFAULTS, **(defaults or {})}, fixed)


def consumer_config(
    kafka_config: Mapping[str, Any], defaults: Mapping[str, Any] | None = None, fixed: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A consumer's configuration: the role's ``defaults`` under the user's, CONSUMER_FIXED and ``fixed`` over it."""
    return client_config(kafka_config, defaults, {**CONSUMER_FIXED, **(fixed or {})})


def make_producer(
    kafka_config: Mapping[str, Any], defaults: Mapping[str, Any] | None = None, fixed: Mapping[str, Any] | None = None
) -> Producer:
    """A producer built from ``producer_config``."""
    return Producer(producer_config(kafka_config, defaults, fixed))


def make_consumer(
    kafka_config: Mapping[str, Any], defaults: Mapping[str, Any] | None = None, fixed: Mapping[str, Any] | None = None
) -> Consumer:
    """A consumer built from ``consumer_config`` (``group.id`` comes from one of the layers)."""
    return Consumer(consumer_config(kafka_config, defaults, fixed))


def make_admin(kafka_config: Mapping[str, Any], fixed: Mapping[str, Any] | None = None) -> AdminClient:
    """An admin client on the user's configuration, ``fixed`` over it.

    Keep it referenced until the futures of its requests have resolved: they fail once it is collected.
    """
    return AdminClient(client_config(kafka_config, fixed=fixed))


def produce(
    producer: Producer,
    topic: str,
    value: bytes | None,
    key: bytes | None = None,
    headers: list[tuple[str, bytes]] | list[tuple[str, bytes | None]] | None = None,
    on_delivery: DeliveryCallback | None = None,
) -> None:
    """Queue one message; while librdkafka's local queue is full, serve delivery reports until there is room.

    Why wait rather than fail: the queue bounds the producer's memory, and a full one only says the broker is
    slower than the caller for now; dropping the message would lose it. Other refusals (a message over
    message.max.bytes: KafkaException) are the caller's to handle.
    """
    while True:
        try:
            if headers is None and on_delivery is None:  # the hot path of sentiment-producer: no keyword handling
                producer.produce(topic, value, key)
            else:
                # confluent-kafka's stub names one list type, list[tuple[str, str | bytes | None]]; lists being
                # invariant, a list of (str, bytes) pairs (the consumer's outputs) does not match it, though accepted.
                producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)  # type: ignore[arg-type]
            return
        except BufferError:
            producer.poll(QUEUE_FULL_POLL_S)


def topic_exists(metadata: ClusterMetadata, topic: str) -> bool:
    """Whether ``topic`` is in ``metadata`` without an error.

    A topic this client may not describe (TOPIC_AUTHORIZATION_FAILED) comes back with an error: not usable.
    """
    found = metadata.topics.get(topic)
    return found is not None and found.error is None


def missing_topics(metadata: ClusterMetadata, topics: Iterable[str]) -> list[str]:
    """The ``topics`` that do not exist (or are not usable) according to ``metadata``, in the order given."""
    return [topic for topic in dict.fromkeys(topics) if not topic_exists(metadata, topic)]
