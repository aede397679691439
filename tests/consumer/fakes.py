"""Stand-ins for confluent-kafka's clients, for the consumer core's unit tests.

They model what the service relies on and nothing more: a partitioned input log
read from a position (seek, pause and resume move or hold it), a group's
committed offsets, and an output log in which a transaction's records become
visible only when it commits (what a read_committed reader sees), or, without
transactions, once the producer acknowledges them. Faults are injected by the
test: held acknowledgements, a refused produce, a refused commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

Partition = tuple[str, int]


class FakeMessage:
    """The calls the service and score_batch make of a confluent_kafka Message."""

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        value: bytes | None,
        key: bytes | None = None,
        error: KafkaError | None = None,
    ) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._value, self._key, self._error = value, key, error

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (0, 0)

    def error(self) -> KafkaError | None:
        return self._error


def abortable(reason: str = "injected") -> KafkaException:
    """An error librdkafka says the transaction must abort for (a retry of it cannot succeed)."""
    return KafkaException(KafkaError(KafkaError._STATE, reason, txn_requires_abort=True))


class FakeConsumer:
    """Owns every partition of ``log`` from its first poll; ``chunk`` caps what one consume() returns."""

    def __init__(self, log: dict[Partition, list[bytes]], chunk: int = 1_000_000) -> None:
        self.log = {
            p: [FakeMessage(p[0], p[1], i, v, key=f"{p[1]}-{i}".encode()) for i, v in enumerate(values)]
            for p, values in log.items()
        }
        self.chunk = chunk
        self.committed: dict[Partition, int] = {}
        self.position: dict[Partition, int] = {}
        self.paused: set[Partition] = set()
        self.pauses = self.resumes = 0
        self.seeks: list[tuple[Partition, int]] = []
        self.config: dict[str, Any] = {}
        self.tick: Callable[[], None] = lambda: None  # called on every poll/consume: the test's observation point
        self._callbacks: dict[str, Callable[..., None]] = {}
        self.subscriptions = 0
        self.closed = False

    # the calls ScoringService makes
    def subscribe(self, topics: list[str], **callbacks: Callable[..., None]) -> None:
        """A new member: its first poll is assigned every partition from the committed offsets."""
        self._callbacks = callbacks
        self.position = {}
        self.subscriptions += 1

    def _assign_on_first_call(self) -> None:
        if not self.position:
            self.position = {p: self.committed.get(p, 0) for p in self.log}
            self._callbacks["on_assign"](self, [TopicPartition(t, p) for t, p in self.log])

    def poll(self, timeout: float) -> FakeMessage | None:
        batch = self.consume(1, timeout)
        return batch[0] if batch else None

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        self._assign_on_first_call()
        self.tick()
        out: list[FakeMessage] = []
        limit = min(num_messages, self.chunk)
        while len(out) < limit and self.unread(unpaused_only=True):  # one message per partition in turn
            for partition in self.unread(unpaused_only=True)[: limit - len(out)]:
                out.append(self.log[partition][self.position[partition]])
                self.position[partition] += 1
        return out

    def unread(self, unpaused_only: bool = False) -> list[Partition]:
        """The owned partitions with messages after their position."""
        return [
            p for p, pos in self.position.items() if pos < len(self.log[p]) and not (unpaused_only and p in self.paused)
        ]

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.pauses += 1
        self.paused |= {(tp.topic, tp.partition) for tp in partitions}

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.resumes += 1
        self.paused -= {(tp.topic, tp.partition) for tp in partitions}

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self.position]

    def close(self) -> None:
        self.closed = True

    # the calls the delivery modes make
    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> list[TopicPartition]:
        self.committed.update({(tp.topic, tp.partition): tp.offset for tp in offsets})
        if asynchronous:
            self.config["on_commit"](None, offsets)
        return offsets

    def consumer_group_metadata(self) -> str:
        return "group-metadata"

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append(((tp.topic, tp.partition), tp.offset))
        self.position[(tp.topic, tp.partition)] = tp.offset

    def lose(self, partitions: list[Partition]) -> None:
        """The group moved on without us: librdkafka calls on_lost."""
        self._callbacks["on_lost"](self, [TopicPartition(t, p) for t, p in partitions])
        for partition in partitions:
            self.position.pop(partition, None)


class FakeProducer:
    """Outputs become ``visible`` when acknowledged (no transactions) or when their transaction commits."""

    def __init__(self, consumer: FakeConsumer, auto_ack: bool = True) -> None:
        self.consumer = consumer
        self.auto_ack = auto_ack  # False: acknowledgements wait until ack_all()
        self.config: dict[str, Any] = {}
        self.visible: list[bytes] = []  # output values a read_committed reader sees
        self.visible_keys: list[bytes | None] = []
        self.pending: list[tuple[bytes, bytes | None, Any]] = []  # (value, key, delivery callback) not acknowledged
        self.transaction: list[tuple[bytes, bytes | None]] | None = None
        self.offsets: list[TopicPartition] = []
        self.commits = self.aborts = self.begins = 0
        self.produced = 0
        self.fail_produce_at: int | None = None  # the produce call (counted from 1) that is refused, once
        self.fail_commits: list[KafkaException] = []  # raised by the next commit_transaction calls, in turn

    def produce(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Any = None, on_delivery: Any = None
    ) -> None:
        self.produced += 1
        if self.produced == self.fail_produce_at:
            raise abortable("produce refused")
        if self.transaction is not None:
            self.transaction.append((value, key))
        else:
            self.pending.append((value, key, on_delivery))

    def poll(self, timeout: float) -> int:
        if self.auto_ack:
            self.ack_all()
        return 0

    def ack_all(self) -> None:
        pending, self.pending = self.pending, []
        for value, key, callback in pending:
            self._show(value, key)
            callback(None, FakeMessage("out", 0, 0, value))

    def _show(self, value: bytes, key: bytes | None) -> None:
        self.visible.append(value)
        self.visible_keys.append(key)

    def flush(self, timeout: float) -> int:
        self.ack_all()
        return 0

    def init_transactions(self, timeout: float) -> None:
        pass

    def begin_transaction(self) -> None:
        assert self.transaction is None, "a transaction is already open"
        self.begins += 1
        self.transaction = []

    def send_offsets_to_transaction(self, offsets: list[TopicPartition], group: Any, timeout: float) -> None:
        assert self.transaction is not None
        self.offsets = offsets

    def commit_transaction(self, timeout: float) -> None:
        assert self.transaction is not None
        if self.fail_commits:
            raise self.fail_commits.pop(0)
        for value, key in self.transaction:
            self._show(value, key)
        self.consumer.committed.update({(tp.topic, tp.partition): tp.offset for tp in self.offsets})
        self.transaction, self.offsets = None, []
        self.commits += 1

    def abort_transaction(self, timeout: float) -> None:
        assert self.transaction is not None
        self.transaction, self.offsets = None, []
        self.aborts += 1


def clients_of(consumer: FakeConsumer, producer: FakeProducer):
    """A client factory (consumer.delivery.ClientFactory) handing out these two, keeping the configurations."""

    def build(consumer_config: dict[str, Any], producer_config: dict[str, Any]) -> tuple[Any, Any]:
        consumer.config, producer.config = consumer_config, producer_config
        return consumer, producer

    return build
