"""Contiguous per-partition watermarks: only what is acknowledged, and everything before it, is committed."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from consumer.offsets import OffsetTracker

P0 = ("reviews", 0)
P1 = ("reviews", 1)


def test_out_of_order_acks_hold_the_watermark_back() -> None:
    tracker = OffsetTracker()
    for offset in (10, 11, 12):
        tracker.track(P0, offset)
    tracker.ack(P0, 12)
    tracker.ack(P0, 11)
    assert tracker.committable() == {}
    tracker.ack(P0, 10)
    assert tracker.committable() == {P0: 13}


def test_partitions_advance_independently_and_commits_are_not_repeated() -> None:
    tracker = OffsetTracker()
    tracker.track(P0, 0)
    tracker.track(P1, 5)
    tracker.track(P1, 6)
    tracker.ack(P1, 5)
    assert tracker.committable() == {P1: 6}
    tracker.mark_committed({P1: 6})
    assert tracker.committable() == {}
    tracker.forget_committed([P1])  # a failed commit is offered again
    assert tracker.committable() == {P1: 6}


def test_forgotten_partitions_ignore_late_acks() -> None:
    tracker = OffsetTracker()
    tracker.track(P0, 3)
    tracker.forget([P0])
    tracker.ack(P0, 3)
    assert tracker.committable() == {}
    tracker.track(P0, 1)  # a new owner's history starts afresh: an offset below the forgotten one is in order
    tracker.ack(P0, 1)
    assert tracker.committable() == {P0: 2}


@given(st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=60), st.randoms(use_true_random=False))
def test_watermark_is_one_past_the_longest_acknowledged_prefix(gaps: list[int], rnd: random.Random) -> None:
    offsets, offset = [], 0
    for gap in gaps:  # offsets may skip (compaction, transaction markers)
        offset += gap
        offsets.append(offset)
    tracker = OffsetTracker()
    for o in offsets:
        tracker.track(P0, o)
    acked = rnd.sample(offsets, rnd.randint(0, len(offsets)))
    for o in acked:
        tracker.ack(P0, o)
    prefix = 0
    while prefix < len(offsets) and offsets[prefix] in acked:
        prefix += 1
    expected = {P0: offsets[prefix - 1] + 1} if prefix else {}
    assert tracker.committable() == expected
