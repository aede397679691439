"""Bounded-memory aggregates of the scored reviews the live view has read.

The reader thread adds results; page callbacks take a ``snapshot()`` once a
second. Memory stays bounded however long the page runs: totals are plain
counters, the time series keeps one bucket per second for ``horizon_s``, and
the latest reviews and latencies are fixed-size rings.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from common.contract import Result
from common.labels import Label

MAX_VERSIONS = 20  # distinct model versions tracked; more are counted as "other"
KEPT_TEXT_CHARS = (
    500  # of each latest review (the consumer sends contract.SNIPPET_CHARS); a hostile writer cannot grow memory
)
KEPT_NAME_CHARS = 128  # of ids and model versions
OTHER_VERSION = "other"


@dataclass(frozen=True)
class BrokerState:
    """What the reader last learnt about the broker and the topic."""

    reachable: bool | None = None  # None until the first check
    topic_exists: bool | None = None
    error: str | None = None
    checked_at: float | None = None


@dataclass(frozen=True)
class ModelCounts:
    """One model version's live record, as served model or as shadow candidate."""

    judged: int = 0
    positive: int = 0
    labelled: int = 0  # judged reviews that carried a true label
    correct: int = 0
    tokens: int = 0  # words read, in results that say so
    oov_tokens: int = 0


