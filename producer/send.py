"""``send_reviews``: the one way reviews get onto the input topic (CLI, demo, tests and benchmarks call it).

The producer is idempotent (no duplicates or reordering from its own retries),
compresses batches with lz4 and waits for every delivery outcome, so the
summary says exactly how many reviews the broker acknowledged. Before the first message
it asks the broker for metadata within a timeout, so an unreachable broker or a
missing topic is one clear error instead of a silent five-minute retry loop.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from tqdm import tqdm

from common import kafka
from common.broker_check import BrokerUnavailable, cluster_metadata
from common.contract import Review, encode_review
from common.labels import Label

log = logging.getLogger(__name__)

# Throughput-minded defaults over the project's (idempotence); anything in the caller's kafka_config (e.g. -X) wins.
SEND_DEFAULTS: dict[str, Any] = {
    "compression.type": "lz4",
    "linger.ms": 10,
    "batch.size": 1_000_000,
    "queue.buffering.max.messages": 500_000,
    "queue.buffering.max.kbytes": 512 * 1024,
    "message.timeout.ms": 60_000,  # a review the broker has not acknowledged by then counts as failed
}

LIBRDKAFKA_MESSAGE_MAX_BYTES = 1_000_000  # librdkafka's default message.max.bytes, when the config sets none
_PROGRESS_EVERY = 256  # messages between progress-bar updates (keeps the hot loop lean)
_FIRST_ERRORS_KEPT = 5


class ProducerError(RuntimeError):
    """The broker cannot be reached, the topic does not exist, or the producer hit a fatal error."""


@dataclass
class SendSummary:
    """What one ``send_reviews`` call achieved; ``sent`` counts broker acknowledgements, not attempts."""

    sent: int
    failed: int
    seconds: float
    first_errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Acknowledged reviews per second of the whole call (flush included)."""
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return f"sent {self.sent}, failed {self.failed} in {self.seconds:.2f} s ({self.rate:,.0f} reviews/s)"


class _Deliveries:
    """Delivery-report counter (librdkafka calls it from ``poll``/``flush`` on this thread).

    Only failures are reported (``delivery.report.only.error``): a Python call
    per acknowledged message would cost a fifth of the throughput, and once
    ``flush`` leaves nothing outstanding every other queued message was
    acknowledged, so ``sent = queued - failed - outstanding`` is exact.
    """

    def __init__(self) -> None:
        self.failed = 0
        self.first_errors: list[str] = []
        self.fatal: KafkaError | None = None

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            return
        key = (msg.key() or b"").decode("utf-8", "replace") or None
        self.fail(f"review {key}: {err.str()}")
        if err.fatal():
            self.fatal = err

    def fail(self, reason: str) -> None:
        """Count one review that will never be delivered, keeping the first few reasons."""
        self.failed += 1
        if len(self.first_errors) < _FIRST_ERRORS_KEPT:
            self.first_errors.append(reason)


class Pacer:
    """Steady pacing at ``rate`` messages/s against a monotonic schedule (message i is due at start + i/rate).

    A schedule rather than a sleep per message: sleep overshoot does not
    accumulate, and a stall (a full queue, a slow disk) is caught up without
    ever exceeding the long-run rate by more than one message.
    """

    def __init__(self, rate: float, producer: Producer) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self.producer = producer
        self.start = time.monotonic()
        self.count = 0

    def wait_turn(self, stop: threading.Event | None = None) -> bool:
        """Wait until the next message is due; False when ``stop`` was set meanwhile.

        It sleeps rather than waiting in ``poll(timeout)``: poll counts whole milliseconds, so at rates
        above 1,000/s its sub-millisecond timeouts returned at once and the wait spun a core.
        """
        due = self.start + self.count * self.interval
        self.count += 1
        while (delay := due - time.monotonic()) > 0:
            self.producer.poll(0)  # serve delivery reports while waiting
            if stop is None:
                time.sleep(min(delay, 0.1))
            elif stop.wait(min(delay, 0.1)):
                return False
        return True


def producer_config(kafka_config: Mapping[str, Any]) -> dict[str, Any]:
    """The producer's librdkafka configuration: the project's and SEND_DEFAULTS under the caller's."""
    return kafka.producer_config(kafka_config, SEND_DEFAULTS)


def connect(
    kafka_config: Mapping[str, Any], topic: str, timeout: float = 10.0, on_delivery: Callable | None = None
) -> Producer:
    """A producer whose broker answered metadata within ``timeout`` s and knows ``topic``."""
    fixed: dict[str, Any] = {"logger": logging.getLogger("producer.librdkafka")}
    if on_delivery is not None:
        fixed.update({"on_delivery": on_delivery, "delivery.report.only.error": True})
    config = kafka.producer_config(kafka_config, SEND_DEFAULTS, fixed)
    bootstrap = config.get("bootstrap.servers", "?")
    try:
        metadata = cluster_metadata(config, timeout)
    except BrokerUnavailable as exc:
        raise ProducerError(str(exc)) from None
    if not kafka.topic_exists(metadata, topic):
        raise ProducerError(
            f"topic {topic!r} does not exist on {bootstrap}; create it first (sentiment-kafka create-topics)"
        )
    return Producer(config)


