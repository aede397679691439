"""Training throughput of ``sentiment-train`` on this machine, and the wall time it projects for the full Kaggle set.

Runs the real command for two epochs per preset on the repository's training data and times epoch 2 from
the consecutive "epoch done" log lines: a whole epoch (training batches plus the validation pass over the
20% split) with the start-up (TensorFlow import, vocabulary, encoding, graph tracing) left out. The full
rebuild projection scales that epoch to the 3.6M reviews of train.ft.txt at the same 80/20 split, times
the preset's epoch count, plus the vocabulary and encoding passes scaled by the same factor.

    .venv/bin/python bench/bench_training_speed.py                 # default and seed presets
    .venv/bin/python bench/bench_training_speed.py --preset default --write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import replace_section
from common.paths import OTHER_SAMPLE, TRAIN_SAMPLE

FULL_TRAIN_REVIEWS = 3_600_000
SECTION = "## training speed"


@dataclass(frozen=True)
class Run:
    preset: str
    reviews: int  # train + validation reviews in the run
    train_reviews: int
    epochs_planned: int  # the preset's own epoch count, for the projection
    epoch_seconds: list[float]  # epoch 2 onwards
    first_epoch_seconds: float  # from process start: start-up included
    prepare_seconds: float  # vocabulary + encoding

    @property
    def steady_epoch(self) -> float:
        return sorted(self.epoch_seconds)[len(self.epoch_seconds) // 2]

    @property
    def train_reviews_per_second(self) -> float:
        return self.train_reviews / self.steady_epoch

    def projected_full_hours(self) -> float:
        scale = FULL_TRAIN_REVIEWS / self.reviews
        return (self.steady_epoch * self.epochs_planned + self.prepare_seconds) * scale / 3600


def run_preset(preset: str, epochs: int, files: list[Path], workdir: Path) -> Run:
    out = workdir / preset
    command = [
        sys.executable,
        "-c",
        "from model.train_cli import entry; entry()",
        "--data",
        *map(str, files),
        "--preset",
        preset,
        "--epochs",
        str(epochs),
        "--out",
        str(out),
        "--no-progress",
        "--no-baseline",
    ]
    started = time.time()
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    if result.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed:\n{result.stderr[-3000:]}")
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    ends = [entry["ts"] for entry in logs if entry.get("msg") == "epoch done"]
    if len(ends) < 2:
        raise SystemExit(f"{preset}: fewer than two epochs ran (early stopping?); stderr:\n{result.stderr[-2000:]}")
    meta = json.loads((out / "metadata.json").read_text())
    timings, data = meta["timings"], meta["data"]
    from model.train import PRESETS

    return Run(
        preset=preset,
        reviews=data["reviews"],
        train_reviews=data["train_reviews"],
        epochs_planned=PRESETS[preset].epochs,
        epoch_seconds=[b - a for a, b in zip(ends, ends[1:], strict=False)],
        first_epoch_seconds=ends[0] - started,
        prepare_seconds=timings["vocabulary_seconds"] + timings["encode_seconds"],
    )


def report(runs: list[Run], command: str) -> str:
    lines = [
        f"Command: `{command}` on {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "Each preset trains on `data/amazon_polarity/train.sample.ft.txt.bz2` "
        "+ `data/amazon_other/star_polarity.ft.txt.bz2` "
        "for two epochs; the epoch time is epoch 2 (its training batches and the validation pass), start-up excluded. "
        "The projection scales that epoch to the 3,600,000 reviews of the full `train.ft.txt.bz2` (same 80/20 split), "
        "times the preset's epochs (early stopping may end sooner), plus the vocabulary and encoding passes.",
        "",
        "| preset | reviews (train) | epoch 1 incl. start-up | epoch 2 | training reviews/s | projected full rebuild |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        lines.append(
            f"| {run.preset} | {run.reviews:,} ({run.train_reviews:,}) | {run.first_epoch_seconds:.0f} s | "
            f"{run.steady_epoch:.1f} s | {run.train_reviews_per_second:,.0f} | "
            f"{run.projected_full_hours():.1f} h ({run.epochs_planned} epochs) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--preset",
        action="append",
        choices=("default", "seed"),
        help="preset to measure (repeatable) [default and seed]",
    )
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run, at least 2 [2]")
    parser.add_argument("--write", action="store_true", help=f"replace the '{SECTION}' section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: epoch 1 carries the start-up")
    presets = args.preset or ["default", "seed"]
    with tempfile.TemporaryDirectory() as tmp:
        runs = [run_preset(p, args.epochs, [TRAIN_SAMPLE, OTHER_SAMPLE], Path(tmp)) for p in presets]
    command = ".venv/bin/python bench/bench_training_speed.py " + " ".join(
        [f"--preset {p}" for p in args.preset or []] + ([f"--epochs {args.epochs}"] if args.epochs != 2 else [])
    )
    text = report(runs, command.strip())
    print(text)
    if args.write:
        replace_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
