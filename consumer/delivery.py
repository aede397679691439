"""How outputs reach Kafka and when input offsets are committed: one object per delivery mode.

Each mode owns its clients' settings, how it publishes, commits, handles a
rebalance and an abort (compare Quix Streams' ``Checkpoint``). ``MODES`` is the
one place a mode's name picks its class.

At-least-once: every output (or dead letter) is produced with its batch's
delivery callback; a batch's input offsets may be committed once all its
outputs are acknowledged, and so are all earlier batches' of the same
partition (``OffsetTracker``). Producing is pipelined, so the model never
waits for the broker.

Exactly-once: one Kafka transaction per commit interval, across as many
batches as it takes, holds their outputs, dead letters and input offsets
(``send_offsets_to_transaction``); readers with ``isolation.level=read_committed``
see each review once. A stable ``transactional.id`` per instance fences a
restarted instance's zombie. An aborted transaction rewinds each partition it
held to where the transaction began (the last committed offset), so everything
it produced is read and scored again; its own outputs are discarded by the abort.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from common import kafka
from consumer.metrics import ConsumerMetrics
from consumer.offsets import OffsetTracker, Partition
from consumer.scoring import OutRecord

if TYPE_CHECKING:
    from consumer.service import ServiceConfig

# Abortable transaction errors that no retry can cure: the user lacks an ACL (fixing it needs a person).
_DENIED = (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED)

log = logging.getLogger(__name__)

# Builds the consumer and the producer from their full configurations (the service adds its callbacks).
ClientFactory = Callable[[dict[str, Any], dict[str, Any]], tuple[Consumer, Producer]]


class DeliveryFailed(RuntimeError):
    """An output could not be delivered or a transaction hit a fatal error: stop, commit nothing beyond it."""


class Delivery(Protocol):
    """What the service loop asks of a delivery mode."""

    consumer: Consumer

    def publish(self, records: Sequence[OutRecord]) -> None:
        """Hand one batch's records to Kafka; they are committed with their input offsets later."""

    def service(self, wait: float = 0.0) -> set[Partition]:
        """Serve callbacks (waiting up to ``wait`` seconds for one) and commit what is due. Returns the partitions
        rewound to their last committed offset: what the caller holds of them will be read again."""

    def backlog(self) -> int:
        """Outputs handed to Kafka and not yet committed: the loop stops fetching while there are too many."""

    def on_revoke(self, partitions: Sequence[TopicPartition]) -> None:
        """Commit what was published of ``partitions`` before they move to another instance."""

    def on_lost(self, partitions: Sequence[TopicPartition]) -> set[Partition]:
        """Forget ``partitions`` without committing (another instance owns them); returns the partitions rewound."""

    def close(self, timeout: float) -> None:
        """Deliver what is in flight (at most ``timeout`` seconds) and commit it."""


def _count_delivered(metrics: ConsumerMetrics, records: Sequence[OutRecord], now: float) -> None:
    """Count delivered records: predictions by label, dead letters by reason, dropped optional fields by field,
    end-to-end latency."""
    predicted = Counter(r.label for r in records if r.label is not None)
    for label, count in predicted.items():
        metrics.predictions.labels(label=label).inc(count)
    dead = Counter(r.reason or "unknown" for r in records if r.label is None)
    for reason, count in dead.items():
        metrics.dead_letters.labels(reason=reason).inc(count)
    dropped = Counter(name for r in records for name in r.dropped)
    for name, count in dropped.items():
        metrics.dropped_fields.labels(field=name).inc(count)
    observe = metrics.end_to_end_latency.observe
    for record in records:
        if record.label is not None and record.event_time is not None:
            observe(max(0.0, now - record.event_time))


