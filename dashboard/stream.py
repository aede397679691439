"""The live view's background reader: the output topic into ``LiveStats``.

It assigns itself every partition of the topic (so each open dashboard sees
all results, however many run with the same group id), reads committed
records only, and never commits: where it starts is the ``--start`` option,
not a stored offset. Every few seconds it asks the broker for the topic's
metadata and watermarks, which tells the page whether the broker is
reachable, whether the topic exists, and how far behind the reader is; when
the broker comes back the same consumer carries on where it stopped.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition

from common import kafka
from common.config import OPTIONS, ConfigError
from common.connectivity import ConnectivityLog, LibrdkafkaLogger
from common.contract import decode_result
from dashboard.aggregates import BrokerState, LiveStats

log = logging.getLogger(__name__)

_MINUTES = re.compile(r"^minutes:(\d+)$")


@dataclass(frozen=True)
class StartPosition:
    """Where the reader starts: the newest record, the oldest, or ``minutes`` ago."""

    kind: str  # "latest" | "beginning" | "minutes"
    minutes: int = 0

    def __str__(self) -> str:
        return f"minutes:{self.minutes}" if self.kind == "minutes" else self.kind


def parse_start(text: str) -> StartPosition:
    """Parse ``latest``, ``beginning`` or ``minutes:N``; raise ConfigError otherwise."""
    text = text.strip().lower()
    if text in ("latest", "beginning"):
        return StartPosition(text)
    match = _MINUTES.match(text)
    if match and int(match.group(1)) > 0:
        return StartPosition("minutes", int(match.group(1)))
    raise ConfigError(f"--start={text!r}: expected latest, beginning or minutes:N with N > 0")


class StreamReader:
    """A daemon thread that consumes ``topic`` into ``stats`` until ``stop()``."""

    def __init__(
        self,
        kafka_config: Mapping[str, Any],
        topic: str,
        stats: LiveStats,
        start: StartPosition = StartPosition("latest"),
        check_interval_s: float = 2.0,
    ) -> None:
        self._connectivity = ConnectivityLog(log)
        self._config = kafka.consumer_config(
            kafka_config,
            defaults={"group.id": OPTIONS["dashboard_group_id"].default, "client.id": "sentiment-dashboard"},
            fixed={
                "isolation.level": "read_committed",
                "enable.partition.eof": False,
                "error_cb": self._on_error,
                "logger": LibrdkafkaLogger(logging.getLogger("librdkafka"), self._connectivity),
            },
        )
        self._topic = topic
        self._stats = stats
        self._start = start
        self._check_interval = check_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dashboard-reader", daemon=True)
        self._assigned: set[int] = set()
        self._consumer: Consumer | None = None
        self._last_error: str | None = None  # the reason behind a failing metadata request, if librdkafka told us
        self._logged: tuple[str, float] = ("", 0.0)  # the error code last logged, and when

    def start(self) -> StreamReader:
        self._consumer = Consumer(self._config)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _on_error(self, error: KafkaError) -> None:
        """librdkafka reports connection trouble here: the page shows it at once; the log says when the broker went
        away and came back, and any other error once a minute per kind."""
        if error.code() in (
            KafkaError._ALL_BROKERS_DOWN,
            KafkaError._TRANSPORT,
            KafkaError._RESOLVE,
            KafkaError._AUTHENTICATION,
        ):
            self._stats.set_broker(BrokerState(False, None, error.str(), time.time()))
        now = time.monotonic()
        about_connectivity = self._connectivity.client_error(error)
        if not about_connectivity and (error.name() != self._logged[0] or now - self._logged[1] > 60):  # retries repeat
            log.warning("kafka error", extra={"error": error.str(), "code": error.name()})
            self._logged = (error.name(), now)
        if error.code() != KafkaError._ALL_BROKERS_DOWN:  # keep the cause, not the summary
            self._last_error = error.str()

    def _on_consume_error(self, error: KafkaError) -> None:
        """Errors on the fetch path: a missing permission is shown on the page, the rest logged."""
        log.warning("consume error", extra={"error": error.str(), "code": error.name()})
        if (
            error.code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED)
            or error.fatal()
        ):
            self._stats.set_broker(BrokerState(True, None, error.str(), time.time()))

    def _run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        next_check = 0.0
        try:
            while not self._stop.is_set():
                if time.monotonic() >= next_check:
                    self._check(consumer)
                    next_check = time.monotonic() + self._check_interval
                if not self._assigned:
                    consumer.poll(0.2)  # nothing to read yet; this serves error_cb (why the broker refuses us)
                    continue
                for message in consumer.consume(500, timeout=0.5):
                    if error := message.error():
                        self._on_consume_error(error)
                        continue
                    try:
                        self._stats.add(decode_result(message.value() or b""))
                    except (ValueError, TypeError, RecursionError):  # one bad record never stops the live view
                        self._stats.add_unreadable()
        except Exception:  # the thread must say why it died, the page shows it
            log.exception("live reader stopped")
            self._stats.set_broker(BrokerState(None, None, "the live reader stopped; see the server log", time.time()))
        finally:
            consumer.close()

    def _check(self, consumer: Consumer) -> None:
        """Broker reachable? Topic there? New partitions? How far behind?"""
        now = time.time()
        try:
            metadata = consumer.list_topics(self._topic, timeout=2.0)
        except KafkaException as exc:
            reason = exc.args[0].str() + (f"; last error: {self._last_error}" if self._last_error else "")
            self._stats.set_broker(BrokerState(False, None, reason, now))
            self._connectivity.lost(reason)
            return
        self._connectivity.restored()
        self._last_error = None
        topic = metadata.topics.get(self._topic)
        if topic is None or topic.error is not None:
            missing = topic is None or topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
            reason = "unknown topic" if topic is None else topic.error.str()
            # A topic that exists but may not be read (ACLs) is an error, not a topic still to be created.
            self._stats.set_broker(BrokerState(True, False if missing else None, reason, now))
            return
        self._stats.set_broker(BrokerState(True, True, None, now))
        new = sorted(set(topic.partitions) - self._assigned)
        if new:
            consumer.incremental_assign(self._start_offsets(consumer, new))
            self._assigned.update(new)
            log.info("reading", extra={"topic": self._topic, "partitions": new, "start": str(self._start)})
        self._stats.set_lag(self._lag(consumer))

    def _start_offsets(self, consumer: Consumer, partitions: list[int]) -> list[TopicPartition]:
        if self._start.kind == "beginning" or self._assigned:  # partitions added later: read all of them
            return [TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in partitions]
        if self._start.kind == "latest":
            return [TopicPartition(self._topic, p, OFFSET_END) for p in partitions]
        since_ms = int((time.time() - self._start.minutes * 60) * 1000)
        found = consumer.offsets_for_times([TopicPartition(self._topic, p, since_ms) for p in partitions], timeout=10.0)
        return [TopicPartition(self._topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END) for tp in found]

    def _lag(self, consumer: Consumer) -> int | None:
        """Records on the assigned partitions after the reader's position; None while unknown."""
        lag = 0
        try:
            positions = consumer.position([TopicPartition(self._topic, p) for p in sorted(self._assigned)])
            for tp in positions:
                _, high = consumer.get_watermark_offsets(tp, timeout=2.0, cached=False)
                if tp.offset < 0:  # nothing fetched yet on this partition
                    continue
                lag += max(0, high - tp.offset)
        except KafkaException:
            return None
        return lag
