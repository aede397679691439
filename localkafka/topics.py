"""Topic creation through Kafka's admin API, idempotent so every start-up may call it."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic


def create_topics(
    kafka_config: Mapping[str, Any], names: Iterable[str], partitions: int, timeout: float = 30.0
) -> dict[str, str]:
    """Create each topic that does not exist; return {name: "created" | "exists"}."""
    admin = AdminClient(dict(kafka_config))
    wanted = list(dict.fromkeys(names))
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in wanted],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    outcome: dict[str, str] = {}
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            outcome[name] = "created"
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
            outcome[name] = "exists"
    return outcome
