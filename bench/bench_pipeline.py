"""End-to-end benchmark of ``sentiment-consumer`` through the real broker (JSON in, JSON out, commits on).

Measured in one run, on the same reviews and the same machine:

- the Predictor's raw throughput at ``--max-batch`` (no Kafka): the ceiling;
- at-least-once and exactly-once consumer throughput, 1 and 2 processes;
- a consumer that calls the model once per message (``--max-batch 1``, a small
  count), and optionally the naive design (Keras ``predict`` per message);
- p50/p99 end-to-end latency (event time -> output) at half the maximum load;
- with ``--engines N``, instead: the at-least-once consumer on each scoring engine
  (``--engine fused`` and ``--engine onnxruntime``), runs in turn, medians of N;
- with ``--delivery N``, instead: exactly-once against at-least-once, runs in turn, the
  median of the N ratios (goal >= 0.9).

Consumers run as real ``sentiment-consumer`` subprocesses, started and ready
before the reviews are sent, which are sent while they consume. Throughput is
the steady-state rate: reviews / (first output written -> last output written,
by the outputs' timestamps); the time to the first output is latency, which the
half-load run measures. Prints a Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bench.results import RESULTS, replace_section
from common.config import add_options, resolve
from common.paths import TEST_SAMPLE
from common.readers import read_records
from localkafka import LocalKafka, scratch_topics
from localkafka.harness import ConsumerProcess, Topics, read_topic
from producer.send import send_reviews


@dataclass
class Run:
    name: str
    reviews: int
    seconds: float
    cpu_seconds: float  # of the process(es) doing the work: comparable on a machine shared with other jobs
    broker_cpu_seconds: float | None = None  # the local broker's, over the same run
    sender_cpu_seconds: float | None = None  # this process's (it sends the reviews), over the same run

    @property
    def rate(self) -> float:
        return self.reviews / self.seconds

    @property
    def cpu_rate(self) -> float:
        return self.reviews / self.cpu_seconds


def cpu_seconds(processes: list[ConsumerProcess]) -> float:
    """User + system CPU of the consumer processes so far (all their threads)."""
    total = 0.0
    for process in processes:
        times = psutil.Process(process.proc.pid).cpu_times()  # type: ignore[union-attr]  # a started process has its proc
        total += times.user + times.system
    return total


def broker_process(bootstrap: str) -> psutil.Process | None:
    """The local broker (sentiment-kafka) serving ``bootstrap``, to count its CPU; None for any other broker."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    pid = LocalKafka(port=int(port)).pid() if host in ("127.0.0.1", "localhost") and port.isdigit() else None
    return None if pid is None else psutil.Process(pid)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_options(parser, ("bootstrap_servers", "model_dir", "max_batch", "max_wait_ms"), kafka=False)
    parser.add_argument("--reviews", type=int, default=20_000, help="reviews per throughput run (default 20000)")
    parser.add_argument(
        "--per-message-reviews", type=int, default=500, help="reviews for the once-per-message consumer"
    )
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="length of the half-load latency run")
    parser.add_argument(
        "--latency-warm-up",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="seconds sent at the same rate just before it and reported apart (default 3)",
    )
    parser.add_argument(
        "--latency-only",
        type=float,
        default=None,
        metavar="RATE",
        help="only the latency run, at RATE reviews/s (e.g. half a throughput measured before)",
    )
    parser.add_argument(
        "--policies",
        action="store_true",
        help="only compare the batch policies: saturation throughput, latency at --trickle-rate and at half load",
    )
    parser.add_argument(
        "--trickle-rate", type=float, default=20.0, help="the low-load rate of --policies (default 20/s, the demo's)"
    )
    parser.add_argument(
        "--keras-baseline",
        action="store_true",
        help="also time Keras model.predict() per message, the published app's design (imports TensorFlow)",
    )
    parser.add_argument("--data", type=Path, default=TEST_SAMPLE, help="reviews file (common.readers formats)")
    parser.add_argument(
        "--engines",
        type=int,
        default=None,
        metavar="REPEATS",
        help="only compare the consumer's engines (fused, onnxruntime), runs in turn, medians of REPEATS",
    )
    parser.add_argument(
        "--shadow",
        type=int,
        default=None,
        metavar="REPEATS",
        help="only compare the consumer with and without a shadow candidate, in turn, medians of REPEATS",
    )
    parser.add_argument(
        "--delivery",
        type=int,
        default=None,
        metavar="REPEATS",
        help="only compare exactly-once with at-least-once, in turn, the median of REPEATS ratios",
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="with --engines, --policies, --shadow or --delivery: replace that comparison's section of "
        "bench/RESULTS.md",
    )
    return parser.parse_args(argv)