@dataclass(frozen=True)
class ModelOps:
    """The served model beside its shadow candidate: counts per (version, role), agreement per minute, and the
    latest reviews on which they disagreed."""

    counts: dict[tuple[str, str], ModelCounts]  # (model version, "served" | "shadow") -> counts
    agreement: tuple[tuple[int, int, int], ...]  # (minute, agreed, compared), oldest first
    disagreements: tuple[Result, ...]  # newest first


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of the aggregates at ``taken_at`` (seconds since the epoch)."""

    taken_at: float
    started_at: float
    totals: dict[str, int]  # label -> count since the reader started
    unreadable: int  # values that do not follow the output contract
    buckets: tuple[tuple[int, int, int], ...]  # (second, positives, negatives) by scored time, oldest first
    latencies: tuple[float, ...]  # recent end-to-end latencies (event time -> scored), seconds
    latest: tuple[Result, ...]  # newest first
    confusion: dict[tuple[str, str], int]  # (true label, predicted label) -> count
    versions: dict[str, int]  # model version -> count
    broker: BrokerState = field(default_factory=BrokerState)
    lag: int | None = None  # records on the topic not yet read
    models: ModelOps = field(default_factory=lambda: ModelOps({}, (), ()))

    @property
    def records_read(self) -> int:
        return sum(self.totals.values()) + self.unreadable


class LiveStats:
    """Thread-safe aggregates: one writer (the reader thread), any number of snapshot readers."""

    def __init__(
        self,
        horizon_s: int = 3600,
        latest_n: int = 50,
        latency_n: int = 2000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._horizon = horizon_s
        self._started = clock()
        self._totals: Counter[str] = Counter({label: 0 for label in Label})
        self._unreadable = 0
        self._buckets: dict[int, list[int]] = {}
        self._latencies: deque[float] = deque(maxlen=latency_n)
        self._latest: deque[Result] = deque(maxlen=latest_n)
        self._confusion: Counter[tuple[str, str]] = Counter()
        self._versions: Counter[str] = Counter()
        self._broker = BrokerState()
        self._lag: int | None = None
        self._last_prune = 0
        self._model_counts: dict[tuple[str, str], list[int]] = {}
        self._agreement: dict[int, list[int]] = {}  # minute -> [agreed, compared]
        self._disagreements: deque[Result] = deque(maxlen=latest_n)

    def add(self, result: Result) -> None:
        """Count one scored review; ValueError (and nothing counted) when its times are not finite numbers."""
        if not math.isfinite(result.scored_at) or (
            result.event_time is not None and not math.isfinite(result.event_time)
        ):
            raise ValueError("a result's scored_at and event_time must be finite")
        result = result._replace(
            id=result.id[:KEPT_NAME_CHARS],
            model_version=result.model_version[:KEPT_NAME_CHARS],
            text=None if result.text is None else str(result.text)[:KEPT_TEXT_CHARS],
        )
        now = self._clock()
        with self._lock:
            self._totals[result.label] += 1
            second = int(result.scored_at)
            # Only recent, not-future results fit the time series; the totals count every one.
            if now - self._horizon <= second <= now + 60:
                bucket = self._buckets.setdefault(second, [0, 0])
                bucket[0 if result.label == Label.POSITIVE else 1] += 1
            if result.event_time is not None and result.scored_at >= result.event_time:
                self._latencies.append(result.scored_at - result.event_time)
            self._latest.append(result)
            if result.true_label is not None:
                self._confusion[(result.true_label, result.label)] += 1
            version = (
                result.model_version
                if result.model_version in self._versions or len(self._versions) < MAX_VERSIONS
                else OTHER_VERSION
            )
            self._versions[version] += 1
            self._count_model(version, "served", result.label, result)
            if result.shadow is not None:
                self._count_shadow(result, now)
            if int(now) != self._last_prune:
                self._prune(now)

    def _count_model(self, version: str, role: str, label: Label, result: Result) -> None:
        key = (version, role)
        if key not in self._model_counts and len(self._model_counts) >= 2 * MAX_VERSIONS:
            key = (OTHER_VERSION, role)
        counts = self._model_counts.setdefault(key, [0] * 6)
        counts[0] += 1
        counts[1] += label == Label.POSITIVE
        if result.true_label is not None:
            counts[2] += 1
            counts[3] += label == result.true_label
        if role == "served" and result.tokens is not None and result.oov_tokens is not None:
            counts[4] += result.tokens
            counts[5] += min(result.oov_tokens, result.tokens)

    def _count_shadow(self, result: Result, now: float) -> None:
        shadow = result.shadow
        assert shadow is not None
        self._count_model(shadow.model_version[:KEPT_NAME_CHARS], "shadow", shadow.label, result)
        minute = int(result.scored_at) // 60
        if now - self._horizon <= minute * 60 <= now + 60:
            bucket = self._agreement.setdefault(minute, [0, 0])
            bucket[0] += shadow.label == result.label
            bucket[1] += 1
        if shadow.label != result.label:
            self._disagreements.append(result)

    def add_unreadable(self) -> None:
        """Count one output value that does not follow the contract."""
        with self._lock:
            self._unreadable += 1

    def set_broker(self, state: BrokerState) -> None:
        with self._lock:
            self._broker = state

    def set_lag(self, lag: int | None) -> None:
        with self._lock:
            self._lag = lag

    def _prune(self, now: float) -> None:
        self._last_prune = int(now)
        oldest = now - self._horizon
        for second in [s for s in self._buckets if s < oldest]:
            del self._buckets[second]
        for minute in [m for m in self._agreement if m * 60 < oldest - 60]:
            del self._agreement[minute]

    def snapshot(self) -> Snapshot:
        """Copy the aggregates under the lock (cheap: at most ``horizon_s`` buckets)."""
        now = self._clock()
        with self._lock:
            self._prune(now)
            return Snapshot(
                taken_at=now,
                started_at=self._started,
                totals=dict(self._totals),
                unreadable=self._unreadable,
                buckets=tuple((s, b[0], b[1]) for s, b in sorted(self._buckets.items())),
                latencies=tuple(self._latencies),
                latest=tuple(reversed(self._latest)),
                confusion=dict(self._confusion),
                versions=dict(self._versions),
                broker=self._broker,
                lag=self._lag,
                models=ModelOps(
                    counts={key: ModelCounts(*values) for key, values in self._model_counts.items()},
                    agreement=tuple((m, a[0], a[1]) for m, a in sorted(self._agreement.items())),
                    disagreements=tuple(reversed(self._disagreements)),
                ),
            )
