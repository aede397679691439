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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.contract import DEFAULT_MAX_TEXT_BYTES
from common.paths import DEFAULT_MODEL_DIR, MODELS_DIR
from common.readers import Reading, StarRule, Tolerance, check_encoding
from common.values import non_negative_float, non_negative_int, positive_float, positive_int

ENV_PREFIX = "SENTIMENT_"
KAFKA_ENV_PREFIX = "SENTIMENT_KAFKA_"

# librdkafka properties whose values must never be printed or logged.
_SECRET_WORDS = ("password", "secret", "key", "token", "credential")


class ConfigError(ValueError):
    """Raised for configuration that cannot work; commands print it and exit 2."""


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


def _switch(text: str) -> bool:
    word = text.strip().lower()
    if word not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
        raise ValueError("must be 1/true/yes/on or 0/false/no/off")
    return word in ("1", "true", "yes", "on")


def _delimiter(text: str) -> str:
    """One character; ``tab`` or ``\\t`` for a tab, which a shell or an env file cannot easily hold."""
    delimiter = "\t" if text.strip().lower() in ("tab", "\\t") else text
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise ValueError("must be one character other than a quote or a newline (tab: 'tab')")
    return delimiter


@dataclass(frozen=True)
class Option:
    """One setting: its env name and flag derive from ``name``."""

    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    switch: bool = False  # a flag without a value (its variable takes 1/0)

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
        Option("partitions", positive_int, 4, "partitions of each topic that create-topics makes"),
        Option("model_dir", lambda t: Path(_non_empty(t)), DEFAULT_MODEL_DIR, "model artifact folder"),
        Option(
            "models_dir",
            lambda t: Path(_non_empty(t)),
            MODELS_DIR,
            "folder of model artifacts and of the 'current' pointer that sentiment-model promotes and rolls back",
        ),
        Option(
            "shadow_model_dir",
            lambda t: Path(_non_empty(t)),
            None,
            'a candidate model scored beside the served one: its verdicts go into each output\'s "shadow" '
            "field and metrics, never into the label",
        ),
        Option("metrics_port", _port, 8000, "port of /metrics, /healthz and /readyz (0 disables)"),
        # All interfaces by default: Prometheus in another container scrapes the consumer from outside.
        Option(
            "metrics_host",
            _non_empty,
            "0.0.0.0",
            "address /metrics, /healthz and /readyz bind to (127.0.0.1: this machine only)",
        ),
        Option("max_batch", positive_int, 256, "most reviews scored in one model call"),
        Option(
            "max_wait_ms",
            non_negative_int,
            50,
            "longest a review waits for its batch (fixed policy: the batch fills until then; adaptive: an upper bound)",
        ),
        Option(
            "batch_policy",
            _choice("adaptive", "fixed"),
            "adaptive",
            "adaptive: score what arrived while the model was busy, at once; fixed: fill up to max-wait-ms",
        ),
        Option(
            "max_text_bytes",
            positive_int,
            DEFAULT_MAX_TEXT_BYTES,
            "reviews whose text is longer go to the dead-letter topic",
        ),
        Option(
            "engine",
            _choice("auto", "fused", "onnxruntime"),
            "auto",
            "scoring engine: fused (the project's kernel), onnxruntime, or auto (fused where it is built)",
        ),
        Option("delivery", _choice("at-least-once", "exactly-once"), "at-least-once", "delivery guarantee"),
        # No single default: each delivery mode has its own (consumer.delivery), named in the help.
        Option(
            "commit_interval_ms",
            non_negative_int,
            None,
            "least time between commits (0: every batch). At-least-once: offsets of acknowledged outputs, "
            "a crash scores this much again; exactly-once: one transaction spans the batches of this long "
            "[at-least-once 1000, exactly-once 100]",
        ),
        # The host name is stable per container, so `docker compose --scale consumer=N` replicas never fence each other.
        Option(
            "instance_id",
            _non_empty,
            socket.gethostname(),
            "stable id of this consumer instance, unique among the live consumers of its group (names its "
            "group.instance.id and transactional.id)",
        ),
        Option(
            "membership",
            _choice("static", "dynamic"),
            "static",
            "static: a consumer restarted with the same --instance-id takes its partitions back at once (Kafka's "
            "static membership); dynamic: the group rebalances on every join and leave",
        ),
        Option("threads", positive_int, None, "scoring worker threads [the CPUs available, at most 4]"),
        Option("shutdown_timeout", positive_float, 30.0, "seconds a graceful shutdown may take"),
        Option(
            "stall_timeout",
            non_negative_float,
            180.0,
            "exit (code 70) when the loop makes no progress this long, e.g. a Kafka call that never returns; "
            "a restart resumes from committed offsets (0 disables)",
        ),
        Option("dashboard_host", _non_empty, "127.0.0.1", "address the dashboard binds to"),
        Option("dashboard_port", _port, 8050, "port the dashboard listens on"),
        Option("dashboard_group_id", _non_empty, "sentiment-dashboard", "consumer group of the dashboard's live view"),
        Option(
            "dashboard_results_mb",
            positive_int,
            2048,
            "disk space for the labelled CSVs the dashboard keeps 30 minutes (MB, in $TMPDIR); new files wait while "
            "it is full",
        ),
        # How review files are read (sentiment-producer, sentiment-train, sentiment-evaluate).
        Option(
            "title_column",
            _non_empty,
            None,
            "CSV/JSONL column holding the review title; the text becomes 'Title: body' as in the Kaggle files",
        ),
        Option("stars", _switch, False, "the label column holds star ratings 1-5, mapped by --star-rule", switch=True),
        Option(
            "star_rule",
            StarRule.parse,
            StarRule(),
            "NEGATIVE:POSITIVE star ranges of --stars; other ratings are dropped and counted (Kaggle's rule)",
        ),
        Option("delimiter", _delimiter, None, "CSV delimiter (tab: 'tab') [guessed from the header among , ; tab |]"),
        Option(
            "encoding",
            check_encoding,
            "utf-8",
            "text encoding of the file, such as cp1252 or latin-1 (UTF-8 may start with a BOM)",
        ),
        Option(
            "max_malformed",
            Tolerance.parse,
            Tolerance(),
            "malformed lines tolerated: a share (1%, 0.01) or a count (0 = none)",
        ),
        Option("dry_run", _switch, False, "read and check the input, send nothing", switch=True),
    )
}


