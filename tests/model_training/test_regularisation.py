"""``--weight-decay``: the one optimisation regulariser a preset can carry (the architecture is fixed). The default
preset keeps the published plain Adam (bench/RESULTS.md has the measurements); the flag reaches the optimizer."""

from __future__ import annotations

from pathlib import Path

import pytest

import model.train
from model.train import PRESETS, TrainOptions, compile_model
from model.train_cli import build_parser, main


def test_presets_use_plain_adam() -> None:
    for preset in PRESETS.values():
        optimizer = compile_model(preset).optimizer
        assert preset.weight_decay == 0.0 and optimizer.weight_decay is None
        assert float(optimizer.learning_rate) == pytest.approx(0.01)


def test_weight_decay_flag_reaches_the_compiled_optimizer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "train.ft.txt"
    data.write_text("__label__1 bad\n__label__2 good\n", encoding="utf-8")
    seen: dict[str, TrainOptions] = {}

    def fake_train(options: TrainOptions) -> dict:
        seen["options"] = options
        return {"version": "-", "metrics": {}, "baseline": None}

    monkeypatch.setattr(model.train, "train", fake_train)
    assert main(["--data", str(data), "--out", str(tmp_path / "m"), "--weight-decay", "0.05", "--no-progress"]) == 0
    preset = seen["options"].hyperparameters()
    assert preset.weight_decay == 0.05
    assert preset.name == "default+weight_decay=0.05"
    assert compile_model(preset).optimizer.weight_decay == pytest.approx(0.05)


def test_a_negative_weight_decay_is_refused() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--data", "x", "--out", "y", "--weight-decay", "-1"])
