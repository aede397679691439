"""How outputs reach Kafka and when input offsets are committed: at-least-once or exactly-once.

At-least-once: every output (or dead letter) is produced with its batch's
delivery callback; a batch's input offsets may be committed once all its
outputs are acknowledged, and so are all earlier batches' of the same
partition (``OffsetTracker``). Producing is pipelined, so the model never
waits for the broker.

Exactly-once: one Kafka transaction per micro-batch holds the batch's outputs,
dead letters and input offsets (``send_offsets_to_transaction``); readers with
``isolation.level=read_committed`` see each review once. A stable
``transactional.id`` per instance fences a restarted instance's zombie. An
aborted transaction rewinds the batch's partitions to the last committed
offsets, so the batch is read and scored again.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any, Callable, Protocol, Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from consumer.metrics import ConsumerMetrics
from consumer.offsets import OffsetTracker, Partition
from consumer.scoring import OutRecord

# Abortable transaction errors that no retry can cure: the user lacks an ACL (fixing it needs a person).
_DENIED = (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED)

log = logging.getLogger(__name__)


class DeliveryFailed(RuntimeError):
    """An output could not be delivered or a transaction hit a fatal error: stop, commit nothing beyond it."""


class Delivery(Protocol):
    def publish(self, records: Sequence[OutRecord]) -> None:
        """Hand one batch's records to Kafka (exactly-once: and commit them with their offsets)."""

    def on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """librdkafka's callback for asynchronous offset commits."""

    def service(self, wait: float = 0.0) -> None:
        """Serve callbacks (waiting up to ``wait`` seconds for one) and commit what became safe (every loop turn)."""

    def backlog(self) -> int:
        """Outputs handed to Kafka whose batch is not yet acknowledged in full."""

    def on_revoke(self, partitions: Sequence[TopicPartition]) -> None:
        """Finish in-flight work of ``partitions`` and commit it before they move to another instance."""

    def on_lost(self, partitions: Sequence[TopicPartition]) -> None:
        """Forget ``partitions`` without committing: another instance already owns them."""

    def close(self, timeout: float) -> None:
        """Deliver what is in flight (at most ``timeout`` seconds) and commit it."""


def _produce(producer: Producer, record: OutRecord, on_delivery: Callable[[KafkaError | None, Message], None] | None) -> None:
    """Produce one record, waiting for room when librdkafka's queue is full (bounded memory)."""
    while True:
        try:
            producer.produce(
                record.topic,
                value=record.value,
                key=record.key,
                headers=record.headers,  # type: ignore[arg-type]  # (str, bytes) pairs: list is invariant
                on_delivery=on_delivery,
            )
            return
        except BufferError:
            producer.poll(0.05)


def _count_delivered(metrics: ConsumerMetrics, records: Sequence[OutRecord], now: float) -> None:
    """Count one batch's delivered records: predictions by label, dead letters by reason, dropped optional fields
    by field, end-to-end latency."""
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

    def __init__(self, records: Sequence[OutRecord], on_done: Callable[["_BatchAcks"], None],
                 on_failure: Callable[[str], None]) -> None:
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
    """Pipelined produce; commit per-partition contiguous acknowledged watermarks, at most every ``commit_interval`` s.

    Why an interval: committing each time an acknowledgement moves a watermark sent the broker about a hundred
    offset commits a second, each a write to ``__consumer_offsets``; its garbage collections then stalled fetches
    for 100-200 ms (measured). A longer interval only widens what a crash scores twice; revoke and close still
    commit everything acknowledged at once.
    """

    def __init__(self, consumer: Consumer, producer: Producer, metrics: ConsumerMetrics, commit_interval: float = 0.0) -> None:
        self._consumer = consumer
        self._producer = producer
        self._metrics = metrics
        self._tracker = OffsetTracker()
        self._failure: str | None = None
        self._unacknowledged = 0
        self._commit_interval = commit_interval
        self._next_commit = 0.0  # time.monotonic() from which the next periodic commit may go

    @staticmethod
    def producer_config() -> dict[str, Any]:
        # Idempotence keeps retries from duplicating or reordering outputs; no message timeout, so a broker
        # outage delays outputs instead of failing them.
        return {"enable.idempotence": True, "acks": "all", "message.timeout.ms": 0, "linger.ms": 5}

    def on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """librdkafka's callback for asynchronous commits."""
        if err is None and not any(p.error for p in partitions):
            self._metrics.commits.inc()
            return
        self._metrics.commit_failures.inc()
        log.warning("offset commit failed; will retry", extra={"error": str(err or [p.error for p in partitions])})
        self._tracker.forget_committed((p.topic, p.partition) for p in partitions)

    def publish(self, records: Sequence[OutRecord]) -> None:
        if records:
            acks = _BatchAcks(records, self._delivered, self._fail)
            for partition, offset in acks.last_offsets.items():
                self._tracker.track(partition, offset)
            self._unacknowledged += len(records)
            for record in records:
                _produce(self._producer, record, acks)
        self.service()

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

    def service(self, wait: float = 0.0) -> None:
        self._producer.poll(wait)
        if self._failure:
            raise DeliveryFailed(self._failure)
        now = time.monotonic()
        if now >= self._next_commit and self._commit(asynchronous=True):
            self._next_commit = now + self._commit_interval

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
            self._consumer.commit(offsets=tps, asynchronous=True)
            return True
        try:
            result = self._consumer.commit(offsets=tps, asynchronous=False)
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
        self._flush(timeout=30.0)
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self._commit(asynchronous=False, only=revoked)
        self._tracker.forget(revoked)

    def on_lost(self, partitions: Sequence[TopicPartition]) -> None:
        self._tracker.forget((tp.topic, tp.partition) for tp in partitions)

    def close(self, timeout: float) -> None:
        self._flush(timeout)
        self._commit(asynchronous=False)


