"""The default preset's training step on each of Keras 3's backends, on this machine's CPUs.

Why: TensorFlow's CPU path was profiled and every TensorFlow-side speed-up tried for training was slower or no
better ("training speed: what was tried" in bench/RESULTS.md); the one candidate left was another Keras
backend. This runs the same training steps on each: the default preset's model and compile settings
(model/train.py's ``compile_model``), the first batches of its epoch-1 plan on the repository's training data
(``make_dataset``: length buckets, each batch padded to its own longest review), and identical initial weights.
Each backend gets its own subprocess (Keras fixes the backend at import) and runs ``train_on_batch`` over the
batches twice: the first pass compiles every batch width, the second is timed, in wall and in process CPU
seconds (all threads). Rounds are interleaved, the order reversed every round, because the machine is shared;
on a busy machine CPU seconds are the comparable cost and wall time is only the share of the cores we got.

jax and torch are not project dependencies: install them outside the project's venv and name the folder.

    .venv/bin/pip install --target /tmp/jaxpkgs "jax[cpu]"
    .venv/bin/python bench/bench_training_backends.py --backends tensorflow,jax --packages jax=/tmp/jaxpkgs [--write]
    .venv/bin/pip install --target /tmp/torchpkgs torch      # PyPI's build, CUDA libraries included: 5 GB
    .venv/bin/python bench/bench_training_backends.py --backends tensorflow,jax,torch \
        --packages jax=/tmp/jaxpkgs,torch=/tmp/torchpkgs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import replace_section
from common.paths import OTHER_SAMPLE, TRAIN_SAMPLE

SECTION = "## training backends"
BASELINE = "tensorflow"
BACKENDS = ("tensorflow", "jax", "torch")


@dataclass(frozen=True)
class Run:
    """One backend's two passes over the batches, as its subprocess reported them."""

    round: int
    backend: str
    version: str
    warmup_wall: float
    wall: float
    cpu: float
    warmup_loss: float  # mean batch loss of the first pass, from the shared initial weights
    loss: float  # mean batch loss of the second pass
    load: tuple[float, float]  # 1-minute load average before and after


def prepare(path: Path, batches: int, seed: int) -> tuple[int, int, float]:
    """The first ``batches`` training batches of the default preset's epoch-1 plan and fresh initial weights, into
    ``path`` (npz); returns the batches, their reviews and their mean width."""
    from model.backend import import_keras

    keras = import_keras()
    from model.train import (
        PRESETS,
        TrainOptions,
        compile_model,
        encode_files,
        fit_tokenizer,
        make_dataset,
        stratified_split,
    )

    preset = PRESETS["default"]
    options = TrainOptions(data=[TRAIN_SAMPLE, OTHER_SAMPLE], out=path.parent, progress=False)
    tokenizer, summaries = fit_tokenizer(options.data, options, preset)
    corpus = encode_files(options.data, options, tokenizer, sum(s.reviews for s in summaries), preset.max_len)
    train_rows, _ = stratified_split(corpus.labels, preset)
    training = make_dataset(corpus, train_rows, preset, seed)
    pairs = [training[i] for i in range(min(batches, len(training)))]
    keras.utils.set_random_seed(seed)
    weights = compile_model(preset).get_weights()
    arrays = {f"x{i}": x for i, (x, _) in enumerate(pairs)} | {f"y{i}": y for i, (_, y) in enumerate(pairs)}
    np.savez(path, **arrays, **{f"w{i}": w for i, w in enumerate(weights)})
    return len(pairs), sum(len(y) for _, y in pairs), float(np.mean([x.shape[1] for x, _ in pairs]))


