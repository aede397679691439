"""Topic creation through Kafka's admin API, idempotent so every start-up may call it; scratch topics for benchmarks."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from common.kafka import make_admin, topic_exists


def create_topics(
    kafka_config: Mapping[str, Any],
    names: Iterable[str],
    partitions: int,
    timeout: float = 30.0,
    topic_config: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Create each topic that does not exist (with ``topic_config``); return {name: "created" | "exists"} once every
    topic is in the broker's metadata with all its partitions.

    Why wait for the metadata: the controller acknowledges a creation before the broker's metadata cache has the
    topic, and a client started at once (the demo's consumer checks its topics at start-up) was told they did not
    exist (seen on a fresh KRaft broker).
    """
    admin = make_admin(kafka_config)
    wanted = list(dict.fromkeys(names))
    futures = admin.create_topics(
        [
            NewTopic(name, num_partitions=partitions, replication_factor=1, config=dict(topic_config or {}))
            for name in wanted
        ],
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
    _wait_visible(admin, wanted, timeout)
    return outcome


def _wait_visible(admin: AdminClient, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        metadata = admin.list_topics(timeout=max(1.0, deadline - time.monotonic()))
        missing = [n for n in names if not topic_exists(metadata, n) or not metadata.topics[n].partitions]
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise KafkaException(
                KafkaError(KafkaError._TIMED_OUT, f"topics {missing} not in the metadata after {timeout:g} s")
            )
        time.sleep(0.1)


def delete_topics(kafka_config: Mapping[str, Any], names: Iterable[str], timeout: float = 30.0) -> None:
    """Delete the topics; one that is already gone is fine."""
    admin = make_admin(kafka_config)
    futures = admin.delete_topics(list(dict.fromkeys(names)), operation_timeout=timeout, request_timeout=timeout)
    for future in futures.values():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise


@contextmanager
def scratch_topics(
    kafka_config: Mapping[str, Any],
    names: Iterable[str],
    partitions: int,
    topic_config: Mapping[str, str] | None = None,
) -> Iterator[list[str]]:
    """Topics that exist for the ``with`` block only.

    Why: every benchmark run makes fresh topics, and a broker that kept them all had grown to 1,575 partitions and
    2.8 GB after a day of benchmarks here; each partition costs the broker heap, open files and start-up time.
    """
    wanted = list(dict.fromkeys(names))
    create_topics(kafka_config, wanted, partitions, topic_config=topic_config)
    try:
        yield wanted
    finally:
        delete_topics(kafka_config, wanted)
