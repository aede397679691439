"""The fused engine against onnxruntime: raw review strings -> p(negative), no Kafka.

One run, the same reviews, the two engines measured in alternation (A, B, A, B, ...) so that
whatever else the shared machine runs weighs on both alike; medians of ``--repeats``, and ratios.
In the same run: numpy's float32 matrix product on the same threads, the machine's practical peak,
and the model's FLOP per review, so the engines' FLOP/s read as a share of that peak.

Goals: fused >= 1.5x onnxruntime at batch 256, >= 60% of the matrix-product peak (in the model's
own FLOP, i.e. as if the first layer's input projection were still computed), ready < 1 s, RSS < 300 MB.
The share of the peak is given twice: wall-clock FLOP/s over the peak's, and FLOP per CPU-second over the
peak's FLOP per CPU-second; on a machine other work keeps busy the second is the steadier (the short
matrix products and the long engine runs do not get the same share of the cores).
``--write`` replaces the ``## fused engine`` section of bench/RESULTS.md with the table and the command.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bench.bench_model import in_batches, startup
from bench.results import RESULTS, replace_section
from common.config import DEFAULT_MODEL_DIR
from common.paths import TEST_SAMPLE
from common.readers import read_records
from model import fused
from model.artifact import ONNX_FILE
from model.predictor import Predictor

SECTION = "## fused engine"
ENGINES = ("onnxruntime", "fused")
PEAK_SIZE = 2048  # float32 matrices for the peak: large enough that numpy runs at its best
NOTES = """How to read it: "reviews/s" is wall-clock, raw strings in, probabilities out (tokenizer included), the
whole test sample fed in batches of the given size; "per CPU-s" divides by the CPU time of this process. The
model's FLOP count as exported: per token and LSTM direction 2 x 4H x (inputs + H); the fused engine executes
29% fewer (the first layer's input projection is its per-word table), the share of the peak counts the full model.

Where the fused engine's time went, and what changed (perf, one thread, engine only, 2026-12-01 10:30 UTC): 45% of
all samples were in one scalar loop. GCC had not vectorized the LSTM cell's loop ("data ref analysis failed"; only
the gates' sigmoids were vector code), and hidden sizes 24 and 12 are not multiples of the 16-float vector anyway.
The cell and every sigmoid now run on whole vectors written out (lanes past H computed, never read). Measured with
`bench/bench_kernel_builds.py BEFORE.so AFTER.so --explained 40` (two builds in one process, in turns, engine only
on the test sample at batch 256, one thread, medians of CPU-seconds; 1-min load 3.9-4.6): whole-vector cell 8,844
vs 4,189 reviews per CPU-s (2.11x), every p_negative of the test sample bitwise unchanged; then the input
projections of layers 2 and 3 on 8 tokens x 3 vectors (24 accumulators) instead of the tiles' 4 x 4: 8,817 vs
8,095 (1.09x), bitwise unchanged; then a division in the sigmoid instead of three Newton steps from a bit-level
guess (on whole vectors the sigmoids' dependency chains set the pace, and one division is the shorter chain):
9,485 vs 8,970 (1.06x; results move in the last bits, the TensorFlow agreement test passes). Tried and dropped:
recurrences on tiles of 8 reviews x 3 vectors (8,089 vs 8,541 per CPU-s). Earlier, while the cell was scalar,
an AVX-512 sigmoid (scalef, rcp14) and prefetching the next token's table row were within the noise. Now the
recurrences are about 55% of the engine's samples, the projections about 20%; on the raw-strings path the
tokenizer (one thread, before the engine's two) is about a tenth of the CPU time.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL_DIR, help="artifact folder (default: the default model)"
    )
    parser.add_argument(
        "--data", type=Path, default=TEST_SAMPLE, help="reviews to score (default: the test sample in data/)"
    )
    parser.add_argument("--threads", type=int, default=2, help="threads of both engines (default 2)")
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256], help="batch sizes (default 64 256)")
    parser.add_argument(
        "--repeats", type=int, default=5, help="alternating repeats per measurement; medians are reported"
    )
    parser.add_argument("--write", action="store_true", help=f"replace the '{SECTION}' section of bench/RESULTS.md")
    return parser.parse_args(argv)


