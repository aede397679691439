"""LiveStats: exact counts, bounded memory, thread safety."""

from __future__ import annotations

import threading

import pytest

from common.contract import Result
from common.labels import Label
from dashboard.aggregates import KEPT_NAME_CHARS, KEPT_TEXT_CHARS, MAX_VERSIONS, OTHER_VERSION, BrokerState, LiveStats


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def result(
    label: str,
    scored_at: float,
    *,
    true_label: str | None = None,
    event_time: float | None = None,
    version: str = "v1",
    rid: str = "r",
) -> Result:
    return Result(
        id=rid,
        label=Label(label),
        p_negative=0.9 if label == "negative" else 0.1,
        model_version=version,
        scored_at=scored_at,
        event_time=event_time,
        true_label=None if true_label is None else Label(true_label),
        text="some text",
    )


def test_counts_every_result_and_unreadable_value():
    clock = Clock()
    stats = LiveStats(clock=clock)
    for i in range(7):
        stats.add(result("positive", clock.now - i))
    for i in range(5):
        stats.add(result("negative", clock.now - i))
    stats.add_unreadable()
    snap = stats.snapshot()
    assert snap.totals == {"negative": 5, "positive": 7}
    assert snap.unreadable == 1
    assert snap.records_read == 13
    assert sum(p for _, p, _ in snap.buckets) == 7
    assert sum(n for _, _, n in snap.buckets) == 5


def test_time_series_keeps_only_the_horizon_but_totals_keep_everything():
    clock = Clock()
    stats = LiveStats(horizon_s=60, clock=clock)
    stats.add(result("positive", clock.now - 3600))  # an old result read from the beginning
    stats.add(result("positive", clock.now + 3600))  # a clock far in the future
    stats.add(result("negative", clock.now))
    assert stats.snapshot().totals == {"negative": 1, "positive": 2}
    assert [(s, p, n) for s, p, n in stats.snapshot().buckets] == [(int(clock.now), 0, 1)]
    clock.now += 61
    assert stats.snapshot().buckets == ()
    assert stats.snapshot().totals == {"negative": 1, "positive": 2}


def test_latest_and_latencies_are_bounded_rings_newest_first():
    clock = Clock()
    stats = LiveStats(latest_n=5, latency_n=3, clock=clock)
    for i in range(20):
        stats.add(result("positive", clock.now, event_time=clock.now - i, rid=f"r{i}"))
    stats.add(result("positive", clock.now, event_time=None, rid="no-event-time"))
    snap = stats.snapshot()
    assert [r.id for r in snap.latest] == ["no-event-time", "r19", "r18", "r17", "r16"]
    assert snap.latencies == (17.0, 18.0, 19.0)


def test_confusion_counts_only_results_with_a_true_label():
    clock = Clock()
    stats = LiveStats(clock=clock)
    stats.add(result("negative", clock.now, true_label="negative"))
    stats.add(result("negative", clock.now, true_label="positive"))
    stats.add(result("positive", clock.now, true_label="positive"))
    stats.add(result("positive", clock.now))
    assert stats.snapshot().confusion == {
        ("negative", "negative"): 1,
        ("positive", "negative"): 1,
        ("positive", "positive"): 1,
    }


@pytest.mark.parametrize("scored_at, event_time", [(float("inf"), None), (float("nan"), None), (1.0, float("-inf"))])
def test_results_with_impossible_times_are_refused_before_anything_is_counted(scored_at, event_time):
    stats = LiveStats()
    with pytest.raises(ValueError, match="finite"):
        stats.add(result("positive", scored_at, event_time=event_time))
    snap = stats.snapshot()
    assert snap.records_read == 0 and snap.latest == () and snap.buckets == ()


def test_kept_strings_are_bounded():
    stats = LiveStats()
    stats.add(
        Result(
            id="i" * 10_000,
            label=Label.NEGATIVE,
            p_negative=0.9,
            model_version="v" * 10_000,
            scored_at=1.0,
            text="t" * 1_000_000,
        )
    )
    [kept] = stats.snapshot().latest
    assert len(kept.text or "") == KEPT_TEXT_CHARS and len(kept.id) == len(kept.model_version) == KEPT_NAME_CHARS


def test_model_versions_are_capped():
    clock = Clock()
    stats = LiveStats(clock=clock)
    for i in range(MAX_VERSIONS + 10):
        stats.add(result("positive", clock.now, version=f"v{i}"))
    versions = stats.snapshot().versions
    assert len(versions) == MAX_VERSIONS + 1
    assert versions[OTHER_VERSION] == 10


def test_broker_state_and_lag_are_reported():
    stats = LiveStats()
    assert stats.snapshot().broker.reachable is None and stats.snapshot().lag is None
    stats.set_broker(BrokerState(False, None, "connection refused", 1.0))
    stats.set_lag(12)
    snap = stats.snapshot()
    assert snap.broker.reachable is False and snap.broker.error == "connection refused" and snap.lag == 12


def test_concurrent_writer_and_readers_lose_nothing():
    """Readers taking snapshots while two threads add see every snapshot whole (its totals, time series, versions and
    per-model counts agree) and never going back; their failures are collected and asserted here, where they fail
    the test."""
    stats = LiveStats()
    stop = threading.Event()
    failures: list[str] = []
    snapshots_taken = [0] * 3

    def read(reader: int) -> None:
        seen = 0
        while not stop.is_set():
            snap = stats.snapshot()
            negatives = snap.totals["negative"]
            parts = {
                "time series": sum(n for _, _, n in snap.buckets),
                "versions": snap.versions.get("v1", 0),
                "model counts": snap.models.counts[("v1", "served")].judged if negatives else 0,
            }
            failures.extend(
                f"{negatives} negatives, {value} in the {name}" for name, value in parts.items() if value != negatives
            )
            if negatives < seen:
                failures.append(f"the count went back from {seen} to {negatives}")
            seen = negatives
            snapshots_taken[reader] += 1

    readers = [threading.Thread(target=read, args=(i,)) for i in range(3)]
    for thread in readers:
        thread.start()

    def write() -> None:
        for _ in range(2000):
            stats.add(result("negative", stats.snapshot().taken_at))

    writers = [threading.Thread(target=write) for _ in range(2)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert not failures, f"{len(failures)} inconsistent snapshots, the first: {failures[:3]}"
    assert all(snapshots_taken), snapshots_taken
    assert stats.snapshot().totals["negative"] == 4000