class _BatchAcks:
    """librdkafka's delivery callback for every output of one batch; tells its owner when all are acknowledged.

    Why one per batch rather than per output: a closure, an offset-tracker update and three metric calls per
    message were a sixth of the consumer's main thread at full load (py-spy); per message this is a decrement.
    """

    __slots__ = ("records", "last_offsets", "left", "on_done", "on_failure")

    def __init__(
        self, records: Sequence[OutRecord], on_done: Callable[[_BatchAcks], None], on_failure: Callable[[str], None]
    ) -> None:
        self.records = records
        self.last_offsets: dict[Partition, int] = {}  # the highest input offset of each input partition in the batch
        for record in records:
            self.last_offsets[(record.source.topic, record.source.partition)] = record.source.offset  # offsets rise
        self.left = len(records)
        self.on_done = on_done
        self.on_failure = on_failure

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            value = msg.value()
            source = next((r.source.ref() for r in self.records if r.value == value), "a message")
            self.on_failure(f"output for {source} not delivered: {err}")
            return
        self.left -= 1
        if self.left == 0:
            self.on_done(self)


class AtLeastOnce:
    """Pipelined produce; commit per-partition contiguous acknowledged watermarks, at most every commit interval.

    Why an interval (default 1 s): committing each time an acknowledgement moves a watermark sent the broker about
    a hundred offset commits a second, each a write to ``__consumer_offsets``; its garbage collections then stalled
    fetches for 100-200 ms (measured). A longer interval only widens what a crash scores twice; revoke and close
    still commit everything acknowledged at once.
    """

    name = "at-least-once"
    DEFAULT_COMMIT_INTERVAL_MS = 1000

    @staticmethod
    def consumer_settings(config: ServiceConfig) -> dict[str, Any]:
        # Cooperative rebalancing: partitions that stay keep flowing while others move.
        return {
            "partition.assignment.strategy": config.kafka.get("partition.assignment.strategy", "cooperative-sticky")
        }

    @staticmethod
    def producer_settings(config: ServiceConfig) -> dict[str, Any]:
        # Idempotence keeps retries from duplicating or reordering outputs; no message timeout, so a broker
        # outage delays outputs instead of failing them.
        return {"enable.idempotence": True, "acks": "all", "message.timeout.ms": 0, "linger.ms": 5}

    def __init__(
        self,
        config: ServiceConfig,
        metrics: ConsumerMetrics,
        clients: ClientFactory,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.consumer, self._producer = clients(
            {**config.consumer_config(), "on_commit": self._on_commit}, config.producer_config()
        )
        self._metrics = metrics
        self._clock = clock
        self._tracker = OffsetTracker()
        self._failure: str | None = None
        self._unacknowledged = 0
        self._commit_interval = config.commit_interval
        self._next_commit = 0.0  # time.monotonic() from which the next periodic commit may go
        self._timeout = config.shutdown_timeout  # how long a revoke waits for in-flight outputs

    def _on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """librdkafka's callback for asynchronous commits."""
        if err is None and not any(p.error for p in partitions):
            self._metrics.commits.inc()
            return
        self._metrics.commit_failures.inc()
        log.warning("offset commit failed; will retry", extra={"error": str(err or [p.error for p in partitions])})
        self._tracker.forget_committed((p.topic, p.partition) for p in partitions)

    def publish(self, records: Sequence[OutRecord]) -> None:
        if not records:
            return
        acks = _BatchAcks(records, self._delivered, self._fail)
        for partition, offset in acks.last_offsets.items():
            self._tracker.track(partition, offset)
        self._unacknowledged += len(records)
        for record in records:
            kafka.produce(self._producer, record.topic, record.value, record.key, record.headers, acks)

    def _delivered(self, acks: _BatchAcks) -> None:
        for partition, offset in acks.last_offsets.items():
            self._tracker.ack(partition, offset)
        self._unacknowledged -= len(acks.records)
        _count_delivered(self._metrics, acks.records, time.time())

    def _fail(self, reason: str) -> None:
        # Its offset stays uncommitted, so a restart scores it again; stop rather than skip it.
        self._failure = reason

    def backlog(self) -> int:
        return self._unacknowledged

    def service(self, wait: float = 0.0) -> set[Partition]:
        self._producer.poll(wait)
        if self._failure:
            raise DeliveryFailed(self._failure)
        now = self._clock()
        if now >= self._next_commit and self._commit(asynchronous=True):
            self._next_commit = now + self._commit_interval
        return set()  # nothing is ever rewound: an undelivered output stops the service instead

    def _commit(self, asynchronous: bool, only: set[Partition] | None = None) -> bool:
        """Commit the watermarks that moved (of ``only``, when given); False when none had."""
        offsets = self._tracker.committable()
        if only is not None:
            offsets = {p: o for p, o in offsets.items() if p in only}
        if not offsets:
            return False
        tps = [TopicPartition(topic, part, offset) for (topic, part), offset in offsets.items()]
        self._tracker.mark_committed(offsets)
        if asynchronous:
            self.consumer.commit(offsets=tps, asynchronous=True)
            return True
        try:
            result = self.consumer.commit(offsets=tps, asynchronous=False)
        except KafkaException as exc:
            self._metrics.commit_failures.inc()
            log.warning("offset commit failed", extra={"error": str(exc)})
            return True
        failed = [tp for tp in result or [] if tp.error]
        (self._metrics.commit_failures if failed else self._metrics.commits).inc()
        return True

    def _flush(self, timeout: float) -> None:
        left = self._producer.flush(timeout)
        if left:
            log.warning("outputs still undelivered; their offsets stay uncommitted", extra={"undelivered": left})

    def on_revoke(self, partitions: Sequence[TopicPartition]) -> None:
        self._flush(self._timeout)
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self._commit(asynchronous=False, only=revoked)
        self._tracker.forget(revoked)

    def on_lost(self, partitions: Sequence[TopicPartition]) -> set[Partition]:
        self._tracker.forget((tp.topic, tp.partition) for tp in partitions)
        return set()

    def close(self, timeout: float) -> None:
        self._flush(timeout)
        self._commit(asynchronous=False)


class _Transaction:
    """The open transaction: its records (counted once committed) and, per input partition, where it began (the
    offset an abort rewinds to) and the next offset to commit."""

    __slots__ = ("began", "error", "first", "next", "records")

    def __init__(self, began: float) -> None:
        self.began = began
        self.records: list[OutRecord] = []
        self.first: dict[Partition, int] = {}
        self.next: dict[Partition, int] = {}
        self.error: KafkaException | None = None  # a produce refused: the transaction can only abort

    def add(self, records: Sequence[OutRecord]) -> None:
        self.records.extend(records)
        for record in records:
            partition = (record.source.topic, record.source.partition)
            self.first.setdefault(partition, record.source.offset)
            self.next[partition] = record.source.offset + 1


class ExactlyOnce:
    """One transaction per commit interval (default 100 ms, as Kafka Streams), spanning batches: outputs, dead
    letters and input offsets commit or abort together.

    Why span batches: a transaction per batch costs the broker a commit round (markers on every partition written,
    an offset commit) for a few dozen reviews at low load, and throughput fell to 0.66-1.02x at-least-once.
    """

    name = "exactly-once"
    DEFAULT_COMMIT_INTERVAL_MS = 100

    @staticmethod
    def consumer_settings(config: ServiceConfig) -> dict[str, Any]:
        # Eager rebalancing: every partition is revoked (and its transaction committed in the still-valid
        # generation) before the group re-forms. With cooperative-sticky, transactions holding retained partitions
        # are committed mid-rebalance, fail with ILLEGAL_GENERATION, and librdkafka's next
        # send_offsets_to_transaction can then block forever (seen here; librdkafka issue 5456).
        return {
            "isolation.level": "read_committed",
            "partition.assignment.strategy": config.kafka.get("partition.assignment.strategy", "roundrobin"),
        }

    @staticmethod
    def producer_settings(config: ServiceConfig) -> dict[str, Any]:
        return {"transactional.id": config.transactional_id, "enable.idempotence": True, "acks": "all", "linger.ms": 5}

    def __init__(
        self,
        config: ServiceConfig,
        metrics: ConsumerMetrics,
        clients: ClientFactory,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.consumer, self._producer = clients(config.consumer_config(), config.producer_config())
        self._metrics = metrics
        self._clock = clock
        self._timeout = config.shutdown_timeout  # bounds each transactional call
        self._commit_interval = config.commit_interval
        self._open: _Transaction | None = None
        self._producer.init_transactions(self._timeout)

    def publish(self, records: Sequence[OutRecord]) -> None:
        if not records:
            return
        if self._open is None:
            self._producer.begin_transaction()
            self._open = _Transaction(self._clock())
        transaction = self._open
        transaction.add(records)
        if transaction.error is not None:
            return
        try:
            for record in records:
                kafka.produce(self._producer, record.topic, record.value, record.key, record.headers)
        except KafkaException as exc:  # the transaction is in an error state: the next commit aborts it
            transaction.error = exc

    def backlog(self) -> int:
        return 0 if self._open is None else len(self._open.records)

    def service(self, wait: float = 0.0) -> set[Partition]:
        self._producer.poll(wait)
        if self._open is None:
            return set()
        if self._open.error is None and self._clock() - self._open.began < self._commit_interval:
            return set()
        return self._commit()

    def _commit(self, releasing: AbstractSet[Partition] = frozenset()) -> set[Partition]:
        """Commit the open transaction; on an abortable error abort it and rewind (all but ``releasing``).
        Returns the partitions rewound."""
        transaction, self._open = self._open, None
        if transaction is None:
            return set()
        try:
            if transaction.error is not None:
                raise transaction.error
            offsets = [TopicPartition(t, p, o) for (t, p), o in transaction.next.items()]
            group = self.consumer.consumer_group_metadata()
            self._retrying(
                "send offsets", lambda: self._producer.send_offsets_to_transaction(offsets, group, self._timeout)
            )
            self._retrying("commit transaction", lambda: self._producer.commit_transaction(self._timeout))
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.fatal() or not error.txn_requires_abort():
                self._metrics.commit_failures.inc()
                raise DeliveryFailed(f"transaction failed: {error}") from exc
            rewound = self._abort(transaction, error, releasing)
            if error.code() in _DENIED:  # retrying cannot cure a missing ACL: stop, with nothing left pending
                raise DeliveryFailed(f"transaction failed: {error}") from exc
            return rewound
        self._metrics.commits.inc()
        _count_delivered(self._metrics, transaction.records, time.time())
        return set()

    def _abort(self, transaction: _Transaction, error: KafkaError, releasing: AbstractSet[Partition]) -> set[Partition]:
        """Abort (the broker discards what the transaction produced) and seek each partition it held back to
        where it began, so every review in it is read and scored again."""
        self._metrics.commit_failures.inc()
        log.warning(
            "transaction aborted; its reviews will be read again",
            extra={"error": str(error), "reviews": len(transaction.records)},
        )
        self._retrying("abort transaction", lambda: self._producer.abort_transaction(self._timeout))
        owned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()} - releasing
        rewound = set()
        for (topic, part), offset in transaction.first.items():
            if (topic, part) not in owned:  # its next owner resumes from the committed offset
                continue
            try:
                self.consumer.seek(TopicPartition(topic, part, offset))
            except KafkaException as exc:  # reading on past the aborted transaction would skip it: stop instead
                raise DeliveryFailed(f"cannot rewind {topic}:{part} to {offset} after an abort: {exc}") from exc
            rewound.add((topic, part))
        return rewound

    @staticmethod
    def _retrying(what: str, call: Callable[[], None]) -> None:
        """Repeat ``call`` while librdkafka says its error is retriable (a timeout, the broker away)."""
        while True:
            try:
                call()
                return
            except KafkaException as exc:
                if not exc.args[0].retriable():
                    raise
                log.warning(f"{what} did not complete; retrying", extra={"error": str(exc)})

    def on_revoke(self, partitions: Sequence[TopicPartition]) -> None:
        # The transaction must commit in the generation that owns its partitions, before they move.
        self._commit(releasing={(tp.topic, tp.partition) for tp in partitions})

    def on_lost(self, partitions: Sequence[TopicPartition]) -> set[Partition]:
        transaction, self._open = self._open, None
        if transaction is None:
            return set()
        # The group has moved on: the broker would refuse these offsets, so the transaction can only abort.
        error = KafkaError(KafkaError._STATE, "partitions lost: the group moved on")
        return self._abort(transaction, error, {(tp.topic, tp.partition) for tp in partitions})

    def close(self, timeout: float) -> None:
        self._commit()
        self._producer.flush(timeout)


MODES: dict[str, type[AtLeastOnce | ExactlyOnce]] = {mode.name: mode for mode in (AtLeastOnce, ExactlyOnce)}
