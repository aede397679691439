"""Per-partition contiguous watermarks: which offset is safe to commit.

Outputs are acknowledged by the broker in any order across partitions (and a
failed one must hold its partition back), so an input offset may be committed
only when it and every offset before it on its partition is acknowledged. This
module tracks exactly that and nothing else; it knows no Kafka client.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

Partition = tuple[str, int]


class _PartitionTrack:
    __slots__ = ("pending", "done", "safe")

    def __init__(self) -> None:
        self.pending: deque[int] = deque()  # offsets handed out, in increasing order
        self.done: set[int] = set()  # acknowledged offsets not yet folded into ``safe``
        self.safe: int | None = None  # next offset to consume after everything acknowledged


class OffsetTracker:
    """Tracks in-flight offsets; ``committable()`` gives the offsets to commit (next offset to read)."""

    def __init__(self) -> None:
        self._parts: dict[Partition, _PartitionTrack] = {}
        self._committed: dict[Partition, int] = {}

    def track(self, partition: Partition, offset: int) -> None:
        """Record that ``offset`` is in flight (call in consumption order)."""
        track = self._parts.setdefault(partition, _PartitionTrack())
        if track.pending and offset <= track.pending[-1]:
            raise ValueError(f"offset {offset} of {partition} tracked out of order (after {track.pending[-1]})")
        track.pending.append(offset)

    def ack(self, partition: Partition, offset: int) -> None:
        """Record that ``offset``'s output is acknowledged; advance the watermark over the contiguous prefix."""
        track = self._parts.get(partition)
        if track is None:  # partition was lost or revoked meanwhile: nothing to commit for it
            return
        track.done.add(offset)
        while track.pending and track.pending[0] in track.done:
            head = track.pending.popleft()
            track.done.discard(head)
            track.safe = head + 1

    def committable(self) -> dict[Partition, int]:
        """Watermarks that moved since ``mark_committed``: {partition: next offset to read}."""
        return {p: t.safe for p, t in self._parts.items() if t.safe is not None and self._committed.get(p) != t.safe}

    def mark_committed(self, offsets: dict[Partition, int]) -> None:
        self._committed.update(offsets)

    def forget_committed(self, partitions: Iterable[Partition]) -> None:
        """A commit of these partitions failed: offer their watermarks again."""
        for partition in partitions:
            self._committed.pop(partition, None)

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Drop all state of partitions no longer ours (lost or revoked after their final commit)."""
        for partition in partitions:
            self._parts.pop(partition, None)
            self._committed.pop(partition, None)