def measure(path: Path, seed: int) -> dict:
    """In the backend's own process: both passes of ``train_on_batch`` over the prepared batches."""
    from model.backend import import_keras

    keras = import_keras()
    from model.train import PRESETS, compile_model

    with np.load(path) as stored:
        count = sum(1 for name in stored.files if name.startswith("x"))
        pairs = [(stored[f"x{i}"], stored[f"y{i}"]) for i in range(count)]
        weights = [stored[f"w{i}"] for i in range(sum(1 for name in stored.files if name.startswith("w")))]
    keras.utils.set_random_seed(seed)
    model = compile_model(PRESETS["default"])
    model.set_weights(weights)

    def one_pass() -> tuple[float, float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        losses = [float(model.train_on_batch(x, y, return_dict=True)["loss"]) for x, y in pairs]
        return time.perf_counter() - wall, time.process_time() - cpu, float(np.mean(losses))

    load_before = os.getloadavg()[0]
    warmup_wall, _, warmup_loss = one_pass()
    wall, cpu, loss = one_pass()
    backend = keras.backend.backend()
    version = __import__(backend).__version__
    return {
        "backend": backend,
        "version": version,
        "warmup_wall": warmup_wall,
        "wall": wall,
        "cpu": cpu,
        "warmup_loss": warmup_loss,
        "loss": loss,
        "load": (load_before, os.getloadavg()[0]),
    }


def _environment(backend: str, packages: dict[str, str]) -> dict[str, str]:
    path = [packages[backend]] if backend in packages else []
    return {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": os.pathsep.join([*path, str(ROOT)])}


def check_installed(backends: list[str], packages: dict[str, str]) -> None:
    """Fail before any measuring when a backend cannot be imported, saying how to get it."""
    for backend in backends:
        probe = subprocess.run(
            [sys.executable, "-c", f"import {backend}"],
            check=False,
            env=_environment(backend, packages),
            capture_output=True,
            text=True,
        )
        if probe.returncode != 0:
            wheel = '"jax[cpu]"' if backend == "jax" else backend
            raise SystemExit(
                f"{backend} cannot be imported ({probe.stderr.strip().splitlines()[-1]}); it is not a project "
                f"dependency: .venv/bin/pip install --target /tmp/{backend}pkgs {wheel} and pass "
                f"--packages {backend}=/tmp/{backend}pkgs"
            )


def run_backend(backend: str, round_: int, path: Path, seed: int, packages: dict[str, str]) -> Run:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(path), "--seed", str(seed)]
    result = subprocess.run(command, check=False, env=_environment(backend, packages), capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"the {backend} run failed:\n{result.stderr[-3000:]}")
    doc = json.loads(result.stdout.strip().splitlines()[-1])
    if doc["backend"] != backend:
        raise SystemExit(f"asked for the {backend} backend, Keras ran {doc['backend']}")
    return Run(round=round_, **{**doc, "load": tuple(doc["load"])})


def report(runs: list[Run], reviews: int, batches: int, width: float, command: str) -> str:
    """The runs in order, then each backend's median and its ratio to TensorFlow's."""
    lines = [
        (
            f"Command: `{command}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores "
            f"shared with "
            f"other work (1-minute load average "
            f"{min(min(r.load) for r in runs):.1f}-{max(max(r.load) for r in runs):.1f} "
            "during the runs)."
        ),
        "",
        (
            f"The default preset's model and compile settings, its first {batches} training batches of epoch 1 on the "
            f"repository's data ({reviews:,} reviews, mean width {width:.0f} tokens), identical initial weights; "
            "`train_on_batch` over them twice per run, the second pass timed (the first compiles every batch width). "
            "Loss: the mean batch loss of each pass."
        ),
        "",
        (
            "| round | backend | compile pass wall s | timed wall s | timed CPU s | reviews/s (wall) | reviews per "
            "CPU s | "
            "loss pass 1 | loss pass 2 | load |"
        ),
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in runs:
        lines.append(
            f"| {r.round + 1} | {r.backend} {r.version} | {r.warmup_wall:.1f} | {r.wall:.1f} | {r.cpu:.1f} | "
            f"{reviews / r.wall:,.0f} | {reviews / r.cpu:,.0f} | {r.warmup_loss:.4f} | {r.loss:.4f} | "
            f"{r.load[0]:.1f}-{r.load[1]:.1f} |"
        )
    medians = {
        b: (
            float(np.median([r.wall for r in runs if r.backend == b])),
            float(np.median([r.cpu for r in runs if r.backend == b])),
        )
        for b in dict.fromkeys(r.backend for r in runs)
    }
    lines += [
        "",
        "| backend | median timed wall s | median timed CPU s | CPU s vs TensorFlow | wall s vs TensorFlow |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    base = medians.get(BASELINE)
    for backend, (wall, cpu) in medians.items():
        ratio = f"{cpu / base[1]:.2f}x | {wall / base[0]:.2f}x" if base else "- | -"
        lines.append(f"| {backend} | {wall:.1f} | {cpu:.1f} | {ratio} |")
    return "\n".join(lines)


def _packages(text: str) -> dict[str, str]:
    pairs = [item.split("=", 1) for item in text.split(",") if item]
    if any(len(p) != 2 or p[0] not in BACKENDS for p in pairs):
        raise SystemExit(
            f"--packages: expected BACKEND=DIR[,BACKEND=DIR], BACKEND one of {', '.join(BACKENDS)}; got {text!r}"
        )
    return dict(pairs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    env = os.environ.get
    parser.add_argument(
        "--backends",
        default=env("BENCH_BACKENDS", "tensorflow,jax"),
        help="comma-separated Keras backends, in the first round's order [tensorflow,jax] (env BENCH_BACKENDS)",
    )
    parser.add_argument(
        "--packages",
        default=env("BENCH_BACKEND_PACKAGES", ""),
        help="BACKEND=DIR[,...]: a folder put on the backend's PYTHONPATH, where pip --target installed it "
        "(env BENCH_BACKEND_PACKAGES)",
    )
    parser.add_argument(
        "--batches",
        type=int,
        default=int(env("BENCH_BATCHES", "40")),
        help="training batches of 256, from the start of the epoch-1 plan [40] (env BENCH_BATCHES)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=int(env("BENCH_ROUNDS", "2")),
        help="runs per backend, interleaved [2] (env BENCH_ROUNDS)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=int(env("BENCH_SEED", "0")),
        help="epoch order and weights seed [0] (env BENCH_SEED)",
    )
    parser.add_argument("--write", action="store_true", help=f"replace the '{SECTION}' section of bench/RESULTS.md")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args.worker, args.seed)))
        return 0

    if args.batches < 1 or args.rounds < 1:
        raise SystemExit("--batches and --rounds: at least 1")
    backends = [b for b in args.backends.split(",") if b]
    if unknown := [b for b in backends if b not in BACKENDS]:
        raise SystemExit(f"--backends: unknown {', '.join(unknown)}; expected some of {', '.join(BACKENDS)}")
    packages = _packages(args.packages)
    check_installed(backends, packages)
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "batches.npz"
        batches, reviews, width = prepare(path, args.batches, args.seed)
        runs = []
        for round_ in range(args.rounds):
            for backend in backends if round_ % 2 == 0 else backends[::-1]:
                runs.append(run_backend(backend, round_, path, args.seed, packages))
                print(runs[-1], file=sys.stderr, flush=True)
    command = (
        ".venv/bin/python bench/bench_training_backends.py --backends "
        + ",".join(backends)
        + (f" --packages {args.packages}" if args.packages else "")
        + f" --batches {args.batches} --rounds {args.rounds}"
    )
    text = report(runs, reviews, batches, width, command)
    print(text)
    if args.write:
        replace_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
