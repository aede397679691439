"""Two builds of the fused engine's kernel side by side in one process: scoring and explaining, interleaved.

    CFLAGS=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_config_var('CFLAGS'))")
    gcc $CFLAGS <the flags of pyproject.toml's ext-modules> -shared -fPIC ... old/_fused_lstm.c -o /tmp/before.so
    PYTHONPATH=$PWD .venv/bin/python bench/bench_kernel_builds.py \
        /tmp/before.so model/_fused_lstm.cpython-311-x86_64-linux-gnu.so

Python's CFLAGS belong in the build because the install passes them too, and they change the code: their -fwrapv
left the kernel's cell scalar before it was written on whole vectors (half the speed of a build without it).

Why: on a machine other work keeps busy, two benchmark runs minutes apart see different machines; here the builds
take turns (A, B, A, B, ...) on the same reviews, and CPU-seconds are reported beside wall-clock. A build without
``occlude`` explains through the engine on every variant (what the Predictor did before the kernel had it).
Prints whether the builds' p_negative agree bitwise on the whole test sample.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.paths import DEFAULT_MODEL_DIR, TEST_SAMPLE
from common.readers import read_records
from model import fused
from model.explain import explain_many, occlusion_by_variants
from model.predictor import Predictor


def load_build(path: Path, number: int) -> ModuleType:
    """The kernel in ``path``, under a name of its own (one already imported would be handed back instead)."""
    spec = importlib.util.spec_from_file_location(f"build{number}._fused_lstm", path)
    assert spec is not None and spec.loader is not None, f"{path} is not a loadable extension module"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("builds", type=Path, nargs=2, help="the two kernel builds (.so), before and after")
    parser.add_argument("--threads", type=int, default=1, help="engine threads [1: CPU-s and wall agree best]")
    parser.add_argument("--repeats", type=int, default=5, help="turns per build; medians are reported [5]")
    parser.add_argument("--explained", type=int, default=300, help="test-sample reviews explained per turn [300]")
    parser.add_argument(
        "--by-variants",
        action="store_true",
        help="both builds explain through the engine on every variant (the kernel's occlude unused)",
    )
    args = parser.parse_args(argv)

    texts = [r.text for r in read_records(TEST_SAMPLE)]
    builds, predictors = [load_build(path, number) for number, path in enumerate(args.builds)], []
    for build in builds:
        fused.kernel = build  # the engine calls the module's kernel: set it before each build's turn
        predictors.append(Predictor.load(DEFAULT_MODEL_DIR, backend="fused", threads=args.threads))
    sequences = predictors[0].tokenizer.texts_to_sequences(texts)
    explained = texts[: args.explained]

    def scoring(predictor: Predictor) -> None:
        for i in range(0, len(sequences), 256):
            predictor._engine(sequences[i : i + 256])

    def explaining(predictor: Predictor) -> None:
        engine: Any = predictor._engine  # the fused engine carries occlude beside its call
        own = hasattr(fused.kernel, "occlude") and not args.by_variants
        occlude = engine.occlude if own else occlusion_by_variants(engine)
        for i in range(0, len(explained), 32):  # the dashboard's chunks of a CSV
            explain_many(occlude, predictor.tokenizer, predictor.max_len, explained[i : i + 32], 3)

    scores = []
    for build, predictor in zip(builds, predictors, strict=True):
        fused.kernel = build
        scores.append(predictor._engine(sequences))
    print(
        f"p_negative of the {len(texts)} reviews bitwise the same under both builds: "
        f"{np.array_equal(scores[0], scores[1])}"
    )
    print(f"1-min load average {os.getloadavg()[0]:.1f} at the start; {args.threads} engine thread(s)")
    for name, work, count in (("scoring, batch 256", scoring, len(texts)), ("explaining", explaining, len(explained))):
        timings = turns(builds, predictors, work, args.repeats)
        for path, (wall, cpu) in zip(args.builds, timings, strict=True):
            print(f"{name}, {path.name}: {count / wall:,.0f} reviews/s, {count / cpu:,.0f} per CPU-s")
        print(
            f"{name}, after / before: {timings[0][1] / timings[1][1]:.2f}x per CPU-s, "
            f"{timings[0][0] / timings[1][0]:.2f}x wall-clock"
        )
    print(f"1-min load average {os.getloadavg()[0]:.1f} at the end")
    return 0


def turns(
    builds: list[ModuleType], predictors: list[Predictor], work: Callable[[Predictor], None], repeats: int
) -> list[tuple[float, float]]:
    """Median (wall, CPU) seconds of ``work`` per build, the builds taking turns after one warm-up each."""
    wall: list[list[float]] = [[] for _ in builds]
    cpu: list[list[float]] = [[] for _ in builds]
    for turn in range(repeats + 1):
        for k, (build, predictor) in enumerate(zip(builds, predictors, strict=True)):
            fused.kernel = build
            started, started_cpu = time.perf_counter(), time.process_time()
            work(predictor)
            if turn:  # the first turn warms up
                wall[k].append(time.perf_counter() - started)
                cpu[k].append(time.process_time() - started_cpu)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(wall, cpu, strict=True)]


if __name__ == "__main__":
    sys.exit(main())
