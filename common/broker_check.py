"""Start-up checks of the Kafka side, failing fast with the real reason: the client configuration, then the cluster.

Why the configuration first: librdkafka checks properties only when a client is built, which in the services
happens after the model has loaded or half a file was sent, and then as a traceback. Why watch the error
callback: librdkafka retries a refused login as if the broker were merely slow, so a plain
``list_topics(timeout)`` turns a wrong password or an untrusted certificate into "broker unreachable" after
the whole timeout.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any, Literal

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ClusterMetadata

from common.cli import TransientError
from common.config import ConfigError, is_secret
from common.kafka import make_admin

ClientKind = Literal["producer", "consumer", "admin"]

_CLIENTS = {"producer": Producer, "consumer": Consumer, "admin": AdminClient}
_FATAL = {KafkaError._AUTHENTICATION: "authentication failed", KafkaError._SSL: "TLS handshake failed"}


class BrokerUnavailable(TransientError):
    """The cluster did not answer metadata requests; the message says why (exit 1: a restart may find it)."""


class BrokerRefused(ConfigError):
    """The cluster answered but refused this client's login or TLS settings (exit 2: the configuration is wrong)."""


def check_client_config(
    kafka_config: Mapping[str, Any], client: ClientKind, sources: Mapping[str, str] | None = None
) -> None:
    """Raise ConfigError when librdkafka refuses ``kafka_config`` for a ``client``, naming the flag or variable
    (``sources``: property -> "-X name" or "SENTIMENT_KAFKA_NAME") that set the culprit.

    A throwaway client built without bootstrap servers checks every name, value and combination (a CA file
    that does not load, too) and never connects.
    """
    try:
        _build(client, {k: v for k, v in kafka_config.items() if k != "bootstrap.servers"})
    except (KafkaException, ValueError, TypeError) as exc:
        reason = exc.args[0].str() if exc.args and isinstance(exc.args[0], KafkaError) else str(exc)
        raise ConfigError(_refusal(reason, kafka_config, client, sources or {})) from None


def _build(client: ClientKind, config: Mapping[str, Any]) -> None:
    """Build and drop one client of ``client``'s kind (its construction is librdkafka's whole check)."""
    probe = {**config, "log_level": 0}  # without brokers it would warn that it cannot connect
    if client == "consumer":
        probe.setdefault("group.id", "config-check")
    handle = _CLIENTS[client](probe)
    if client == "consumer":
        handle.close()


def _refusal(reason: str, kafka_config: Mapping[str, Any], client: ClientKind, sources: Mapping[str, str]) -> str:
    """One line naming the property the user set that librdkafka refused, else librdkafka's reason alone.

    The reason names the culprit ("no.such.property", "ssl.ca.location failed"), except for aliases
    ("linger.ms" is refused as "queue.buffering.max.ms"): those are found by trying each property alone.
    """
    given = [name for name in sources if name in kafka_config]
    named = [name for name in given if re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", reason)]
    culprit = next(iter(named), None) or next(
        (name for name in given if _refused_alone(client, name, kafka_config[name])), None
    )
    if culprit is None:
        return f"the Kafka client configuration is refused: {reason}"
    value = "*****" if is_secret(culprit) else kafka_config[culprit]
    return f"{sources[culprit]}={value!r}: {reason}"


def _refused_alone(client: ClientKind, name: str, value: Any) -> bool:
    try:
        _build(client, {name: value})
    except (KafkaException, ValueError, TypeError):
        return True
    return False


def cluster_metadata(kafka_config: Mapping[str, Any], timeout: float) -> ClusterMetadata:
    """The cluster's metadata, or BrokerRefused / BrokerUnavailable
    as soon as the reason is known (else after ``timeout`` s).
    """
    errors: list[KafkaError] = []
    config = {k: v for k, v in kafka_config.items() if k not in ("logger", "error_cb", "on_delivery")}
    # Its own log lines would repeat every reconnect; error_cb carries what matters.
    admin = make_admin(config, {"error_cb": errors.append, "log_level": 0})
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
            raise BrokerRefused(f"{_FATAL[fatal[-1].code()]} at Kafka {bootstrap}: {fatal[-1].str()}")
        if time.monotonic() >= deadline:
            raise BrokerUnavailable(
                f"cannot reach the Kafka broker at {bootstrap} within {timeout:g} s ({last.str()}); "
                "is it running? (sentiment-kafka start)"
            )
