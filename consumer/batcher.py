"""Micro-batching: when a batch of messages goes to the model.

Two policies:

- ``adaptive`` (the default, as Triton's and BentoML's dynamic batchers): a batch is whatever
  arrived while the previous one was being scored, up to ``max_batch``, scored at once. At low
  load a review waits only for the model; under load batches fill by themselves, because
  more arrives while the model is busy.
- ``fixed``: a batch fills until it is full or its oldest message has waited ``max_wait_ms``.
  At a trickle every review waits the whole ``max_wait_ms``.

Pure and clock-injected, so the knobs are unit-tested without Kafka. The service asks
``wait_budget()`` how long it may block in ``consume()`` and ``ready()`` whether to score now.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    """Holds at most ``max_batch`` items; a batch is due when full or ``max_wait_ms`` after its first item,
    or, with ``adaptive``, as soon as it holds anything (the caller adds all that is queued first)."""

    def __init__(
        self, max_batch: int, max_wait_ms: int, clock: Callable[[], float] = time.monotonic, adaptive: bool = False
    ) -> None:
        if max_batch <= 0:
            raise ValueError("max_batch must be positive")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must not be negative")
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.adaptive = adaptive
        self._clock = clock
        self._items: list[T] = []
        self._first_at: float | None = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def room(self) -> int:
        """How many more items fit: the service fetches no more than this, which bounds memory."""
        return self.max_batch - len(self._items)

    def add(self, items: Iterable[T], waited: float = 0.0) -> None:
        """Add ``items``; ``waited`` is how long the first of them already waited upstream (seconds),
        so a review that queued while the previous batch was scored is not made to wait a full round again."""
        for item in items:
            if len(self._items) >= self.max_batch:
                raise OverflowError(f"batch already holds {self.max_batch} items; take() it first")
            if not self._items:
                self._first_at = self._clock() - min(max(waited, 0.0), self.max_wait)
            self._items.append(item)

    def ready(self) -> bool:
        """Whether the batch should go to the model now."""
        if not self._items:
            return False
        if self.adaptive:
            return True
        return len(self._items) >= self.max_batch or self._clock() - self._first_at >= self.max_wait  # type: ignore[operator]  # _first_at is set while there are items

    def wait_budget(self, idle: float) -> float:
        """Seconds the caller may block waiting for more input: until the oldest item's deadline, else ``idle``."""
        if not self._items:
            return idle
        if self.adaptive or len(self._items) >= self.max_batch:
            return 0.0
        return max(0.0, self._first_at + self.max_wait - self._clock())  # type: ignore[operator]  # _first_at is set while there are items

    def take(self) -> list[T]:
        """Hand over everything held (possibly nothing) and start a new batch."""
        items, self._items, self._first_at = self._items, [], None
        return items

    def drop(self, keep: Callable[[T], bool]) -> int:
        """Forget the items ``keep`` rejects (messages of lost partitions); return how many went."""
        before = len(self._items)
        self._items = [item for item in self._items if keep(item)]
        if not self._items:
            self._first_at = None
        return before - len(self._items)