@dataclass(frozen=True)
class Settings:
    """Resolved configuration of one command; only the options it declared are set."""

    values: Mapping[str, Any]
    kafka: Mapping[str, str] = field(default_factory=dict)
    # Where each librdkafka property came from ("-X linger.ms" or "SENTIMENT_KAFKA_LINGER_MS"), for error messages.
    kafka_sources: Mapping[str, str] = field(default_factory=dict)

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


# The options that say how review files are read, shared by sentiment-producer, -train and -evaluate.
READING_OPTIONS = ("title_column", "stars", "star_rule", "delimiter", "encoding")


def reading(settings: Settings) -> Reading:
    """The resolved READING_OPTIONS as the readers take them."""
    return Reading(
        title_column=settings.title_column,
        stars=settings.star_rule if settings.stars else None,
        delimiter=settings.delimiter,
        encoding=settings.encoding,
    )


def is_secret(property_name: str) -> bool:
    """Whether a librdkafka property holds a secret (sasl.password, ssl.key.password, ...)."""
    lowered = property_name.lower()
    return any(word in lowered for word in _SECRET_WORDS) and not lowered.endswith(
        (".location", ".mechanism", ".mechanisms")
    )


def add_options(parser: argparse.ArgumentParser, names: Iterable[str], kafka: bool = True) -> None:
    """Add the flags of ``names`` (and ``-X`` for the librdkafka pass-through) to ``parser``."""
    group = parser.add_argument_group("configuration (flag, else environment variable, else default)")
    for name in names:
        option = OPTIONS[name]
        if option.switch:
            group.add_argument(
                option.flag, dest=name, action="store_const", const="1", default=None, help=_help(option)
            )
            continue
        group.add_argument(
            option.flag,
            dest=name,
            default=None,
            metavar=name.split("_")[-1].upper(),
            help=_help(option),
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


def _help(option: Option) -> str:
    """The flag's help: what it does, its variable and its default (argparse formats help with %)."""
    if option.switch:
        where = f"env {option.env}=1"
    elif option.default is None:
        where = f"env {option.env}"
    else:
        where = f"env {option.env}; default {option.default}"
    return f"{option.help} [{where}]".replace("%", "%%")


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
    sources = {_kafka_property(env): env for env in environ if _is_kafka_env(env)}
    for item in getattr(args, "kafka_properties", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"-X {item!r}: expected PROPERTY=VALUE")
        kafka[key.strip()] = value
        sources[key.strip()] = f"-X {key.strip()}"
    return Settings(values=values, kafka=kafka, kafka_sources=sources)


def kafka_properties_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """``SENTIMENT_KAFKA_SASL_MECHANISM=PLAIN`` becomes ``{"sasl.mechanism": "PLAIN"}``."""
    return {_kafka_property(key): value for key, value in environ.items() if _is_kafka_env(key)}


def _is_kafka_env(name: str) -> bool:
    return name.startswith(KAFKA_ENV_PREFIX) and len(name) > len(KAFKA_ENV_PREFIX)


def _kafka_property(env_name: str) -> str:
    return env_name[len(KAFKA_ENV_PREFIX) :].lower().replace("_", ".")


def known_env_names() -> set[str]:
    """Every environment variable the project reads (the pass-through is a prefix)."""
    return {option.env for option in OPTIONS.values()}
