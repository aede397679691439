"""Kafka connection trouble, logged by connectivity state rather than by error.

A client that lost its broker retries several times a second, and each retry is reported twice: librdkafka's own
log line (facility FAIL) and the error callback, whose codes alternate (_TRANSPORT, _ALL_BROKERS_DOWN). Limiting
per code still wrote about 20 lines a second, 470 MB a day. Here the state decides: one line when the broker goes
away, one when it is back (how long it was away, how many reports were held back), and a reminder every
``remind_s`` while it stays away.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError

# Error codes that say the broker cannot be reached (not that it refused us: those are logged as they come).
CONNECTIVITY_CODES = frozenset(
    {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE, KafkaError._TIMED_OUT}
)
# librdkafka's log facility for a broker connection that failed or was lost.
CONNECTIVITY_FACILITY = "FAIL"
REMIND_SECONDS = 60.0


def is_connectivity_error(error: KafkaError) -> bool:
    return error.code() in CONNECTIVITY_CODES


class ConnectivityLog:
    """The broker's reachability as one state, logged on each change and reminded while it is lost."""

    def __init__(
        self, log: logging.Logger, remind_s: float = REMIND_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._log = log
        self._remind = remind_s
        self._clock = clock
        self._lock = threading.Lock()  # librdkafka's callbacks and the service's own checks may come from two threads
        self._down_since: float | None = None
        self._longest = 0.0  # the longest outage that has ended
        self._last_line = 0.0
        self._held_back = 0

    @property
    def down(self) -> bool:
        return self._down_since is not None

    @property
    def longest_outage(self) -> float:
        """Seconds of the longest outage so far, the current one counted up to now (0 when there was none)."""
        since = self._down_since
        return max(self._longest, 0.0 if since is None else self._clock() - since)

    def lost(self, reason: str) -> None:
        """A report that the broker cannot be reached: logged when it starts the outage or is due as a reminder."""
        with self._lock:
            now = self._clock()
            if self._down_since is None:
                self._down_since, self._last_line, self._held_back = now, now, 0
                self._log.warning("Kafka unreachable; retrying (further reports held back)", extra={"reason": reason})
            elif now - self._last_line >= self._remind:
                self._log.warning(
                    "Kafka still unreachable",
                    extra={
                        "reason": reason,
                        "down_seconds": round(now - self._down_since),
                        "reports_held_back": self._held_back,
                    },
                )
                self._last_line, self._held_back = now, 0
            else:
                self._held_back += 1

    def restored(self) -> None:
        """The broker answered: ends an outage with one line, and costs nothing otherwise."""
        if self._down_since is None:  # the common case, read without the lock
            return
        with self._lock:
            if self._down_since is None:
                return
            down_for = self._clock() - self._down_since
            self._longest = max(self._longest, down_for)
            self._log.info(
                "Kafka reachable again",
                extra={"down_seconds": round(down_for, 1), "reports_held_back": self._held_back},
            )
            self._down_since = None

    def client_error(self, error: KafkaError) -> bool:
        """An error callback's report: True when it was about connectivity (and so handled here)."""
        if not is_connectivity_error(error):
            return False
        self.lost(error.str())
        return True


class LibrdkafkaLogger:
    """What confluent-kafka's ``logger`` setting calls with librdkafka's own lines (as JSON logs, not raw stderr):
    connection failures go through the connectivity state, every other line to ``target`` as it is."""

    def __init__(self, target: logging.Logger, connectivity: ConnectivityLog) -> None:
        self._target = target
        self._connectivity = connectivity

    def log(self, level: int, msg: str, *args: Any) -> None:
        # confluent-kafka calls log(level, "%s [%s] %s", facility, client name, text)
        if args and args[0] == CONNECTIVITY_FACILITY:
            self._connectivity.lost(str(args[-1]).split("]: ", 1)[-1])  # without librdkafka's thread name
            return
        self._target.log(level, msg, *args)
