"""Peak memory of ``sentiment-train`` on a file of at least 1M reviews (the repository's samples repeated).

The goal: training streams the full 3.6M-line download in bounded memory, peak RSS
under 4 GB. This runs the real command in a child process on a >= 1M-line fastText file,
with ``--epochs 1 --steps-per-epoch N`` so that the data path (both passes over every line,
the uint16 token matrix, the split, validation over the whole 20%, the TF-IDF baseline and the
artifact) runs in full while the LSTM trains on a few batches only. The peak is the kernel's
``ru_maxrss`` of the child; a psutil sampler adds the RSS seen per phase of the log.

    .venv/bin/python bench/bench_training_memory.py [--lines 1000000] [--steps-per-epoch 20]

Prints a Markdown block for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import bz2
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.paths import OTHER_SAMPLE, TRAIN_SAMPLE

SOURCES = (TRAIN_SAMPLE, OTHER_SAMPLE)
GOAL_BYTES = 4 * 1024**3


def write_repeated(path: Path, lines: int) -> int:
    """The sample lines, repeated until there are at least ``lines`` of them; returns the count written."""
    sample: list[bytes] = []
    for source in SOURCES:
        with bz2.open(source, "rb") as decompressed:
            sample.extend(decompressed)
    written = 0
    with open(path, "wb") as out:
        while written < lines:
            out.writelines(sample)
            written += len(sample)
    return written


def sample_rss(pid: int, peak: dict[str, float], stop: threading.Event) -> None:
    """Largest RSS of the child seen by polling (the exact peak comes from ru_maxrss)."""
    try:
        proc = psutil.Process(pid)
        while not stop.is_set():
            peak["sampled"] = max(peak["sampled"], proc.memory_info().rss)
            time.sleep(0.2)
    except psutil.NoSuchProcess:
        return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000, help="at least this many reviews (default 1,000,000)")
    parser.add_argument("--steps-per-epoch", type=int, default=20, help="LSTM batches trained (default 20)")
    parser.add_argument(
        "--workdir", type=Path, help="where the big file and the artifact go (default: a temporary folder)"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        data = Path(tmp) / "repeated.ft.txt"
        lines = write_repeated(data, args.lines)
        out = Path(tmp) / "model"
        command = [
            sys.executable,
            "-c",
            "from model.train_cli import entry; entry()",
            "--data",
            str(data),
            "--epochs",
            "1",
            "--steps-per-epoch",
            str(args.steps_per_epoch),
            "--out",
            str(out),
            "--no-progress",
        ]
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peak = {"sampled": 0.0}
        stop = threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(child.pid, peak, stop), daemon=True)
        sampler.start()
        _, stderr = child.communicate()
        stop.set()
        seconds = time.perf_counter() - started
        if child.returncode != 0:
            print(stderr[-3000:], file=sys.stderr)
            return 1
        max_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux reports KiB
        meta = json.loads((out / "metadata.json").read_text())
        size = data.stat().st_size

    gib = 1024**3
    print("### training memory (bench/bench_training_memory.py)")
    print()
    print(
        f"Command: `.venv/bin/python bench/bench_training_memory.py --lines {args.lines} "
        f"--steps-per-epoch {args.steps_per_epoch}`"
    )
    print(
        f"(runs `sentiment-train --data <{lines:,} lines, {size / 1e6:,.0f} MB> --epochs 1 "
        f"--steps-per-epoch {args.steps_per_epoch}`)"
    )
    print()
    print("| reviews | train / validation | peak RSS (ru_maxrss) | peak RSS (sampled) | goal | wall | phases (s) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    phases = ", ".join(f"{k.replace('_seconds', '')} {v}" for k, v in meta["timings"].items())
    d = meta["data"]
    print(
        f"| {d['reviews']:,} | {d['train_reviews']:,} / {d['validation_reviews']:,} | {max_rss / gib:.2f} GiB | "
        f"{peak['sampled'] / gib:.2f} GiB | < 4 GiB: {'met' if max_rss < GOAL_BYTES else 'NOT met'} | "
        f"{seconds:.0f} s | {phases} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
