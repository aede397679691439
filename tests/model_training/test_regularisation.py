"""The optimisation regularisers of a preset (decoupled weight decay, a moving average of the weights, cosine
learning-rate decay): each flag reaches the compiled optimizer, and with the average on, the weights that early
stopping keeps (and the artifact gets) are the average, not the last raw step."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import model.train
from model.train import PRESETS, TrainOptions, _callbacks, compile_model
from model.train_cli import build_parser, main


def test_default_preset_adds_decoupled_weight_decay_only() -> None:
    preset = PRESETS["default"]
    assert (preset.weight_decay, preset.ema_momentum, preset.lr_schedule) == (0.05, 0.0, "constant")
    optimizer = compile_model(preset).optimizer
    assert optimizer.weight_decay == pytest.approx(0.05)
    assert not optimizer.use_ema
    assert float(optimizer.learning_rate) == pytest.approx(0.01)


def test_flags_reach_the_compiled_optimizer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "train.ft.txt"
    data.write_text("__label__1 bad\n__label__2 good\n", encoding="utf-8")
    seen: dict[str, TrainOptions] = {}

    def fake_train(options: TrainOptions) -> dict:
        seen["options"] = options
        return {"version": "-", "metrics": {}, "baseline": None}

    monkeypatch.setattr(model.train, "train", fake_train)
    argv = ["--data", str(data), "--out", str(tmp_path / "m"), "--ema-momentum", "0.9", "--weight-decay", "0",
            "--lr-schedule", "cosine", "--no-progress"]
    assert main(argv) == 0
    preset = seen["options"].hyperparameters()
    assert (preset.ema_momentum, preset.weight_decay, preset.lr_schedule) == (0.9, 0.0, "cosine")
    assert preset.name == "default+ema_momentum=0.9,weight_decay=0.0,lr_schedule=cosine"

    optimizer = compile_model(preset, steps_per_epoch=7).optimizer
    assert optimizer.use_ema and optimizer.ema_momentum == pytest.approx(0.9)
    assert optimizer.weight_decay is None
    schedule = optimizer.get_config()["learning_rate"]
    assert schedule["class_name"] == "CosineDecay"
    assert schedule["config"]["decay_steps"] == preset.epochs * 7
    assert schedule["config"]["initial_learning_rate"] == pytest.approx(0.01)


@pytest.mark.parametrize("flag, value", [("--ema-momentum", "1"), ("--ema-momentum", "-0.1"), ("--weight-decay", "-1"),
                                         ("--lr-schedule", "linear")])
def test_out_of_range_values_are_refused(flag: str, value: str) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--data", "x", "--out", "y", flag, value])


def test_early_stopping_keeps_the_moving_average(tmp_path: Path) -> None:
    """Momentum ~1 freezes the average at the first step's weights (Keras starts it there), while a large learning
    rate moves the raw weights well away: the best weights checkpointed must be the frozen average."""
    import keras

    preset = dataclasses.replace(PRESETS["default"], num_words=50, epochs=1, learning_rate=0.1, weight_decay=0.0,
                                 ema_momentum=0.999999)
    net = compile_model(preset, steps_per_epoch=4)
    rng = np.random.default_rng(0)
    x = rng.integers(1, 50, (32, 16)).astype("int32")
    y = rng.integers(0, 2, 32).astype("float32")
    options = TrainOptions(data=[], out=tmp_path, progress=False)
    options.checkpoint_dir.mkdir(parents=True)
    raw: dict[int, list[np.ndarray]] = {}

    class RawWeights(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raw[batch] = [np.array(w) for w in self.model.get_weights()]

    callbacks = _callbacks(preset, options, {"history": {}, "epochs_done": 0}, steps=4)
    assert isinstance(callbacks[0], keras.callbacks.SwapEMAWeights)  # first, so the stopper sees the average
    net.fit(x, y, batch_size=8, epochs=1, validation_data=(x, y), verbose=0, callbacks=[RawWeights(), *callbacks])

    with np.load(options.checkpoint_dir / "best.weights.npz") as stored:
        best = [stored[f"w{i}"] for i in range(len(stored.files))]
    assert all(np.allclose(b, first, atol=1e-4) for b, first in zip(best, raw[0]))
    assert max(float(np.abs(b - last).max()) for b, last in zip(best, raw[3])) > 1e-2
