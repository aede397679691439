"""Fault suite: run ``sentiment-consumer`` through kill -9 storms, a broker restart and scale-in,
then count what came out. Goal: lost = 0 in every row, duplicated = 0 in every exactly-once row.
After each kill -9, the time from the replacement's start to its first new output (acknowledged,
or committed in exactly-once) is measured: goal <= 10 s with static membership and the default
session timeout, where a new member waits out the dead one's session first (``--membership dynamic``).

Everything runs on a broker of its own (a free port, never the shared one on
9092), because one scenario stops it. Consumers are real subprocesses; a
supervisor restarts any that exits, as an orchestrator would. The reviews are
real ones cut to their first ``--words`` words (the guarantees under test do not
depend on review length, and short texts let 100,000 flow in minutes on two
cores); about 0.1% are poison messages, which must all reach the dead-letter
topic. Prints a Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from common.paths import TEST_SAMPLE
from common.readers import read_records
from localkafka import LocalKafka, create_topics
from localkafka.harness import (
    ConsumerProcess,
    Topics,
    committed_offsets,
    end_offsets,
    produce,
    read_topic,
    review_items,
)

POISON = (
    b"\xff\xfe not utf-8",
    b'{"text": "unterminated',
    b'{"title": "no text"}',
    b'{"text": "  "}',
    b'{"text": "x", "label": "meh"}',
)


@dataclass
class Row:
    scenario: str
    reviews_in: int
    outputs_out: int
    lost: int
    duplicated: int
    dead_lettered: int
    restarts: int
    seconds: float
    failovers: list[float]  # kill -9 scenarios: seconds from each restart to the replacement's first new output

    def failover(self) -> str:
        if not self.failovers:
            return "-"
        return f"{statistics.median(self.failovers):.1f} / {max(self.failovers):.1f}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Supervisor:
    """Keeps ``count`` consumers of one group running; restarts any that exits (counted)."""

    def __init__(self, topics: Topics, logs: Path, extra: list[str], count: int = 1) -> None:
        self.topics, self.logs, self.extra = topics, logs, extra
        self.processes: list[ConsumerProcess | None] = [self._start(i) for i in range(count)]
        self.restarts = 0
        self.failovers: list[float] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._tend_forever, daemon=True)
        self._thread.start()

    def _tend_forever(self) -> None:
        while not self._done.wait(0.5):
            with self._lock:
                for i, process in enumerate(self.processes):
                    if process is not None and not process.alive():
                        self.processes[i] = self._start(i)
                        self.restarts += 1

    def _start(self, index: int) -> ConsumerProcess:
        return ConsumerProcess(
            [
                *self.topics.flags(),
                "--instance-id",
                f"chaos-{index}",
                "--log-level",
                "WARNING",
                "--stall-timeout",
                "60",
                *self.extra,
            ],
            self.logs / f"{self.topics.group}-{index}-{time.monotonic_ns()}.log",
        ).start()

    def kill(self, index: int = 0) -> None:
        """kill -9 one consumer, start its replacement at once (same instance id: it fences its zombie) and time
        its first new output: load the model, rejoin the group, score, and deliver or commit."""
        with self._lock:
            self.processes[index].kill()  # type: ignore[union-attr]  # a slot is None only once retired, and none is killed after
            replacement = self.processes[index] = self._start(index)
        restarted, checked = time.monotonic(), 0.0
        while replacement.alive() and not _outputs(replacement):
            if time.monotonic() - checked > 2.0:  # a stream already done has no new output to wait for
                checked = time.monotonic()
                if self.done():
                    return
            time.sleep(0.1)
        if replacement.alive():  # one that died is the supervisor's to restart, and its time is not a failover's
            self.failovers.append(time.monotonic() - restarted)

    def done(self) -> bool:
        """Whether the group has committed every input offset."""
        committed = committed_offsets(self.topics.bootstrap, self.topics.group, self.topics.input)
        return all(
            committed.get(p, -1) >= end for p, end in end_offsets(self.topics.bootstrap, self.topics.input).items()
        )

    def retire(self, index: int) -> None:
        """Scale in: SIGTERM one consumer for good."""
        with self._lock:
            process, self.processes[index] = self.processes[index], None
        process.terminate()  # type: ignore[union-attr]  # a slot is retired once

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
        for process in self.processes:
            if process is not None and process.alive():
                process.terminate()


def _outputs(process: ConsumerProcess) -> float:
    """Outputs the process has had acknowledged (exactly-once: committed), by its /metrics; 0 before it serves them."""
    try:
        scrape = process.metrics()
    except OSError:  # still loading the model: no metrics endpoint yet
        return 0.0
    return sum(
        value
        for (name, _), value in scrape.items()
        if name in ("sentiment_predictions_total", "sentiment_dead_letters_total")
    )


class Chaos:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.logs = Path(tempfile.mkdtemp(prefix="chaos-"))
        self.broker = LocalKafka(port=free_port(), controller_port=free_port())
        records = list(read_records(args.data, limit=min(args.reviews, 20_000)))
        self.records = records
        self.random = random.Random(7)

    def items(self, prefix: str) -> tuple[list[tuple[bytes | None, bytes | None]], set[str]]:
        good = review_items(self.records, self.args.reviews, prefix=prefix, words=self.args.words)
        items: list[tuple[bytes | None, bytes | None]] = list(good)
        for i in range(0, len(good), 1000):  # 0.1% poison, spread through the stream
            items.insert(i + i // 1000, (f"{prefix}-poison-{i}".encode(), POISON[(i // 1000) % len(POISON)]))
        return items, {key.decode() for key, _ in good}

    def run(self, name: str, delivery: str, fault: Callable[[Supervisor], None], consumers: int = 1) -> Row:
        suffix = uuid.uuid4().hex[:8]
        topics = Topics(self.broker.bootstrap, f"in-{suffix}", f"out-{suffix}", f"dlq-{suffix}", f"chaos-{suffix}")
        create_topics({"bootstrap.servers": topics.bootstrap}, [topics.input, topics.output, topics.dlq], 4)
        items, expected = self.items(f"{delivery[:3]}{suffix[:4]}-")
        started = time.monotonic()
        supervisor = Supervisor(
            topics,
            self.logs,
            ["--delivery", delivery, "--membership", self.args.membership, *self.args.consumer_args],
            consumers,
        )
        try:
            for process in supervisor.processes:  # every consumer owns partitions before the stream starts
                process.wait_ready(timeout=120)  # type: ignore[union-attr]  # no slot is retired before the stream starts
            produce(topics.bootstrap, topics.input, items)
            fault(supervisor)
            outputs = read_topic(topics.bootstrap, topics.output, ids=expected, timeout=self.args.timeout)
        finally:
            supervisor.stop()
        seconds = time.monotonic() - started
        ids = Counter(json.loads(m.value() or b"")["id"] for m in outputs)
        dead = read_topic(topics.bootstrap, topics.dlq, at_least=len(items) - len(expected), timeout=60)
        row = Row(
            name,
            len(expected),
            len(outputs),
            len(expected - set(ids)),
            sum(ids.values()) - len(ids),
            len(dead),
            supervisor.restarts,
            seconds,
            supervisor.failovers,
        )
        print(f"  {row}", flush=True)
        return row

    # -- faults ----------------------------------------------------------------------------------

    def kills(self, supervisor: Supervisor) -> None:
        """kill -9 the consumer ``--kills`` times, spread through the stream (each after a random share of it)."""
        share = self.args.reviews / (self.args.kills + 1)
        for _ in range(self.args.kills):
            process = supervisor.processes[0]
            process.wait_ready(timeout=120)  # type: ignore[union-attr]  # slot 0 is never retired
            process.wait_metric("sentiment_messages_consumed_total", int(self.random.uniform(0.2, 0.6) * share))  # type: ignore[union-attr]  # slot 0 is never retired
            supervisor.kill(0)

    def broker_restart(self, supervisor: Supervisor) -> None:
        supervisor.processes[0].wait_ready(timeout=120)  # type: ignore[union-attr]  # slot 0 is never retired
        supervisor.processes[0].wait_metric("sentiment_messages_consumed_total", self.args.reviews // 4)  # type: ignore[union-attr]  # slot 0 is never retired
        self.broker.stop()
        time.sleep(5)
        self.broker.start()

    def scale_in(self, supervisor: Supervisor) -> None:
        supervisor.processes[1].wait_metric("sentiment_messages_consumed_total", self.args.reviews // 8)  # type: ignore[union-attr]  # slot 1 is not retired yet
        supervisor.retire(1)


SCENARIOS = ("kills", "broker-restart", "scale-in")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reviews", type=int, default=100_000, help="reviews per scenario (default 100000)")
    parser.add_argument("--kills", type=int, default=10, help="kill -9 per kill scenario (default 10)")
    parser.add_argument("--words", type=int, default=20, help="words kept of each review (default 20)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds to wait for all outputs per scenario")
    parser.add_argument("--data", type=Path, default=TEST_SAMPLE, help="reviews file (common.readers formats)")
    parser.add_argument(
        "--membership",
        choices=("static", "dynamic"),
        default="static",
        help="the consumers' group membership (default static; dynamic: the 'before' of fast failover)",
    )
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=SCENARIOS,
        default=list(SCENARIOS),
        help="which scenarios to run, each in both delivery modes (default all)",
    )
    parser.add_argument(
        "consumer_args",
        nargs="*",
        metavar="-- CONSUMER-ARGS",
        help="more sentiment-consumer arguments, after --: e.g. -- -X session.timeout.ms=6000",
    )
    args = parser.parse_args(argv)
    chaos = Chaos(args)
    chaos.broker.start()
    print(f"broker {chaos.broker.bootstrap}; consumer logs in {chaos.logs}", flush=True)
    rows = []
    try:
        scenarios = {
            "kills": (f"{args.kills} x kill -9", chaos.kills, 1),
            "broker-restart": ("broker restart", chaos.broker_restart, 1),
            "scale-in": ("2 consumers, one stopped", chaos.scale_in, 2),
        }
        for delivery in ("at-least-once", "exactly-once"):
            for scenario in args.scenarios:
                what, fault, consumers = scenarios[scenario]
                rows.append(chaos.run(f"{delivery}, {what}", delivery, fault, consumers=consumers))
    finally:
        chaos.broker.stop()
        shutil.rmtree(chaos.broker.instance, ignore_errors=True)
    print(f"\n{args.membership} membership, {' '.join(args.consumer_args) or 'default session timeout'}")
    print(
        "\n| scenario | reviews in | outputs out | lost | duplicated | dead-lettered | restarts | seconds "
        "| restart -> first new output, median / max s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.scenario} | {r.reviews_in} | {r.outputs_out} | {r.lost} | {r.duplicated} | {r.dead_lettered} "
            f"| {r.restarts} | {r.seconds:.0f} | {r.failover()} |"
        )
    failed = [r for r in rows if r.lost or (r.duplicated and "exactly-once" in r.scenario)]
    print(
        "\ngoal met: lost = 0 everywhere, duplicated = 0 in exactly-once rows"
        if not failed
        else f"\nGOAL MISSED in {len(failed)} row(s)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
