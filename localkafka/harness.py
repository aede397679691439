"""What tests and benchmarks share to drive the pipeline on a broker: feed and read topics, run
``sentiment-consumer``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from common import kafka
from common.paths import PROJECT_ROOT

CONSUMER_BIN = Path(sys.executable).parent / "sentiment-consumer"


@dataclass(frozen=True)
class Topics:
    """One test's own topics and consumer group."""

    bootstrap: str
    input: str
    output: str
    dlq: str
    group: str

    def flags(self) -> list[str]:
        return [
            "--bootstrap-servers",
            self.bootstrap,
            "--input-topic",
            self.input,
            "--output-topic",
            self.output,
            "--dlq-topic",
            self.dlq,
            "--group-id",
            self.group,
        ]


def review_items(
    reviews: Sequence, count: int, prefix: str = "r", words: int | None = None
) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs of real reviews (common.readers.Record) with ids and true labels, as the producer sends them;
    ``words`` keeps only the first few words (fast to score, for tests about delivery rather than the model)."""
    from common.contract import Review, encode_review

    items = []
    for i in range(count):
        record = reviews[i % len(reviews)]
        text = " ".join(record.text.split()[:words]) if words else record.text
        review_id = f"{prefix}{i}"
        items.append(
            (
                review_id.encode(),
                encode_review(Review(review_id, text, true_label=record.label, event_time=time.time())),
            )
        )
    return items


def produce(bootstrap: str, topic: str, items: Sequence[tuple[bytes | None, bytes | None]]) -> None:
    """Put (key, value) pairs on ``topic`` and wait until the broker has them all."""
    producer = kafka.make_producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    failures: list[str] = []

    def report(err, _msg) -> None:
        if err is not None:
            failures.append(str(err))

    for key, value in items:
        kafka.produce(producer, topic, value, key, on_delivery=report)
    assert producer.flush(60) == 0 and not failures, failures[:3]


def produce_steadily(
    bootstrap: str,
    topic: str,
    items: Sequence[tuple[bytes | None, bytes | None]],
    per_second: int,
    after_each: Callable[[int], None] = lambda sent: None,
) -> None:
    """Put (key, value) pairs on ``topic`` at ``per_second``, a tenth of a second's worth at a time, calling
    ``after_each(sent so far)`` after each; returns once the broker has them all."""
    producer = kafka.make_producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    chunk = max(1, per_second // 10)
    started = time.monotonic()
    for n, first in enumerate(range(0, len(items), chunk), start=1):
        for key, value in items[first : first + chunk]:
            kafka.produce(producer, topic, value, key)
        producer.poll(0)
        after_each(min(first + chunk, len(items)))
        time.sleep(max(0.0, started + n * 0.1 - time.monotonic()))
    assert producer.flush(60) == 0


def read_topic(
    bootstrap: str, topic: str, at_least: int = 0, timeout: float = 120.0, ids: set[str] | None = None
) -> list[Message]:
    """Every committed message of ``topic`` (read_committed), waiting until there are ``at_least``
    and, for an output topic, until every review id in ``ids`` has its output (duplicates do not count)."""
    consumer = kafka.make_consumer(
        {"bootstrap.servers": bootstrap},
        fixed={
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "enable.partition.eof": False,
        },
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        tps = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions]
        consumer.assign(tps)
        messages: list[Message] = []
        seen: set[str] = set()
        deadline = time.monotonic() + timeout
        while True:
            ends = {tp.partition: _end_offset(consumer, tp, deadline) for tp in tps}
            while time.monotonic() < deadline:
                positions = {tp.partition: tp.offset for tp in consumer.position(tps)}
                if all(positions[p] >= end or end == 0 for p, end in ends.items()):
                    break
                batch = [m for m in consumer.consume(1000, 0.5) if m.error() is None]
                messages += batch
                if ids is not None:
                    seen.update(json.loads(m.value() or b"")["id"] for m in batch)
            if (len(messages) >= at_least and (ids is None or ids <= seen)) or time.monotonic() >= deadline:
                return messages
            time.sleep(0.5)
    finally:
        consumer.close()


def _end_offset(consumer: Consumer, tp: TopicPartition, deadline: float) -> int:
    """The partition's end offset, retried while a just-restarted broker elects leaders."""
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=10)[1]
        except KafkaException:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition of ``topic`` (-1001 when none)."""
    consumer = kafka.make_consumer({"bootstrap.servers": bootstrap}, fixed={"group.id": group})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return {tp.partition: tp.offset for tp in found}
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = kafka.make_consumer({"bootstrap.servers": bootstrap}, fixed={"group.id": "watermarks"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    finally:
        consumer.close()


def output_ids(messages: Sequence[Message]) -> Counter[str]:
    return Counter(json.loads(m.value() or b"")["id"] for m in messages)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ConsumerProcess:
    """One ``sentiment-consumer`` subprocess with its own metrics port; its log goes to a file."""

    args: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    metrics_port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    def start(self) -> ConsumerProcess:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - open while the consumer runs and writes to it
        self.proc = subprocess.Popen(
            [str(CONSUMER_BIN), *self.args, "--metrics-port", str(self.metrics_port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            cwd=PROJECT_ROOT,
        )
        return self

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Until /readyz answers 200 (model loaded, partitions assigned, broker reachable)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.alive(), f"consumer exited with {self.proc.returncode}:\n{self.log_tail()}"  # type: ignore[union-attr]  # alive() is False before start()
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"consumer not ready within {timeout} s:\n{self.log_tail()}")

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """{(sample name, sorted labels): value} from one /metrics scrape."""
        status, text = self.get("/metrics")
        assert status == 200
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def wait_metric(self, name: str, value: float, timeout: float = 120.0, **labels: str) -> None:
        deadline = time.monotonic() + timeout
        key = (name, tuple(sorted(labels.items())))
        while time.monotonic() < deadline:
            assert self.alive(), f"consumer exited with {self.proc.returncode}:\n{self.log_tail()}"  # type: ignore[union-attr]  # alive() is False before start()
            if self.metrics().get(key, 0) >= value:
                return
            time.sleep(0.3)
        raise AssertionError(f"{key} never reached {value} (now {self.metrics().get(key)}):\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_events(self, msg: str) -> list[dict]:
        """The consumer's JSON log lines whose message starts with ``msg``, oldest first."""
        events = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:  # librdkafka's own lines and tracebacks are not JSON
                continue
            if isinstance(event, dict) and str(event.get("msg", "")).startswith(msg):
                events.append(event)
        return events

    def partitions_owned(self) -> int:
        """How many input partitions the consumer owns by its last assignment or revocation log line."""
        changes = self.log_events("partitions ")
        return changes[-1]["owned"] if changes else 0

    def wait_owned(self, count: int, timeout: float = 60.0) -> None:
        """Until the consumer owns ``count`` partitions (a rebalance has settled)."""
        deadline = time.monotonic() + timeout
        while self.partitions_owned() != count:
            assert self.alive(), f"consumer exited with {self.proc.returncode}:\n{self.log_tail()}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, (
                f"owns {self.partitions_owned()} partitions, not {count}:\n{self.log_tail()}"
            )
            time.sleep(0.2)


def item_ids(items: Sequence[tuple[bytes | None, bytes | None]]) -> set[str]:
    """The review ids of (key, value) pairs made by ``review_items``."""
    return {key.decode() for key, _ in items if key is not None}
