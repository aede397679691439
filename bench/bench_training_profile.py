"""Where one epoch of the default preset's training goes, part by part, on this machine.

Why by parts: ``sentiment-train`` runs one compiled step per batch, which a timer cannot look inside. So the
parts are timed apart on the same batches of a real epoch (the repository's training data, the default
preset's length buckets): the input pipeline alone; forward passes through the model cut after the
embedding, after each BiLSTM and whole (each part is the difference to the cut before it); a whole training
step (its excess over the forward pass is the backward pass and the optimizer); the validation step; and the
callbacks with the progress bar, called as ``fit`` calls them. Each per-batch figure is the mean over the
batches sampled at random (the second pass over them: the first traces every batch width), scaled to the epoch's
batch count. CPU seconds are given beside wall seconds: on a shared machine they are what the work costs.

    .venv/bin/python bench/bench_training_profile.py [--batches 32] [--write]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import replace_section
from common.paths import OTHER_SAMPLE, TRAIN_SAMPLE

SECTION = "## training profile"


def _timed(calls: list[Callable[[], object]]) -> tuple[float, float]:
    """Mean wall and CPU seconds of one call, on a second pass (the first traces each batch width)."""
    for call in calls:
        call()
    wall, cpu = time.perf_counter(), time.process_time()
    for call in calls:
        call()
    return (time.perf_counter() - wall) / len(calls), (time.process_time() - cpu) / len(calls)


def profile(batches: int, seed: int) -> tuple[list[tuple[str, float, float]], dict[str, float]]:
    """(part, wall s per epoch, CPU s per epoch) rows and the epoch's shape."""
    from model.backend import import_keras

    keras = import_keras()
    from model.train import (
        PRESETS,
        TrainOptions,
        _callbacks,
        compile_model,
        encode_files,
        fit_tokenizer,
        make_dataset,
        stratified_split,
    )

    options = TrainOptions(data=[TRAIN_SAMPLE, OTHER_SAMPLE], out=Path(tempfile.mkdtemp()), progress=True)
    preset = PRESETS["default"]
    tokenizer, summaries = fit_tokenizer(options.data, options, preset)
    corpus = encode_files(options.data, options, tokenizer, sum(s.reviews for s in summaries), preset.max_len)
    train_rows, val_rows = stratified_split(corpus.labels, preset)
    training, validation = make_dataset(corpus, train_rows, preset, seed), make_dataset(corpus, val_rows, preset, None)
    rng = np.random.default_rng(seed)
    sample = sorted(rng.choice(len(training), min(batches, len(training)), replace=False))
    val_sample = sorted(rng.choice(len(validation), min(batches, len(validation)), replace=False))
    train_xy = [training[i] for i in sample]
    val_xy = [validation[i] for i in val_sample]

    keras.utils.set_random_seed(seed)
    model = compile_model(preset)
    cuts = [
        ("embedding", "dropout_1"),
        ("BiLSTM 1 (48)", "bilstm_1"),
        ("BiLSTM 2 (24)", "bilstm_2"),
        ("BiLSTM 3 (12) + dense", "p_negative"),
    ]
    forward = []
    for _, layer in cuts:
        part = keras.Model(model.inputs, model.get_layer(layer).output)
        forward.append(_timed([partial(part.predict_on_batch, x) for x, _ in train_xy]))
    step = _timed([partial(model.train_on_batch, x, y) for x, y in train_xy])
    val_step = _timed([partial(model.test_on_batch, x, y) for x, y in val_xy])
    data = _timed([partial(training.__getitem__, i) for i in sample])

    state: dict[str, Any] = {"history": {}}
    options.checkpoint_dir.mkdir(parents=True)
    callbacks = keras.callbacks.CallbackList(_callbacks(preset, options, state, len(training)), model=model)
    logs = model.get_metrics_result()
    logs = {**logs, **{f"val_{k}": v for k, v in logs.items()}}
    callbacks.on_train_begin()
    wall, cpu = time.perf_counter(), time.process_time()
    callbacks.on_epoch_begin(0)
    for batch in range(len(training)):
        callbacks.on_train_batch_begin(batch)
        callbacks.on_train_batch_end(batch, logs)
    callbacks.on_epoch_end(0, logs)
    callback_cost = (time.perf_counter() - wall, time.process_time() - cpu)

    steps, val_steps = len(training), len(validation)
    rows = [("input pipeline (batch gather, per batch in Python)", data[0] * steps, data[1] * steps)]
    previous = (0.0, 0.0)
    for (name, _), cost in zip(cuts, forward, strict=False):
        rows.append((f"forward: {name}", (cost[0] - previous[0]) * steps, (cost[1] - previous[1]) * steps))
        previous = cost
    rows.append(
        (
            "backward pass + Adam update + metrics",
            (step[0] - forward[-1][0]) * steps,
            (step[1] - forward[-1][1]) * steps,
        )
    )
    rows.append(("validation (forward + metrics over the 20%)", val_step[0] * val_steps, val_step[1] * val_steps))
    rows.append(("callbacks: early stopping, checkpoint, progress bar", *callback_cost))
    widths = [x.shape[1] for x, _ in train_xy]
    shape = {
        "steps": steps,
        "val_steps": val_steps,
        "train_reviews": len(train_rows),
        "sampled": len(sample),
        "mean_width": float(np.mean(widths)),
    }
    return rows, shape


def report(rows: list[tuple[str, float, float]], shape: dict[str, float], command: str) -> str:
    total_wall, total_cpu = sum(r[1] for r in rows), sum(r[2] for r in rows)
    lines = [
        (
            f"Command: `{command}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores "
            f"shared with "
            f"other work (load average {os.getloadavg()[0]:.1f} at the end)."
        ),
        "",
        (
            f"One epoch of the default preset on the repository's training data: {shape['steps']} training batches "
            f"of 256 "
            f"({shape['train_reviews']:,} reviews) and {shape['val_steps']} validation batches; {shape['sampled']} "
            f"of each "
            f"sampled at random (mean width {shape['mean_width']:.0f} tokens), means per batch scaled to the epoch."
        ),
        "",
        "| part | wall s / epoch | CPU s / epoch | share of CPU |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, wall, cpu in rows:
        lines.append(f"| {name} | {wall:.1f} | {cpu:.1f} | {cpu / total_cpu:.0%} |")
    lines.append(f"| **sum** | {total_wall:.1f} | {total_cpu:.1f} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=32, help="training and validation batches sampled [32]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the epoch's order and of the sample [0]")
    parser.add_argument("--write", action="store_true", help=f"replace the '{SECTION}' section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    rows, shape = profile(args.batches, args.seed)
    command = ".venv/bin/python bench/bench_training_profile.py" + (
        f" --batches {args.batches}" if args.batches != 32 else ""
    )
    text = report(rows, shape, command)
    print(text)
    if args.write:
        replace_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
