"""The stream service: consume reviews, score them in micro-batches, publish one result per review.

One thread, one loop, as in confluent-kafka-python's consume-transform-produce
example: ``consume()`` at most what the current batch has room for (memory
stays bounded whatever the input rate), let the delivery mode commit what is
due, score the batch when the batch policy says so, publish its records.
Rebalance callbacks run inside ``consume()``, so on revoke the batch in hand is
finished and committed before the partitions move; on lost it is dropped. The
delivery mode (``consumer.delivery``) owns everything that differs between
at-least-once and exactly-once.
``ScoringService`` runs in-process (tests, benchmarks) as well as behind
``sentiment-consumer``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from common import kafka
from common.broker_check import cluster_metadata
from common.config import OPTIONS, ConfigError
from common.connectivity import ConnectivityLog, LibrdkafkaLogger, is_connectivity_error
from common.kafka import missing_topics
from consumer.batcher import Batcher
from consumer.delivery import MODES, AtLeastOnce, ClientFactory, Delivery, DeliveryFailed, ExactlyOnce
from consumer.metrics import ASSIGNED, BROKER_REACHABLE, MODEL_LOADED, ConsumerMetrics
from consumer.offsets import Partition
from consumer.scoring import ScoredBatch, score_batch
from model.predictor import Scorer

log = logging.getLogger(__name__)

_IDLE_POLL_SECONDS = 0.5
# Unacknowledged outputs allowed before fetching pauses: several batches, and never so few that a healthy
# broker's acknowledgement round trip pauses a small-batch consumer (a pause drops librdkafka's prefetch).
_IN_FLIGHT_BATCHES = 4
_IN_FLIGHT_FLOOR = 2000
# librdkafka's defaults, overridable with -X / SENTIMENT_KAFKA_*: a small fetch queue bounds memory.
_CONSUMER_DEFAULTS: dict[str, Any] = {
    "auto.offset.reset": "earliest",
    "queued.max.messages.kbytes": 8192,
    "statistics.interval.ms": 2000,
}


@dataclass(frozen=True)
class ServiceConfig:
    """Everything the service needs, already validated (``consumer.cli`` builds it from common.config)."""

    kafka: dict[str, Any]  # bootstrap.servers and the librdkafka pass-through
    input_topic: str
    output_topic: str
    dlq_topic: str
    group_id: str
    max_batch: int = OPTIONS["max_batch"].default
    max_wait_ms: int = OPTIONS["max_wait_ms"].default
    batch_policy: str = OPTIONS["batch_policy"].default
    max_text_bytes: int = OPTIONS["max_text_bytes"].default
    delivery: str = OPTIONS["delivery"].default
    commit_interval_ms: int | None = OPTIONS["commit_interval_ms"].default  # None: the delivery mode's own
    instance_id: str = OPTIONS["instance_id"].default
    membership: str = OPTIONS["membership"].default
    shutdown_timeout: float = OPTIONS["shutdown_timeout"].default

    @property
    def mode(self) -> type[AtLeastOnce | ExactlyOnce]:
        """The delivery mode's class: its client settings, commits and rebalance handling."""
        return MODES[self.delivery]

    @property
    def commit_interval(self) -> float:
        """Seconds between commits: --commit-interval-ms, else the delivery mode's default."""
        ms = self.mode.DEFAULT_COMMIT_INTERVAL_MS if self.commit_interval_ms is None else self.commit_interval_ms
        return ms / 1000.0

    @property
    def transactional_id(self) -> str:
        """Stable per instance, so a restarted instance fences its predecessor's open transaction."""
        return f"sentiment-consumer.{self.group_id}.{self.instance_id}"

    def consumer_config(self) -> dict[str, Any]:
        defaults = {**_CONSUMER_DEFAULTS, **self._fetch_settings()}
        if self.membership == "static":
            # Kafka's static membership (KIP-345): a consumer restarted within session.timeout.ms under the same id
            # takes its partitions back without a rebalance, where a new member waited out the dead one's session.
            defaults["group.instance.id"] = self.instance_id
        return kafka.consumer_config(
            self.kafka, defaults, fixed={"group.id": self.group_id, **self.mode.consumer_settings(self)}
        )

    def _fetch_settings(self) -> dict[str, int]:
        """How long the broker may hold a fetch, following the batch policy.

        The broker answers a fetch once it has fetch.min.bytes, or when fetch.wait.max.ms passed.
        Adaptive batching scores whatever is there, so the broker must hand over the first byte at
        once (1 byte); the wait then only bounds an idle fetch. The fixed policy waits for its batch
        anyway: there a 64 KB minimum held within a quarter of max-wait-ms (so inside the batch's own
        wait) cut the broker's CPU by a fifth under a steady trickle (measured), where 1 byte answered
        hundreds of fetches a second.
        """
        if self.batch_policy == "adaptive":
            return {"fetch.min.bytes": 1, "fetch.wait.max.ms": 500}
        return {"fetch.min.bytes": 65_536, "fetch.wait.max.ms": min(500, max(10, self.max_wait_ms // 4))}

    def producer_config(self) -> dict[str, Any]:
        return kafka.producer_config(self.kafka, fixed=self.mode.producer_settings(self))


def kafka_clients(consumer_config: dict[str, Any], producer_config: dict[str, Any]) -> tuple[Consumer, Producer]:
    """The one place the service's Kafka clients are built; tests hand the delivery objects stand-ins instead."""
    return Consumer(consumer_config), Producer(producer_config)


def check_topics(kafka: dict[str, Any], topics: Sequence[str], timeout: float = 15.0) -> None:
    """Fail at start-up when a topic is missing (auto-creation is off: ConfigError), or the broker does not
    answer (BrokerUnavailable, transient) or refuses the login (BrokerRefused, a ConfigError)."""
    missing = missing_topics(cluster_metadata(kafka, timeout), topics)
    if missing:
        raise ConfigError(
            f"topic(s) {', '.join(missing)} do not exist on {kafka.get('bootstrap.servers')}; "
            "create them first (sentiment-kafka create-topics)"
        )


def check_poll_interval(consumer_config: dict[str, Any], batch_seconds: float, max_wait_ms: int) -> None:
    """Refuse a batch size that could outlast max.poll.interval.ms (the group would evict us silently)."""
    interval_ms = int(consumer_config.get("max.poll.interval.ms", 300_000))
    worst_ms = max_wait_ms + 3 * batch_seconds * 1000 + 5_000  # 3x the measured batch time, plus slack for commits
    if interval_ms < worst_ms:
        raise ConfigError(
            f"max.poll.interval.ms={interval_ms} is shorter than the worst-case batch time of about {worst_ms:.0f} ms "
            f"(a full batch took {batch_seconds * 1000:.0f} ms to "
            f"score); lower --max-batch or raise -X max.poll.interval.ms"
        )


class InstanceFenced(DeliveryFailed):
    """Another live consumer joined the group under this one's instance id: a configuration mistake."""


class SessionExpired(DeliveryFailed):
    """The group fenced this instance because the broker was unreachable for longer than its session.

    librdkafka ends the session on its side after session.timeout.ms without the coordinator, rejoins under a new
    member id, and a commit still carrying the old one is refused as FENCED_INSTANCE_ID: the same fatal error as a
    second live consumer with our id, though no other consumer exists. New clients rejoin, as a restart would.
    """


# librdkafka's fatal error for a static member replaced by a newer one with its group.instance.id, as raised through
# error_cb (_FENCED) or a consumed message (FENCED_INSTANCE_ID, the broker's code).
_FENCED_CODES = (KafkaError._FENCED, KafkaError.FENCED_INSTANCE_ID)


class ScoringService:
    """Consume -> micro-batch -> score -> produce -> commit, until ``stop()``."""

    def __init__(
        self,
        config: ServiceConfig,
        scorer: Callable[[], Scorer],
        metrics: ConsumerMetrics,
        shadow: Callable[[], Scorer | None] = lambda: None,
        clients: ClientFactory = kafka_clients,
    ) -> None:
        self.config = config
        self._scorer = scorer  # called before each batch: a live model reload swaps what it returns
        self._shadow = shadow  # the candidate scored beside it, if any (same reload rule)
        self.metrics = metrics
        self._clients = clients
        self._stop = threading.Event()
        self._fatal: DeliveryFailed | None = None
        self._failed = False
        self._batcher: Batcher[Message] = Batcher(
            config.max_batch, config.max_wait_ms, adaptive=config.batch_policy == "adaptive"
        )
        self._consumer: Consumer | None = None
        self._delivery: Delivery | None = None
        self._assigned: set[Partition] = set()
        self._serving_version: str | None = None
        self._max_in_flight = max(_IN_FLIGHT_BATCHES * config.max_batch, _IN_FLIGHT_FLOOR)
        # While outputs wait to be committed an idle poll lasts at most a commit interval, so they are on time.
        self._pending_poll = min(_IDLE_POLL_SECONDS, max(config.commit_interval, 0.01))
        self._paused = False
        self._connectivity = ConnectivityLog(log)  # an outage is one line, not 20 a second
        self.batches = 0
        self.last_progress = time.monotonic()  # each loop turn; a stall watchdog reads it

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, commit and return (safe from signal handlers and threads)."""
        self._stop.set()

    # -- life cycle ---------------------------------------------------------------------------

    def run(self) -> None:
        """Run until stopped; raises DeliveryFailed/KafkaException on fatal errors (offsets stay safe).

        A session lost to a broker outage is the one fatal error survived: the reviews in hand are dropped (their
        offsets are uncommitted, so the new clients read them again) and the service rejoins the group.
        """
        while True:
            try:
                self._run_session()
                return
            except SessionExpired as exc:
                log.warning("rejoining the group with new clients", extra={"reason": str(exc)})
                self._rejoin()

    def _rejoin(self) -> None:
        """Forget the fenced session: what it held in hand, its partitions and its outage."""
        self._fatal, self._failed, self._paused = None, False, False
        self._batcher.drop(lambda _message: False)
        self._assigned.clear()
        self._connectivity = ConnectivityLog(log)

    def _run_session(self) -> None:
        """One group session: new clients, subscribe, the loop, and a clean close (unless a fatal error ended it)."""
        cfg = self.config
        delivery: Delivery = cfg.mode(cfg, self.metrics, self._clients_with_callbacks)
        consumer = delivery.consumer
        self._consumer, self._delivery = consumer, delivery
        self.metrics.set_ready(MODEL_LOADED, True)
        self._note_model(self._scorer())
        consumer.subscribe(
            [cfg.input_topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        log.info("consuming", extra={"topic": cfg.input_topic, "group": cfg.group_id, "delivery": cfg.delivery})
        try:
            while not self._stop.is_set():
                self._turn()
            self._process(self._batcher.take())
            delivery.close(cfg.shutdown_timeout)
        except BaseException:
            self._failed = True  # close() below must not score or commit anything more
            raise
        finally:
            consumer.close()  # cooperative: revokes (and commits) what we still own, then leaves the group
            self.metrics.set_ready(ASSIGNED, False)
        log.info("stopped", extra={"batches": self.batches})

    def _clients_with_callbacks(
        self, consumer_config: dict[str, Any], producer_config: dict[str, Any]
    ) -> tuple[Consumer, Producer]:
        """The delivery mode's clients, reporting errors, statistics and librdkafka's log lines to this service."""
        return self._clients(
            {
                **consumer_config,
                "error_cb": self._on_client_error,
                "stats_cb": self._on_stats,
                "logger": LibrdkafkaLogger(log, self._connectivity),
            },
            {**producer_config, "error_cb": self._on_client_error, "logger": LibrdkafkaLogger(log, self._connectivity)},
        )

    def _turn(self) -> None:
        """One turn of the loop: fetch, commit what is due, score and publish a batch when it is ready."""
        assert self._delivery is not None
        self.last_progress = time.monotonic()
        if self._fatal:
            raise self._fatal
        throttled = self._throttled()
        self._fetch(throttled)
        # Outputs wait for the broker while throttled (an outage, a slow disk): wait a little for its callbacks.
        self._forget_in_hand(self._delivery.service(wait=0.1 if throttled else 0.0))
        if self._batcher.ready():
            self._process(self._batcher.take())

    def _fetch(self, throttled: bool) -> None:
        """Take into the batch what it has room for: nothing new while throttled, what is queued while it fills."""
        assert self._consumer is not None
        if throttled:
            self._take_in(self._consumer.consume(num_messages=self._batcher.room, timeout=0))
        elif len(self._batcher) == 0:
            # poll() returns the moment one message arrives, which starts the batch's max-wait clock;
            # consume() would hold it until the whole batch is there or the timeout passed.
            # What else is already queued joins it at once: a backlog still makes full batches. The first is in
            # hand before that call, whose rebalance callbacks must see it.
            assert self._delivery is not None
            first = self._consumer.poll(self._pending_poll if self._delivery.backlog() else _IDLE_POLL_SECONDS)
            if first is not None and self._take_in([first]) and self._batcher.room:
                self._take_in(self._consumer.consume(num_messages=self._batcher.room, timeout=0))
        else:
            self._take_in(
                self._consumer.consume(num_messages=self._batcher.room, timeout=self._batcher.wait_budget(idle=0))
            )

    def _take_in(self, messages: list[Message]) -> int:
        """Add the good messages to the batch (errors are reported); returns how many."""
        good = [m for m in messages if not self._is_error(m)]
        if good:
            self.metrics.consumed.inc(len(good))
            self._batcher.add(good, waited=_waited(good[0]) if len(self._batcher) == 0 else 0.0)
        return len(good)

    def _forget_in_hand(self, rewound: set[Partition]) -> None:
        """Drop the messages in hand of partitions rewound after an abort: they will be read again."""
        if rewound:
            dropped = self._batcher.drop(lambda m: (m.topic(), m.partition()) not in rewound)
            log.info(
                "partitions rewound", extra={"partitions": sorted(f"{t}:{p}" for t, p in rewound), "dropped": dropped}
            )

    def _throttled(self) -> bool:
        """Pause fetching while too many outputs await acknowledgement; resume once half have arrived.

        Bounds memory when the broker stalls, and keeps a broker outage from turning the whole
        prefetched backlog into duplicates (unacknowledged outputs cannot be committed).
        """
        assert self._consumer is not None and self._delivery is not None
        backlog = self._delivery.backlog()
        if not self._paused and backlog >= self._max_in_flight:
            self._paused = True
            self._consumer.pause(self._consumer.assignment())
            log.warning("outputs not acknowledged: fetching paused", extra={"unacknowledged": backlog})
        elif self._paused and backlog <= self._max_in_flight // 2:
            self._paused = False
            self._consumer.resume(self._consumer.assignment())
            log.info("outputs acknowledged again: fetching resumed", extra={"unacknowledged": backlog})
        return self._paused

    def _process(self, messages: list[Message]) -> None:
        if not messages:
            return
        assert self._delivery is not None
        scorer = self._scorer()  # once per batch: a reloaded model takes over between batches, never within one
        self._note_model(scorer)
        shadow = self._shadow()
        batch = score_batch(
            messages, scorer, self.config.output_topic, self.config.dlq_topic, self.config.max_text_bytes, shadow=shadow
        )
        self.metrics.batch_size.observe(len(messages))
        if batch.scored:
            self.metrics.inference_seconds.observe(batch.inference_seconds)
        self._count_models(batch, scorer.version, shadow)
        self._delivery.publish(batch.records)
        self.batches += 1

    def _count_models(self, batch: ScoredBatch, served: str, shadow: Scorer | None) -> None:
        """Drift signals of the served model; agreement of the shadow with it, and each one's accuracy where true
        labels flow."""
        m = self.metrics
        per_review, p_negative = m.review_tokens.labels(served), m.p_negative.labels(served, "served")
        tokens = oov = 0
        for assessment in batch.assessments:
            if assessment.verdict is not None:
                per_review.observe(assessment.tokens)
                tokens += assessment.tokens
                oov += assessment.oov
                p_negative.observe(assessment.verdict[1])
        m.tokens.labels(served).inc(tokens)
        m.oov_tokens.labels(served).inc(oov)
        if shadow is not None:
            if batch.shadow_error is not None:
                m.shadow_failures.labels(stage="score").inc()
            elif batch.shadow_seconds is not None:
                m.shadow_inference_seconds.observe(batch.shadow_seconds)
        for record in batch.records:
            if record.label is None:
                continue
            if record.shadow is not None:
                agreement = "agree" if record.shadow.label == record.label else "disagree"
                m.shadow_predictions.labels(served, record.shadow.model_version, agreement).inc()
                m.p_negative.labels(record.shadow.model_version, "shadow").observe(record.shadow.p_negative)
            if record.true_label is not None:
                m.labelled_predictions.labels(served, "served", _outcome(record.label, record.true_label)).inc()
                if record.shadow is not None:
                    outcome = _outcome(record.shadow.label, record.true_label)
                    m.labelled_predictions.labels(record.shadow.model_version, "shadow", outcome).inc()

    def _note_model(self, scorer: Scorer) -> None:
        if scorer.version != self._serving_version:
            self._serving_version = scorer.version
            self.metrics.model_info.info({"version": scorer.version})
            for statistic, value in reference_gauges(scorer.metadata).items():
                self.metrics.reference.labels(scorer.version, statistic).set(value)

    # -- callbacks (all run inside consume()/poll() on this thread) -----------------------------

    def _is_error(self, msg: Message) -> bool:
        err = msg.error()
        if err is None:
            return False
        if err.fatal() or err.code() == KafkaError._FATAL:  # a consumed _FATAL error does not say fatal() itself
            self._note_fatal(err, "fatal consumer error")
        elif is_connectivity_error(err):
            self._connectivity.lost(err.str())
        elif err.code() != KafkaError._PARTITION_EOF:
            log.warning("consumer error", extra={"error": str(err)})
        return True

    def _on_client_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._note_fatal(err, "fatal Kafka client error")
        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            self.metrics.set_ready(BROKER_REACHABLE, False)
        if not self._connectivity.client_error(err):
            log.warning("kafka client error", extra={"error": str(err)})

    def _note_fatal(self, err: KafkaError, what: str) -> None:
        """Keep the first fatal error for the loop to raise; a fenced instance id is the user's to fix."""
        if self._fatal is not None:
            return
        # librdkafka may report the fence as its generic _FATAL code, with the broker's reason in the text.
        fenced = err.code() in _FENCED_CODES or "group.instance.id" in str(err)
        if fenced and self._connectivity.longest_outage >= self._session_expiry_s():
            self._fatal = SessionExpired(
                f"instance id {self.config.instance_id!r} fenced after the broker was unreachable for "
                f"{self._connectivity.longest_outage:.0f} s, long enough for its session to expire: {err}"
            )
        elif fenced:
            self._fatal = InstanceFenced(
                f"another consumer joined group {self.config.group_id} with the same --instance-id "
                f"{self.config.instance_id!r} and took its place; each live consumer needs its own "
                "(--instance-id, SENTIMENT_INSTANCE_ID)"
            )
        else:
            self._fatal = DeliveryFailed(f"{what}: {err}")

    def _session_expiry_s(self) -> float:
        """The shortest outage after which librdkafka may have ended the session itself: the session timeout less
        one heartbeat interval (the last heartbeat that got through may be that old when the outage begins)."""
        config = self.config.consumer_config()
        session_ms = int(config.get("session.timeout.ms", 45_000))
        heartbeat_ms = int(config.get("heartbeat.interval.ms", 3_000))
        return max(session_ms - heartbeat_ms, 0) / 1000

    def _on_stats(self, stats_json: str) -> None:
        stats = json.loads(stats_json)
        self.metrics.update_lag(stats)
        up = any(b.get("state") == "UP" and b.get("nodeid", -1) >= 0 for b in stats.get("brokers", {}).values())
        self.metrics.set_ready(BROKER_REACHABLE, up)
        if up:
            self._connectivity.restored()

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned |= {(tp.topic, tp.partition) for tp in partitions}
        self.metrics.rebalances.labels(kind="assign").inc()
        self.metrics.set_ready(ASSIGNED, True)
        log.info("partitions assigned", extra={"partitions": _names(partitions), "owned": len(self._assigned)})

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._delivery is not None
        if self._failed:  # leaving after a fatal error: what is uncommitted is read again by the next owner
            self._release(partitions, kind="revoke")
            return
        self._process(self._batcher.take())  # finish the batch in hand, then commit it
        self._delivery.on_revoke(partitions)
        self._release(partitions, kind="revoke")

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._delivery is not None
        lost = {(tp.topic, tp.partition) for tp in partitions}
        dropped = self._batcher.drop(lambda m: (m.topic(), m.partition()) not in lost)
        self._forget_in_hand(self._delivery.on_lost(partitions))
        self._release(partitions, kind="lost", dropped=dropped)

    def _release(self, partitions: list[TopicPartition], kind: str, dropped: int = 0) -> None:
        if self._paused:  # librdkafka keeps a partition's pause flag: clear it, or a later re-assignment never fetches
            self._consumer.resume(partitions)  # type: ignore[union-attr]  # partitions are released only while the consumer exists
        for tp in partitions:
            self._assigned.discard((tp.topic, tp.partition))
            self.metrics.forget_partition(tp.topic, tp.partition)
        self.metrics.rebalances.labels(kind=kind).inc()
        log.info(
            f"partitions {kind}",
            extra={"partitions": _names(partitions), "owned": len(self._assigned), "dropped": dropped},
        )


def reference_gauges(metadata: Mapping[str, Any]) -> dict[str, float]:
    """The drift references of a model's metadata.json "reference" (written at training), as gauge values; empty
    for a model trained before it existed (its alerts then stay silent)."""
    reference = metadata.get("reference")
    if not isinstance(reference, Mapping):
        return {}
    out = {
        name: float(reference[name])
        for name in ("oov_share", "truncated_share", "positive_share")
        if isinstance(reference.get(name), (int, float))
    }
    histogram = reference.get("p_negative_histogram")
    if isinstance(histogram, Mapping):
        edges, shares = histogram.get("edges", []), histogram.get("shares", [])
        # The share of validation reviews the model was unsure of (0.3 < p <= 0.7): confidence collapse is measured
        # against it.
        out["unsure_share"] = float(
            sum(s for lo, hi, s in zip(edges, edges[1:], shares, strict=False) if lo >= 0.3 - 1e-9 and hi <= 0.7 + 1e-9)
        )
    return out


def _outcome(label: str, true_label: str) -> str:
    return "correct" if label == true_label else "wrong"


def _waited(msg: Message) -> float:
    """Seconds since the message was written (its Kafka timestamp); 0 when it has none or is from the future."""
    kind, millis = msg.timestamp()
    return max(0.0, time.time() - millis / 1000.0) if kind != 0 and millis > 0 else 0.0


def _names(partitions: list[TopicPartition]) -> list[str]:
    return [f"{tp.topic}:{tp.partition}" for tp in partitions]


def measure_batch_seconds(scorer: Scorer, max_batch: int) -> float:
    """Time one full batch of long reviews (also warms the model up before the first real batch)."""
    texts = ["this product stopped working after a week and support never answered " * 12] * max_batch
    started = time.perf_counter()
    scorer.judge(texts)
    return time.perf_counter() - started
