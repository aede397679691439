"""Start-up check that a Kafka cluster answers, failing fast with the real reason.

Why: librdkafka retries a refused login as if the broker were merely slow, so a plain
``list_topics(timeout)`` turns a wrong password or an untrusted certificate into "broker
unreachable" after the whole timeout. Watching the client's error callback tells them apart.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata

_FATAL = {KafkaError._AUTHENTICATION: "authentication failed", KafkaError._SSL: "TLS handshake failed"}


class BrokerUnavailable(RuntimeError):
    """The cluster did not answer metadata requests; the message says why."""


def cluster_metadata(kafka_config: Mapping[str, Any], timeout: float) -> ClusterMetadata:
    """The cluster's metadata, or BrokerUnavailable as soon as the reason is known (else after ``timeout`` s)."""
    errors: list[KafkaError] = []
    config = {k: v for k, v in kafka_config.items() if k not in ("logger", "error_cb", "on_delivery")}
    # Its own log lines would repeat every reconnect; error_cb carries what matters.
    admin = AdminClient({**config, "error_cb": errors.append, "log_level": 0})
    bootstrap = config.get("bootstrap.servers", "?")
    deadline = time.monotonic() + timeout
    while True:
        try:
            return admin.list_topics(timeout=min(1.0, max(0.1, deadline - time.monotonic())))
        except KafkaException as exc:
            last = exc.args[0]
        admin.poll(0)  # serves error_cb
        fatal = [e for e in errors if e.code() in _FATAL]
        if fatal:
            raise BrokerUnavailable(f"{_FATAL[fatal[-1].code()]} at Kafka {bootstrap}: {fatal[-1].str()}")
        if time.monotonic() >= deadline:
            raise BrokerUnavailable(
                f"cannot reach the Kafka broker at {bootstrap} within {timeout:g} s ({last.str()}); "
                "is it running? (sentiment-kafka start)"
            )