def message_of(item: Any, with_labels: bool) -> tuple[bytes | None, bytes]:
    """Key and value of one review: a ``common.readers.Record`` (its id, else its line) or a dict with ``text`` and
    optional ``id``, ``title``, ``label`` (any spelling of common.labels.Label; one it does not know is left out)
    and ``ts`` (seconds since the epoch; now when absent, as is a Record's)."""
    if isinstance(item, dict):  # dict, not typing.Mapping: an ABC check per message costs more than encoding
        review_id = "" if item.get("id") is None else str(item["id"])
        label = _label(item.get("label")) if with_labels else None
        ts = item.get("ts")
        review = Review(review_id, item["text"], item.get("title"), label, time.time() if ts is None else ts)
    else:
        review_id = str(item.line) if item.id is None else item.id
        review = Review(review_id, item.text, true_label=item.label if with_labels else None, event_time=time.time())
    return (review_id.encode("utf-8") if review_id else None), encode_review(review)


def _label(value: Any) -> Label | None:
    try:
        return Label.parse(value)
    except ValueError:
        return None


def send_reviews(
    kafka_config: Mapping[str, Any],
    topic: str,
    records: Iterable[Any],
    *,
    rate: float | None = None,
    with_labels: bool = False,
    limit: int | None = None,
    progress: bool | None = False,
    connect_timeout: float = 10.0,
    flush_timeout: float = 60.0,
    stop: threading.Event | None = None,
) -> SendSummary:
    """Send ``records`` (``common.readers.Record`` or dicts, as :func:`message_of` reads them) to ``topic``, keyed
    by review id, and wait for every delivery report.

    ``rate`` (reviews/s; None or 0 = as fast as possible) paces sends steadily;
    ``limit`` caps the count; ``stop`` ends the send early (the demo's Ctrl-C),
    still flushing what was queued; ``progress`` None shows a bar only on a
    terminal. Raises ProducerError before sending anything when the broker or
    the topic is missing, or when the producer hits a fatal error.
    """
    deliveries = _Deliveries()
    producer = connect(kafka_config, topic, connect_timeout, deliveries)
    max_bytes = int(producer_config(kafka_config).get("message.max.bytes", LIBRDKAFKA_MESSAGE_MAX_BYTES))
    pacer = Pacer(rate, producer) if rate else None
    began = time.monotonic()
    with tqdm(
        total=limit,
        unit=" reviews",
        disable=None if progress is None else not progress,
        desc=f"-> {topic}",
        mininterval=0.5,
        smoothing=0.1,
    ) as bar:
        queued = 0
        try:
            for item in itertools.islice(records, limit):
                if stop is not None and stop.is_set():
                    break
                # Its turn first, then the message: encoding stamps the event time ("ts"), which must be when the
                # review is sent, not up to one pacing interval before (50 ms at 20/s, seen as latency downstream).
                if pacer is not None and not pacer.wait_turn(stop):
                    break
                key, value = message_of(item, with_labels)
                if not _produce(producer, topic, key, value):  # one oversized review fails alone; the send goes on
                    deliveries.fail(
                        f"review {_where(item)}: {len(value):,} bytes, over the producer's limit of "
                        f"{max_bytes:,} (message.max.bytes)"
                    )
                queued += 1  # attempted: sent + failed + still outstanding
                if queued % _PROGRESS_EVERY == 0:
                    bar.update(_PROGRESS_EVERY)
                    producer.poll(0)
                    if deliveries.fatal is not None:
                        break
        finally:  # a reader error (malformed input) still delivers what was queued before it
            bar.update(queued % _PROGRESS_EVERY)
            remaining = producer.flush(flush_timeout)
    seconds = time.monotonic() - began
    if deliveries.fatal is not None:
        raise ProducerError(f"the producer hit a fatal error: {deliveries.fatal.str()}")
    if remaining:
        deliveries.first_errors.append(f"{remaining} reviews still unacknowledged after {flush_timeout:g} s")
    summary = SendSummary(
        queued - deliveries.failed - remaining, deliveries.failed + remaining, seconds, deliveries.first_errors
    )
    log.info(
        "send finished",
        extra={
            "topic": topic,
            "sent": summary.sent,
            "failed": summary.failed,
            "seconds": round(seconds, 3),
            "reviews_per_s": round(summary.rate, 1),
        },
    )
    return summary


def _produce(producer: Producer, topic: str, key: bytes | None, value: bytes) -> bool:
    """Queue one message (waiting for room, ``kafka.produce``); False when librdkafka refuses it outright for its
    size (over message.max.bytes): it could never be delivered, and the next review should not pay for it.
    """
    try:
        kafka.produce(producer, topic, value, key)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
            raise
        return False
    return True


def _where(item: Any) -> str:
    """A review as a person finds it again: its id, and its line in the file when that is not the id."""
    review_id = item.get("id") if isinstance(item, dict) else (item.id or item.line)
    line = item.get("line") if isinstance(item, dict) else item.line
    return f"{review_id} (line {line})" if line is not None and str(line) != str(review_id) else str(review_id)
