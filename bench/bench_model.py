"""Benchmark of the model package: raw review strings -> p(negative), no Kafka.

Measured in one run, on the same reviews and machine, medians of ``--repeats``:

- onnxruntime Predictor throughput at batch 64, 128, 256 (the serving path);
- Keras ``model.predict`` at batch 256 on 166-wide pre-padded input (baseline);
- one ``model.predict`` call per review, the published app's pattern (baseline);
- single-review latency p50/p99 of the onnxruntime Predictor;
- process start -> first prediction, and the process' RSS, in a fresh subprocess;
- tokenizer texts/s on one core.

Goals: >= 6,000 reviews/s at batch 64-256, p50 single review < 2 ms,
ready < 1 s, RSS < 300 MB. ``--write`` replaces the ``## model serving`` section
of bench/RESULTS.md with the table and the exact command.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bench.results import RESULTS, replace_section
from common.config import DEFAULT_MODEL_DIR
from common.paths import TEST_SAMPLE
from common.readers import read_records
from model.predictor import Predictor

SECTION = "## model serving"
NOTES = """How to read it: "reviews/s" is wall-clock, raw strings in, probabilities out, the whole test
sample fed in batches of the given size. "per CPU-s" divides by the CPU time this process used (all
its threads): on a machine that other work keeps busy, wall-clock rates measure the share of the
CPUs we got, CPU-second rates what the work costs. A quiet 2-core machine gives at most twice the
per-CPU-s rate. The Keras rows run the same model (masked, 166-wide pre-padded input);
"per review" is one `model.predict` call per review, as the published app did.

The 6,000/s goal was set where Keras `model.predict` at batch 256 ran about 1,900 reviews/s and
one call per review 13/s; this machine runs them at about 900 and 7, so it is about half as fast.
Here onnxruntime alone (sequences already tokenized) scores 5,264 reviews/s on 2 threads and 3,131
on 1 (interleaved runs, 2026-11-26 03:37 UTC): below 6,000 before tokenizing. The goal implies
3.2x Keras at batch 256; the "onnxruntime best / Keras batch 256" row compares them in the same run.

Tried for speed and dropped: dynamic int8 quantization of the LSTMs (onnxruntime `quantize_dynamic`, LSTM
weights in QInt8; engine only, 4,096 reviews at batch 256, 2026-11-26 05:52 UTC) ran 5,404 reviews/s against
5,375 in float32 and moved p_negative by up to 0.069 (4 labels of 4,096 flipped), far outside the 1e-4 the
backends must agree within; OpenVINO 2026.4 ran this graph at half the speed and ignored `sequence_lens`.
"""

# Run in a fresh interpreter: prints the wall-clock time of its first prediction, its RSS and peak RSS.
_STARTUP_SCRIPT = """
import resource, sys, time
from model.predictor import Predictor
p = Predictor.load(sys.argv[1], backend=sys.argv[3], threads=int(sys.argv[2]))
p.predict(["It stopped working after two days and support never answered."])
import psutil
print(time.time(), psutil.Process().memory_info().rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL_DIR, help="artifact folder (default: the default model)"
    )
    parser.add_argument(
        "--data", type=Path, default=TEST_SAMPLE, help="reviews to score (default: the test sample in data/)"
    )
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of both engines (default 2)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats per measurement; medians are reported")
    parser.add_argument("--keras-reviews", type=int, default=2048, help="reviews for the Keras predict baseline")
    parser.add_argument("--per-review", type=int, default=100, help="reviews for the one-predict-per-review baseline")
    parser.add_argument("--latency-reviews", type=int, default=1000, help="single-review calls for p50/p99")
    parser.add_argument("--write", action="store_true", help=f"replace the '{SECTION}' section of bench/RESULTS.md")
    return parser.parse_args(argv)


