"""The one configuration surface: environment variables and CLI flags, CLI winning.

Every command declares which options it uses; each option has exactly one
environment name (``SENTIMENT_<NAME>``) and one flag (``--<name>``), so the
same words serve the CLI, the README and ``docker-compose.yml``. Any
librdkafka property passes through as ``SENTIMENT_KAFKA_<PROPERTY>`` (dots
as underscores) or ``-X property=value``. Bad values fail at start-up, before
anything is consumed.
"""

from __future__ import annotations

import argparse
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from common.paths import DEFAULT_MODEL_DIR

ENV_PREFIX = "SENTIMENT_"
KAFKA_ENV_PREFIX = "SENTIMENT_KAFKA_"

# librdkafka properties whose values must never be printed or logged.
_SECRET_WORDS = ("password", "secret", "key", "token", "credential")


class ConfigError(ValueError):
    """Raised for configuration that cannot work; commands print it and exit 2."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be zero or a positive integer")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError("must be a TCP port between 0 and 65535 (0 disables)")
    return value


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return text

    return parse


def _non_empty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text.strip()


@dataclass(frozen=True)
class Option:
    """One setting: its env name and flag derive from ``name``."""

    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTIONS: dict[str, Option] = {
    o.name: o
    for o in (
        Option("bootstrap_servers", _non_empty, "127.0.0.1:9092", "Kafka bootstrap servers"),
        Option("input_topic", _non_empty, "reviews", "topic the reviews arrive on"),
        Option("output_topic", _non_empty, "reviews.sentiment", "topic the scored reviews go to"),
        Option("dlq_topic", _non_empty, "reviews.dlq", "dead-letter topic for messages that cannot be scored"),
        Option("group_id", _non_empty, "sentiment-consumer", "consumer group of the scoring service"),
        Option("partitions", _positive_int, 4, "partitions of each topic that create-topics makes"),
        Option("model_dir", lambda t: Path(_non_empty(t)), DEFAULT_MODEL_DIR, "model artifact folder"),
        Option("metrics_port", _port, 8000, "port of /metrics, /healthz and /readyz (0 disables)"),
        # All interfaces by default: Prometheus in another container scrapes the consumer from outside.
        Option("metrics_host", _non_empty, "0.0.0.0", "address /metrics, /healthz and /readyz bind to (127.0.0.1: this machine only)"),
        Option("max_batch", _positive_int, 256, "most reviews scored in one model call"),
        Option("max_wait_ms", _non_negative_int, 50, "longest a review waits for its batch to fill"),
        Option("max_text_bytes", _positive_int, 100_000, "reviews whose text is longer go to the dead-letter topic"),
        Option("delivery", _choice("at-least-once", "exactly-once"), "at-least-once", "delivery guarantee"),
        Option("commit_interval_ms", _non_negative_int, 1000,
               "at-least-once: least time between offset commits (0: as soon as outputs are acknowledged); "
               "a crash scores this much again, nothing is lost"),
        # The host name is stable per container, so `docker compose --scale consumer=N` replicas never fence each other.
        Option("instance_id", _non_empty, socket.gethostname(), "stable id of this consumer instance (names its transactional.id)"),
        Option("dashboard_host", _non_empty, "127.0.0.1", "address the dashboard binds to"),
        Option("dashboard_port", _port, 8050, "port the dashboard listens on"),
        Option("dashboard_group_id", _non_empty, "sentiment-dashboard", "consumer group of the dashboard's live view"),
    )
}


@dataclass(frozen=True)
class Settings:
    """Resolved configuration of one command; only the options it declared are set."""

    values: Mapping[str, Any]
    kafka: Mapping[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(f"setting {name!r} was not declared by this command") from None

    def kafka_config(self, **overrides: Any) -> dict[str, Any]:
        """librdkafka configuration: bootstrap servers, the pass-through, then ``overrides``."""
        config: dict[str, Any] = {"bootstrap.servers": self.values["bootstrap_servers"]}
        config.update(self.kafka)
        config.update(overrides)
        return config

    def describe(self) -> dict[str, Any]:
        """The configuration as printed at start-up, secrets masked."""
        shown: dict[str, Any] = {k: str(v) if isinstance(v, Path) else v for k, v in self.values.items()}
        shown["kafka"] = {k: ("*****" if is_secret(k) else v) for k, v in sorted(self.kafka.items())}
        return shown


def is_secret(property_name: str) -> bool:
    """Whether a librdkafka property holds a secret (sasl.password, ssl.key.password, ...)."""
    lowered = property_name.lower()
    return any(word in lowered for word in _SECRET_WORDS) and not lowered.endswith((".location", ".mechanism", ".mechanisms"))


def add_options(parser: argparse.ArgumentParser, names: Iterable[str], kafka: bool = True) -> None:
    """Add the flags of ``names`` (and ``-X`` for the librdkafka pass-through) to ``parser``."""
    group = parser.add_argument_group("configuration (flag, else environment variable, else default)")
    for name in names:
        option = OPTIONS[name]
        group.add_argument(
            option.flag,
            dest=name,
            default=None,
            metavar=name.split("_")[-1].upper(),
            help=f"{option.help} [env {option.env}; default {option.default}]",
        )
    if kafka:
        group.add_argument(
            "-X",
            dest="kafka_properties",
            action="append",
            default=[],
            metavar="PROPERTY=VALUE",
            help=f"any librdkafka property, repeatable [env {KAFKA_ENV_PREFIX}<PROPERTY>, dots as underscores]",
        )


def resolve(
    names: Iterable[str], args: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Resolve ``names`` from CLI ``args``, then ``environ``, then defaults; raise ConfigError when invalid."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name in names:
        option = OPTIONS[name]
        raw = getattr(args, name, None) if args is not None else None
        source = option.flag
        if raw is None:
            raw, source = environ.get(option.env), option.env
        if raw is None:
            values[name] = option.default
            continue
        try:
            values[name] = option.parse(str(raw))
        except ValueError as exc:
            raise ConfigError(f"{source}={raw!r}: {exc}") from None
    kafka = kafka_properties_from_env(environ)
    for item in getattr(args, "kafka_properties", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"-X {item!r}: expected PROPERTY=VALUE")
        kafka[key.strip()] = value
    return Settings(values=values, kafka=kafka)


def kafka_properties_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """``SENTIMENT_KAFKA_SASL_MECHANISM=PLAIN`` becomes ``{"sasl.mechanism": "PLAIN"}``."""
    return {
        key[len(KAFKA_ENV_PREFIX):].lower().replace("_", "."): value
        for key, value in environ.items()
        if key.startswith(KAFKA_ENV_PREFIX) and len(key) > len(KAFKA_ENV_PREFIX)
    }


def known_env_names() -> set[str]:
    """Every environment variable the project reads (the pass-through is a prefix)."""
    return {option.env for option in OPTIONS.values()}