def wait_scored(processes: list[ConsumerProcess], n: int, timeout: float = 900.0) -> None:
    """Until the consumers together have had ``n`` outputs acknowledged (their /metrics)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = sum(
            value
            for process in processes
            for (name, _), value in process.metrics().items()
            if name == "sentiment_predictions_total"
        )
        if done >= n:
            return
        time.sleep(0.5)
    raise TimeoutError(f"consumers did not score {n} reviews within {timeout:.0f} s")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.settings = resolve(("bootstrap_servers", "model_dir", "max_batch", "max_wait_ms"), args)
        self.kafka = {"bootstrap.servers": self.settings.bootstrap_servers}
        self.broker = broker_process(self.settings.bootstrap_servers)
        self.logs = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
        records = list(read_records(args.data, limit=args.reviews))  # reused in turn when the file has fewer
        self.items: list[dict[str, Any]] = [
            {"id": f"b{i}", "text": records[i % len(records)].text, "label": records[i % len(records)].label}
            for i in range(args.reviews)
        ]

    @contextmanager
    def topics(self) -> Iterator[Topics]:
        """Input, output and dead-letter topics for one run, deleted after it.

        The output topic stamps each record with the broker's append time: an output counts as written when a
        reader could have it, not when the consumer handed it to its producer (linger and acknowledgement included).
        """
        suffix = uuid.uuid4().hex[:8]
        source, output, dlq = (f"bench-{kind}-{suffix}" for kind in ("in", "out", "dlq"))
        with (
            scratch_topics(self.kafka, [source, dlq], partitions=4),
            scratch_topics(
                self.kafka, [output], partitions=4, topic_config={"message.timestamp.type": "LogAppendTime"}
            ),
        ):
            yield Topics(self.settings.bootstrap_servers, source, output, dlq, group=f"bench-{suffix}")

    def raw_predictor(self, repeats: int = 3) -> Run:
        from model.predictor import Predictor

        predictor = Predictor.load(self.settings.model_dir)  # the consumer's engine: fused where built
        texts = [item["text"] for item in self.items[: min(len(self.items), 8192)]]
        batch = self.settings.max_batch
        predictor.predict(texts[:batch])  # warm-up
        times, cpu = [], []
        for _ in range(repeats):
            started, cpu_started = time.perf_counter(), time.process_time()
            for i in range(0, len(texts), batch):
                predictor.predict(texts[i : i + batch])
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
        return Run(
            f"Predictor.predict, batch {batch} (no Kafka)", len(texts), statistics.median(times), statistics.median(cpu)
        )

    def consumers(self, topics: Topics, count: int, *extra: str) -> list[ConsumerProcess]:
        processes = [
            ConsumerProcess(
                [
                    *topics.flags(),
                    "--max-batch",
                    str(self.settings.max_batch),
                    "--max-wait-ms",
                    str(self.settings.max_wait_ms),
                    "--model-dir",
                    str(self.settings.model_dir),
                    "--instance-id",
                    f"bench-{i}",
                    "--log-level",
                    "WARNING",
                    "-X",
                    "session.timeout.ms=6000",
                    *extra,
                ],
                self.logs / f"{topics.group}-{i}.log",
            ).start()
            for i in range(count)
        ]
        for process in processes:
            process.wait_ready()
        time.sleep(2.0)  # let the group settle (every process assigned) before the first review arrives
        return processes

    def through_kafka(self, name: str, n: int, processes: int = 1, *extra: str) -> Run:
        with self.topics() as topics:
            running = self.consumers(topics, processes, *extra)
            try:
                cpu_before, broker_before, sender_before = cpu_seconds(running), self.broker_cpu(), time.process_time()
                summary = send_reviews(self.kafka, topics.input, self.items[:n], with_labels=True)
                assert summary.sent == n, summary.line()
                wait_scored(running, n)  # scrapes only: reading outputs meanwhile would take CPU from the consumers
                cpu = cpu_seconds(running) - cpu_before
                broker = None if broker_before is None else self.broker_cpu() - broker_before  # type: ignore[operator]  # broker_cpu() is a float whenever broker_before is
                sender = time.process_time() - sender_before
                outputs = read_topic(
                    topics.bootstrap, topics.output, ids={item["id"] for item in self.items[:n]}, timeout=600
                )
                written = [m.timestamp()[1] / 1000.0 for m in outputs]
                return Run(name, n, max(written) - min(written), cpu, broker, sender)
            finally:
                for process in running:
                    process.terminate()

    def broker_cpu(self) -> float | None:
        if self.broker is None:
            return None
        times = self.broker.cpu_times()
        return times.user + times.system

    def latency(self, rate: float, *extra: str) -> dict[str, dict[str, float]]:
        """Steady-state latency at ``rate``, and apart from it the first seconds of a new producer and new topics.

        Why the warm-up is kept out of the steady state: a new idempotent producer holds its first messages about
        500 ms until it has a producer id, and a topic's first appends are acknowledged slowly for 0.3-0.7 s
        (measured with a producer alone on an idle broker: 120-500 ms, then none over 20 s). The service runs for
        days on topics that exist; every run of this benchmark starts a producer and creates topics.
        """
        with self.topics() as topics:
            (process,) = self.consumers(topics, 1, *extra)
            try:
                n, warm = int(rate * self.args.latency_seconds), int(rate * self.args.latency_warm_up)
                items = [
                    {**self.items[i % len(self.items)], "id": f"{'w' if i < warm else 'l'}{i}"} for i in range(warm + n)
                ]
                send_reviews(
                    self.kafka, topics.input, items, rate=rate, with_labels=True
                )  # one producer, one steady rate
                outputs = read_topic(topics.bootstrap, topics.output, ids={item["id"] for item in items}, timeout=600)
                latencies: dict[bool, list[float]] = {True: [], False: []}
                for m in outputs:
                    latencies[(m.key() or b"").startswith(b"w")].append(
                        m.timestamp()[1] / 1000.0 - json.loads(m.value() or b"")["event_time"]
                    )
                return {"steady": quantiles(latencies[False], rate), "warm-up": quantiles(latencies[True], rate)}
            finally:
                process.terminate()

    def keras_per_message(self, n: int) -> Run:
        """The naive design, the published app's: one Keras ``model.predict()`` per consumed message (no Kafka, so an
        upper bound on its speed), on the same model and the same 166-wide pre-padded input as bench_model.py."""
        from bench.bench_model import keras_model
        from model.predictor import Predictor, default_threads
        from model.tokenizer import pad

        fast = Predictor.load(self.settings.model_dir)
        model = keras_model(Path(self.settings.model_dir), threads=default_threads())
        texts = [item["text"] for item in self.items[:n]]

        def predict(text: str) -> None:
            model.predict(pad(fast.tokenizer.texts_to_sequences([text]), fast.max_len), verbose=0)

        predict(texts[0])
        started, cpu_started = time.perf_counter(), time.process_time()
        for text in texts:
            predict(text)
        return Run(
            "Keras model.predict per message (the published app; no Kafka)",
            n,
            time.perf_counter() - started,
            time.process_time() - cpu_started,
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = Bench(args)
    n = len(bench.items)
    batch = bench.settings.max_batch
    print(
        f"{n} reviews, max-batch {batch}, max-wait-ms {bench.settings.max_wait_ms}; consumer logs in {bench.logs}",
        flush=True,
    )
    runs: list[Run] = []
    if args.latency_only:
        print_latency(bench.latency(args.latency_only), bench.settings.max_wait_ms)
        return 0
    comparisons = (
        (args.engines, ENGINES_SECTION, lambda: compare_engines(bench, n, args.engines)),
        (args.policies, POLICIES_SECTION, lambda: compare_policies(bench, n, args.trickle_rate)),
        (args.shadow, SHADOW_SECTION, lambda: compare_shadow(bench, n, args.shadow)),
        (args.delivery, DELIVERY_SECTION, lambda: compare_delivery(bench, n, args.delivery)),
    )
    for asked, section, compare in comparisons:
        if not asked:
            continue
        table = compare()
        if args.write:
            command = "PYTHONPATH=$PWD .venv/bin/python bench/bench_pipeline.py " + " ".join(
                shlex.quote(a) for a in sys.argv[1:]
            )
            replace_section(
                section,
                f"`{command}`\n\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
                f"{n} reviews of {args.data.name} per run; {os.cpu_count()} CPUs shared with other work "
                f"(1-min load average {os.getloadavg()[0]:.1f} at the end).\n\n{table}",
            )
            print(f"wrote the '{section}' section of {RESULTS}")
        return 0

    def record(run: Run) -> Run:
        runs.append(run)
        print(
            f"  {run.name}: {run.rate:,.0f} reviews/s, {run.cpu_rate:,.0f} per CPU-s "
            f"({run.reviews} in {run.seconds:.2f} s)",
            flush=True,
        )
        return run

    raw = record(bench.raw_predictor())
    alo = record(bench.through_kafka(f"consumer at-least-once, batch {batch}, 1 process", n))
    eos = record(
        bench.through_kafka(f"consumer exactly-once, batch {batch}, 1 process", n, 1, "--delivery", "exactly-once")
    )
    one_thread = record(bench.through_kafka("consumer at-least-once, 1 process, --threads 1", n, 1, "--threads", "1"))
    two = record(bench.through_kafka("consumer at-least-once, 2 processes, --threads 1 each", n, 2, "--threads", "1"))
    per_message_n = min(args.per_message_reviews, n)
    per_message = record(
        bench.through_kafka(
            "consumer calling the model once per message (--max-batch 1)", per_message_n, 1, "--max-batch", "1"
        )
    )
    latency = bench.latency(
        alo.rate / 2
    )  # before the Keras baseline: TensorFlow in this process would stall the sender
    keras = record(bench.keras_per_message(min(200, n))) if args.keras_baseline else None

    print(
        "\n| run | reviews | seconds | reviews/s | reviews per CPU-s | cores used: consumers / broker / sender |"
        "\n|---|---:|---:|---:|---:|---|"
    )
    for run in runs:
        print(
            f"| {run.name} | {run.reviews} | {run.seconds:.2f} | {run.rate:,.0f} | {run.cpu_rate:,.0f} | {cores(run)} |"
        )
    print("\n| ratio | wall clock | per CPU-s | goal |\n|---|---:|---:|---|")

    def ratio(label: str, a: Run, b: Run, goal: str) -> None:
        print(f"| {label} | {a.rate / b.rate:.2f} | {a.cpu_rate / b.cpu_rate:.2f} | {goal} |")

    ratio("at-least-once / raw Predictor", alo, raw, ">= 0.8")
    ratio("at-least-once / once-per-message consumer", alo, per_message, ">= 300")
    if keras is not None:
        ratio("at-least-once / Keras model.predict per message", alo, keras, ">= 300")
    ratio("exactly-once / at-least-once", eos, alo, ">= 0.9")
    ratio("2 processes / 1 process (--threads 1)", two, one_thread, ">= 1.6")
    print_latency(latency, bench.settings.max_wait_ms)
    return 0


ENGINES = ("onnxruntime", "fused")
ENGINES_SECTION = "## fused engine: consumer end to end"


def compare_engines(bench: Bench, n: int, repeats: int) -> str:
    """The at-least-once consumer on each engine, the engines in
    turn ``repeats`` times: a table of medians and ratio.
    """
    rates: dict[str, list[float]] = {engine: [] for engine in ENGINES}
    cpu_rates: dict[str, list[float]] = {engine: [] for engine in ENGINES}
    for _ in range(repeats):
        for engine in ENGINES:
            run = bench.through_kafka(f"consumer at-least-once, --engine {engine}", n, 1, "--engine", engine)
            print(
                f"  {run.name}: {run.rate:,.0f} reviews/s, {run.cpu_rate:,.0f} per CPU-s (cores: {cores(run)})",
                flush=True,
            )
            rates[engine].append(run.rate)
            cpu_rates[engine].append(run.cpu_rate)
    table = (
        f"| consumer at-least-once, batch {bench.settings.max_batch}, 1 process | reviews/s | reviews per CPU-s |\n"
        "|---|---:|---:|\n"
    )
    for engine in ENGINES:
        table += (
            f"| --engine {engine} (median of {repeats}) | {statistics.median(rates[engine]):,.0f} | "
            f"{statistics.median(cpu_rates[engine]):,.0f} |\n"
        )
    ratio = [
        statistics.median(values["fused"]) / statistics.median(values["onnxruntime"]) for values in (rates, cpu_rates)
    ]
    table += f"| fused / onnxruntime (goal >= 1.3) | {ratio[0]:.2f}x | {ratio[1]:.2f}x |\n"
    print("\n" + table)
    return table


POLICIES_SECTION = "## batch policies: fixed and adaptive"
SHADOW_SECTION = "## shadow candidate: what it costs"


def compare_shadow(bench: Bench, n: int, repeats: int) -> str:
    """The at-least-once consumer alone and with a shadow candidate (the served model under another version: the
    same work a retrained candidate costs), in turn ``repeats`` times."""
    import json
    import shutil

    shadow = bench.logs / "shadow-model"
    shutil.copytree(bench.settings.model_dir, shadow)
    metadata = json.loads((shadow / "metadata.json").read_text())
    (shadow / "metadata.json").write_text(json.dumps({**metadata, "version": f"{metadata['version']}-shadow"}))
    modes = {"alone": (), "with a shadow": ("--shadow-model-dir", str(shadow))}
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(repeats):
        for mode, extra in modes.items():
            run = bench.through_kafka(f"consumer at-least-once, {mode}", n, 1, *extra)
            print(f"  {run.name}: {run.rate:,.0f} reviews/s, {run.cpu_rate:,.0f} per CPU-s", flush=True)
            rates[mode].append(run.rate)
    medians = {mode: statistics.median(values) for mode, values in rates.items()}
    table = "| consumer at-least-once, 1 process | reviews/s (median) | runs |\n|---|---:|---|\n"
    for mode, values in rates.items():
        table += f"| {mode} | {medians[mode]:,.0f} | {', '.join(f'{v:,.0f}' for v in values)} |\n"
    table += f"| with a shadow / alone | {medians['with a shadow'] / medians['alone']:.2f}x | |\n"
    print("\n" + table)
    return table


DELIVERY_SECTION = "## exactly-once against at-least-once"


def compare_delivery(bench: Bench, n: int, repeats: int) -> str:
    """Exactly-once and at-least-once in turn ``repeats`` times on one broker, each at its default commit interval;
    the ratio of each pair and their median (a pair shares the machine's load of the moment)."""
    modes = ("at-least-once", "exactly-once")
    runs: dict[str, list[Run]] = {mode: [] for mode in modes}
    for _ in range(repeats):
        for mode in modes:
            run = bench.through_kafka(f"consumer {mode}", n, 1, "--delivery", mode)
            print(
                f"  {run.name}: {run.rate:,.0f} reviews/s, {run.cpu_rate:,.0f} per CPU-s (cores: {cores(run)})",
                flush=True,
            )
            runs[mode].append(run)
    pairs = list(zip(runs["at-least-once"], runs["exactly-once"], strict=True))
    ratios = [eos.rate / alo.rate for alo, eos in pairs]
    cpu_ratios = [eos.cpu_rate / alo.cpu_rate for alo, eos in pairs]
    table = f"| consumer, batch {bench.settings.max_batch}, 1 process | each run | median |\n|---|---|---:|\n"
    for mode in modes:
        rates = [run.rate for run in runs[mode]]
        table += f"| {mode}, reviews/s | {', '.join(f'{v:,.0f}' for v in rates)} | {statistics.median(rates):,.0f} |\n"
    table += (
        f"| exactly-once / at-least-once, wall clock (goal >= 0.9) | {', '.join(f'{r:.2f}' for r in ratios)} | "
        f"{statistics.median(ratios):.2f} |\n"
        f"| exactly-once / at-least-once, per consumer CPU-s | {', '.join(f'{r:.2f}' for r in cpu_ratios)} | "
        f"{statistics.median(cpu_ratios):.2f} |\n"
    )
    print("\n" + table)
    return table


def compare_policies(bench: Bench, n: int, trickle_rate: float) -> str:
    """Fixed and adaptive batching side by side, each measured right after the other on one broker.

    Goals: adaptive p50 at the trickle rate <= 20 ms, p99 at half load < 100 ms, saturation >= 0.97x fixed.
    Half load is half the fixed policy's saturation rate, so both policies get the same offered load.
    """
    policies = ("fixed", "adaptive")
    saturation = {p: bench.through_kafka(f"{p}", n, 1, "--batch-policy", p) for p in policies}
    half = saturation["fixed"].rate / 2
    trickle = {p: bench.latency(trickle_rate, "--batch-policy", p)["steady"] for p in policies}
    loaded = {p: bench.latency(half, "--batch-policy", p)["steady"] for p in policies}
    table = (
        f"| policy | saturation reviews/s | p50 / p99 at {trickle_rate:g}/s | p50 / p99 at half load ({half:,.0f}/s) |"
        "\n|---|---:|---:|---:|\n"
    )
    for p in policies:
        table += (
            f"| {p} | {saturation[p].rate:,.0f} | {trickle[p]['p50'] * 1000:.0f} / {trickle[p]['p99'] * 1000:.0f} ms | "
            f"{loaded[p]['p50'] * 1000:.0f} / {loaded[p]['p99'] * 1000:.0f} ms |\n"
        )
    table += (
        f"\nadaptive / fixed saturation throughput: {saturation['adaptive'].rate / saturation['fixed'].rate:.2f} "
        f"(goal >= 0.97); adaptive p50 at {trickle_rate:g}/s: {trickle['adaptive']['p50'] * 1000:.0f} ms (goal <= 20); "
        f"adaptive p99 at half load: {loaded['adaptive']['p99'] * 1000:.0f} ms (goal < 100)\n"
    )
    print("\n" + table)
    return table


def cores(run: Run) -> str:
    """CPU seconds (from the first review sent until all were scored) per second of the run: about what each party
    took of the machine's cores."""
    if run.broker_cpu_seconds is None:
        return ""
    shares = (run.cpu_seconds, run.broker_cpu_seconds, run.sender_cpu_seconds or 0.0)
    return " / ".join(f"{share / run.seconds:.2f}" for share in shares)


def quantiles(latencies: list[float], rate: float) -> dict[str, float]:
    ordered = sorted(latencies) or [float("nan")]

    def quantile(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"rate": rate, "n": len(latencies), "p50": quantile(0.5), "p99": quantile(0.99), "max": ordered[-1]}


def print_latency(latency: dict[str, dict[str, float]], max_wait_ms: int) -> None:
    steady, warm = latency["steady"], latency["warm-up"]
    print(
        f"\nhalf-load latency, steady state: {steady['n']} reviews at "
        f"{steady['rate']:,.0f}/s: p50 {steady['p50'] * 1000:.0f} ms, "
        f"p99 {steady['p99'] * 1000:.0f} ms, max {steady['max'] * 1000:.0f} "
        f"ms (goal p99 < max-wait-ms + 100 = {max_wait_ms + 100} ms)"
        f"\n  warm-up before it (new producer, new topics; not in the steady state): {warm['n']} reviews: "
        f"p50 {warm['p50'] * 1000:.0f} ms, p99 {warm['p99'] * 1000:.0f} ms, max {warm['max'] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    sys.exit(main())
