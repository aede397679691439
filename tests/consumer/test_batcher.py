"""The micro-batcher's two knobs, with a fake clock."""

from __future__ import annotations

import pytest

from consumer.batcher import Batcher


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_batch_is_due_when_full() -> None:
    batcher: Batcher[int] = Batcher(max_batch=3, max_wait_ms=1000, clock=Clock())
    batcher.add([1, 2])
    assert not batcher.ready() and batcher.room == 1
    batcher.add([3])
    assert batcher.ready() and batcher.room == 0 and batcher.wait_budget(idle=5) == 0
    assert batcher.take() == [1, 2, 3] and len(batcher) == 0 and not batcher.ready()


def test_batch_is_due_when_its_oldest_item_waited_max_wait() -> None:
    clock = Clock()
    batcher: Batcher[str] = Batcher(max_batch=100, max_wait_ms=500, clock=clock)
    assert batcher.wait_budget(idle=2.0) == 2.0  # empty: wait for input as long as the caller likes
    batcher.add(["a"])
    clock.now += 0.25
    batcher.add(["b"])  # a later item does not restart the clock
    assert not batcher.ready()
    assert batcher.wait_budget(idle=2.0) == pytest.approx(0.25)
    clock.now += 0.25
    assert batcher.ready() and batcher.wait_budget(idle=2.0) == 0
    assert batcher.take() == ["a", "b"]


def test_zero_wait_scores_whatever_arrived() -> None:
    batcher: Batcher[int] = Batcher(max_batch=10, max_wait_ms=0, clock=Clock())
    batcher.add([7])
    assert batcher.ready()


def test_never_holds_more_than_max_batch() -> None:
    batcher: Batcher[int] = Batcher(max_batch=2, max_wait_ms=10, clock=Clock())
    with pytest.raises(OverflowError):
        batcher.add([1, 2, 3])


def test_drop_forgets_items_of_lost_partitions() -> None:
    batcher: Batcher[tuple[int, int]] = Batcher(max_batch=10, max_wait_ms=10, clock=Clock())
    batcher.add([(0, 1), (1, 1), (0, 2)])
    assert batcher.drop(lambda item: item[0] != 0) == 2
    assert batcher.take() == [(1, 1)]
    batcher.add([(0, 3)])
    assert batcher.drop(lambda item: False) == 1 and not batcher.ready() and batcher.wait_budget(idle=1.0) == 1.0


@pytest.mark.parametrize("max_batch, max_wait_ms", [(0, 10), (-1, 10), (5, -1)])
def test_rejects_impossible_knobs(max_batch: int, max_wait_ms: int) -> None:
    with pytest.raises(ValueError):
        Batcher(max_batch=max_batch, max_wait_ms=max_wait_ms)


def test_time_already_waited_upstream_counts_towards_max_wait_but_never_more() -> None:
    clock = Clock()
    batcher: Batcher[int] = Batcher(max_batch=10, max_wait_ms=500, clock=clock)
    batcher.add([1], waited=0.25)
    assert batcher.wait_budget(idle=2.0) == pytest.approx(0.25) and not batcher.ready()
    batcher.take()
    batcher.add([2], waited=60.0)  # a backlog: due at once
    assert batcher.ready()
    batcher.take()
    batcher.add([3], waited=-5.0)  # a producer clock ahead of ours: treated as just arrived
    assert batcher.wait_budget(idle=2.0) == pytest.approx(0.5)


def test_adaptive_batches_are_due_at_once_and_never_wait_for_more() -> None:
    clock = Clock()
    batcher: Batcher[int] = Batcher(max_batch=4, max_wait_ms=10_000, clock=clock, adaptive=True)
    assert not batcher.ready() and batcher.wait_budget(idle=0.5) == 0.5
    batcher.add([1])
    assert batcher.ready() and batcher.wait_budget(idle=0.5) == 0.0
    assert batcher.take() == [1]
    batcher.add([2, 3, 4, 5])
    assert batcher.room == 0 and batcher.take() == [2, 3, 4, 5]


def test_the_fixed_policy_holds_a_lone_item_until_max_wait() -> None:
    clock = Clock()
    batcher: Batcher[int] = Batcher(max_batch=4, max_wait_ms=10_000, clock=clock)
    batcher.add([1])
    assert not batcher.ready() and batcher.wait_budget(idle=0.5) == 10.0


def test_fetch_settings_follow_the_policy() -> None:
    """Adaptive batching must not let the broker hold a fetch for bytes that a trickle never brings."""
    from consumer.service import ServiceConfig

    def config(policy: str) -> dict:
        return ServiceConfig(
            {"bootstrap.servers": "x:1"}, "in", "out", "dlq", "g", max_wait_ms=40, batch_policy=policy
        ).consumer_config()

    assert config("adaptive")["fetch.min.bytes"] == 1
    assert config("fixed")["fetch.min.bytes"] > 1 and config("fixed")["fetch.wait.max.ms"] <= 40