def median_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (all threads of this process) of ``fn``.

    CPU time is reported too because the machine is shared: wall time then
    includes waiting for a core, CPU time shows what the work itself costs.
    """
    fn()  # warm-up: first calls allocate and compile
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall), statistics.median(cpu)


def in_batches(score: Callable[[list[str]], object], texts: list[str], batch: int) -> Callable[[], None]:
    def run() -> None:
        for i in range(0, len(texts), batch):
            score(texts[i : i + batch])

    return run


def startup(model: Path, threads: int, repeats: int, backend: str = "auto") -> tuple[float, float, float]:
    """Median (seconds to first prediction, RSS bytes, peak RSS bytes) over fresh processes."""
    runs = []
    for _ in range(repeats):
        launched = time.time()
        done = subprocess.run(
            [sys.executable, "-c", _STARTUP_SCRIPT, str(model), str(threads), backend],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        ready_at, rss, peak = (float(v) for v in done.stdout.split())
        runs.append([ready_at - launched, rss, peak])
    return tuple(statistics.median(column) for column in zip(*runs, strict=True))


def keras_model(model_dir: Path, threads: int):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    import keras

    return keras.saving.load_model(model_dir / "model.keras", compile=False, safe_mode=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.load_at_start = os.getloadavg()[0]
    texts = [record.text for record in read_records(args.data)]
    fast = Predictor.load(args.model, threads=args.threads)
    print(
        f"{len(texts)} reviews from {args.data.name}; model {fast.version} ({args.model}); "
        f"{os.cpu_count()} CPUs, {args.threads} threads, median of {args.repeats}",
        flush=True,
    )
    rows: list[tuple[str, str, str]] = []

    def row(name: str, value: str, goal: str = "") -> None:
        rows.append((name, value, goal))
        print(f"  {name}: {value} {goal}", flush=True)

    tokenizer = fast.tokenizer
    seconds, cpu = median_seconds(lambda: tokenizer.texts_to_sequences(texts), args.repeats)
    row("tokenizer (1 core)", f"{len(texts) / seconds:,.0f} texts/s ({len(texts) / cpu:,.0f} per CPU-s)", ">= 50,000")

    rates = {}
    for batch in tqdm((64, 128, 256), desc="onnxruntime batches", leave=False):
        seconds, cpu = median_seconds(in_batches(fast.predict_proba, texts, batch), args.repeats)
        rates[batch] = len(texts) / seconds
        row(
            f"onnxruntime Predictor, batch {batch}",
            f"{rates[batch]:,.0f} reviews/s ({len(texts) / cpu:,.0f} per CPU-s)",
            ">= 6,000",
        )

    latencies = []
    for text in tqdm(texts[: args.latency_reviews], desc="single-review latency", leave=False):
        started = time.perf_counter()
        fast.predict([text])
        latencies.append(time.perf_counter() - started)
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    row("single review latency p50", f"{p50:.2f} ms", "< 2 ms")
    row("single review latency p99", f"{p99:.2f} ms")

    ready, rss, peak = startup(args.model, args.threads, min(args.repeats, 3))
    row("process start -> first prediction", f"{ready:.2f} s", "< 1 s")
    row("RSS after first prediction (peak)", f"{rss / 2**20:.0f} MB ({peak / 2**20:.0f} MB)", "< 300 MB")

    from model.tokenizer import pad

    model = keras_model(args.model, args.threads)
    keras_texts = texts[: args.keras_reviews]
    seconds, cpu = median_seconds(
        lambda: model.predict(pad(tokenizer.texts_to_sequences(keras_texts), fast.max_len), batch_size=256, verbose=0),
        max(1, args.repeats // 2),
    )
    keras_rate = len(keras_texts) / seconds
    row(
        "Keras model.predict, batch 256 (baseline)",
        f"{keras_rate:,.0f} reviews/s ({len(keras_texts) / cpu:,.0f} per CPU-s)",
    )

    one_by_one = texts[: args.per_review]
    seconds, _ = median_seconds(
        lambda: [model.predict(pad(tokenizer.texts_to_sequences([t]), fast.max_len), verbose=0) for t in one_by_one], 1
    )
    per_review_rate = len(one_by_one) / seconds
    row("Keras model.predict per review (published app)", f"{per_review_rate:,.1f} reviews/s")

    best = max(rates.values())
    row("onnxruntime best / Keras batch 256", f"{best / keras_rate:.1f}x")
    row("onnxruntime best / Keras per review", f"{best / per_review_rate:,.0f}x")

    table = "| measurement | value | goal |\n|---|---:|---|\n" + "".join(f"| {n} | {v} | {g} |\n" for n, v, g in rows)
    print("\n" + table)
    if args.write:
        write_results(table, args, fast, len(texts))
    return 0


def write_results(table: str, args: argparse.Namespace, predictor: Predictor, n: int) -> None:
    """Replace (or append) this benchmark's section of bench/RESULTS.md."""
    command = "cd /work/main && .venv/bin/python bench/bench_model.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    loads = f"{args.load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    replace_section(
        SECTION,
        f"`{command}`\n\n"
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; model `{predictor.version}` "
        f"(preset {predictor.metadata.get('preset')!r}, {args.model}); {n} reviews of {args.data.name}; "
        f"{os.cpu_count()} CPUs shared with other work (1-min load average {loads}), "
        f"{args.threads} threads; medians of {args.repeats} repeats.\n\n{table}\n{NOTES}\n",
    )
    print(f"wrote the '{SECTION}' section of {RESULTS}")


if __name__ == "__main__":
    sys.exit(main())