class ExactlyOnce:
    """One transaction per batch: outputs, dead letters and input offsets commit or abort together."""

    def __init__(self, consumer: Consumer, producer: Producer, metrics: ConsumerMetrics, timeout: float = 30.0) -> None:
        self._consumer = consumer
        self._producer = producer
        self._metrics = metrics
        self._timeout = timeout
        producer.init_transactions(timeout)

    @staticmethod
    def producer_config(transactional_id: str) -> dict[str, Any]:
        return {"transactional.id": transactional_id, "enable.idempotence": True, "acks": "all", "linger.ms": 5}

    def publish(self, records: Sequence[OutRecord]) -> None:
        if not records:
            return
        first: dict[Partition, int] = {}
        next_offsets: dict[Partition, int] = {}
        for record in records:
            partition = (record.source.topic, record.source.partition)
            first.setdefault(partition, record.source.offset)
            next_offsets[partition] = record.source.offset + 1
        try:
            self._producer.begin_transaction()
            for record in records:
                _produce(self._producer, record, None)
            offsets = [TopicPartition(t, p, o) for (t, p), o in next_offsets.items()]
            group = self._consumer.consumer_group_metadata()
            self._retrying("send offsets", lambda: self._producer.send_offsets_to_transaction(offsets, group, self._timeout))
            self._retrying("commit transaction", lambda: self._producer.commit_transaction(self._timeout))
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.fatal() or not error.txn_requires_abort():
                self._metrics.commit_failures.inc()
                raise DeliveryFailed(f"transaction failed: {error}") from exc
            self._abort_and_rewind(error, first)
            if error.code() in _DENIED:  # retrying cannot cure a missing ACL: stop, with nothing left pending
                raise DeliveryFailed(f"transaction failed: {error}") from exc
            return
        self._metrics.commits.inc()
        _count_delivered(self._metrics, records, time.time())

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

    def _abort_and_rewind(self, error: KafkaError, first: dict[Partition, int]) -> None:
        self._metrics.commit_failures.inc()
        log.warning("transaction aborted; the batch will be read again", extra={"error": str(error)})
        self._retrying("abort transaction", lambda: self._producer.abort_transaction(self._timeout))
        owned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
        for (topic, part), offset in first.items():
            if (topic, part) not in owned:  # its new owner resumes from the committed offset
                continue
            try:
                self._consumer.seek(TopicPartition(topic, part, offset))
            except KafkaException as exc:  # reading on past the aborted batch would skip it: stop instead
                raise DeliveryFailed(f"cannot rewind {topic}:{part} to {offset} after an abort: {exc}") from exc

    def on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """Offsets travel inside transactions here, never through the consumer's commit."""

    def backlog(self) -> int:
        return 0  # each batch's transaction is committed (all acknowledged) before the next poll

    def service(self, wait: float = 0.0) -> None:
        self._producer.poll(wait)

    def on_revoke(self, partitions: Sequence[TopicPartition]) -> None:
        """Nothing is in flight between batches: each batch's transaction is committed before the next poll."""

    def on_lost(self, partitions: Sequence[TopicPartition]) -> None:
        """An open transaction cannot exist here either; the next batch's offsets would be refused and aborted."""

    def close(self, timeout: float) -> None:
        self._producer.flush(timeout)