def alternating_medians(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median (wall seconds, CPU seconds) per run, the runs taken in turn ``repeats`` times after one warm-up each."""
    for run in runs.values():
        run()
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            run()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in runs}


def model_flop_per_token(model_dir: Path) -> tuple[float, float]:
    """(FLOP per token of the model as exported, FLOP per token the fused engine executes).

    A multiply-add is 2 FLOP. Per LSTM direction and token: 4H x (inputs + H) multiply-adds;
    the fused engine skips the first layer's 4H x inputs (its per-word table). The dense output
    layer (24 multiply-adds per review) and the activations are left out of both.
    """
    _, lstms, _, _ = fused._weights(model_dir / ONNX_FILE)
    full = sum(2 * 2 * w.shape[1] * (w.shape[2] + r.shape[2]) for w, r, _ in lstms)
    first_w = lstms[0][0]
    return float(full), float(full - 2 * 2 * first_w.shape[1] * first_w.shape[2])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_at_start = os.getloadavg()[0]
    texts = [record.text for record in read_records(args.data)]
    predictors = {name: Predictor.load(args.model, backend=name, threads=args.threads) for name in ENGINES}
    lengths = [
        min(len(s), predictors["fused"].max_len) for s in predictors["fused"].tokenizer.texts_to_sequences(texts)
    ]
    flop_token, executed_token = model_flop_per_token(args.model)
    flop_review = flop_token * statistics.mean(lengths)
    print(
        f"{len(texts)} reviews, mean {statistics.mean(lengths):.1f} tokens; {os.cpu_count()} CPUs, "
        f"{args.threads} threads, alternating medians of {args.repeats}",
        flush=True,
    )

    a = np.random.default_rng(0).normal(size=(PEAK_SIZE, PEAK_SIZE)).astype(np.float32)
    runs: dict[str, Callable[[], object]] = {"matmul": lambda: a @ a}
    for batch in args.batches:
        for name in ENGINES:
            runs[f"{name} {batch}"] = in_batches(predictors[name].predict_proba, texts, batch)
    medians = alternating_medians(runs, args.repeats)
    peak = 2 * PEAK_SIZE**3 / medians["matmul"][0]
    peak_per_cpu = 2 * PEAK_SIZE**3 / medians["matmul"][1]

    rows: list[tuple[str, str, str]] = []

    def row(name: str, value: str, goal: str = "") -> None:
        rows.append((name, value, goal))
        print(f"  {name}: {value} {goal}", flush=True)

    row(
        "numpy float32 matrix product, 2048^3 (the peak)",
        f"{peak / 1e9:,.0f} GFLOP/s ({peak_per_cpu / 1e9:,.0f} per CPU-s)",
    )
    row(
        "model FLOP per review (exported / executed by fused)",
        f"{flop_review / 1e6:.2f} / {executed_token * statistics.mean(lengths) / 1e6:.2f} MFLOP",
    )
    for batch in args.batches:
        rate = {}
        for name in ENGINES:
            seconds, cpu = medians[f"{name} {batch}"]
            rate[name] = len(texts) / seconds
            row(f"{name}, batch {batch}", f"{rate[name]:,.0f} reviews/s ({len(texts) / cpu:,.0f} per CPU-s)")
            per_cpu = len(texts) / cpu * flop_review
            row(
                f"{name}, batch {batch}: model FLOP/s, share of the peak (per CPU-s: of the peak's per CPU-s)",
                f"{rate[name] * flop_review / 1e9:,.0f} GFLOP/s, {rate[name] * flop_review / peak:.0%} "
                f"({per_cpu / 1e9:,.0f} GFLOP per CPU-s, {per_cpu / peak_per_cpu:.0%})",
                ">= 60%" if name == "fused" and batch == 256 else "",
            )
        row(
            f"fused / onnxruntime, batch {batch}",
            f"{rate['fused'] / rate['onnxruntime']:.2f}x",
            ">= 1.5x" if batch == 256 else "",
        )
    for name in ENGINES:
        ready, rss, peak_rss = startup(args.model, args.threads, min(args.repeats, 3), name)
        row(f"{name}: process start -> first prediction", f"{ready:.2f} s", "< 1 s")
        row(
            f"{name}: RSS after first prediction (peak)",
            f"{rss / 2**20:.0f} MB ({peak_rss / 2**20:.0f} MB)",
            "< 300 MB",
        )

    table = "| measurement | value | goal |\n|---|---:|---|\n" + "".join(f"| {n} | {v} | {g} |\n" for n, v, g in rows)
    print("\n" + table)
    if args.write:
        command = "PYTHONPATH=$PWD .venv/bin/python bench/bench_engines.py " + " ".join(
            shlex.quote(x) for x in sys.argv[1:]
        )
        loads = f"{load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
        replace_section(
            SECTION,
            f"`{command}`\n\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; model "
            f"`{predictors['fused'].version}`; {len(texts)} reviews of {args.data.name} (mean "
            f"{statistics.mean(lengths):.1f} tokens); {os.cpu_count()} CPUs shared with other work (1-min load "
            f"average {loads}); {args.threads} threads; the runs in "
            f"turn, medians of {args.repeats}.\n\n{table}\n{NOTES}",
        )
        print(f"wrote the '{SECTION}' section of {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
