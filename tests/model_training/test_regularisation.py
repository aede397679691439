"""The regularisers a preset can carry while the architecture stays fixed: ``--weight-decay`` (the presets keep the
published plain Adam) and ``--token-dropout`` (word dropout on training batches only); bench/RESULTS.md has the
measurements."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import model.train
from model.train import OOV_ID, PRESETS, Corpus, TrainOptions, batch_arrays, compile_model, make_dataset
from model.train_cli import build_parser, main


def test_presets_use_plain_adam() -> None:
    for preset in PRESETS.values():
        optimizer = compile_model(preset).optimizer
        assert preset.weight_decay == 0.0 and optimizer.weight_decay is None
        assert float(optimizer.learning_rate) == pytest.approx(0.01)


def _preset_of(flags: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> model.train.Preset:
    """The hyperparameters ``sentiment-train`` would train with, given ``flags``."""
    data = tmp_path / "train.ft.txt"
    data.write_text("__label__1 bad\n__label__2 good\n", encoding="utf-8")
    seen: dict[str, TrainOptions] = {}

    def fake_train(options: TrainOptions) -> dict:
        seen["options"] = options
        return {"version": "-", "metrics": {}, "baseline": None}

    monkeypatch.setattr(model.train, "train", fake_train)
    assert main(["--data", str(data), "--out", str(tmp_path / "m"), "--no-progress", *flags]) == 0
    return seen["options"].hyperparameters()


def test_weight_decay_flag_reaches_the_compiled_optimizer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    preset = _preset_of(["--weight-decay", "0.05"], tmp_path, monkeypatch)
    assert preset.weight_decay == 0.05
    assert preset.name == "default+weight_decay=0.05"
    assert compile_model(preset).optimizer.weight_decay == pytest.approx(0.05)


def test_a_negative_weight_decay_is_refused() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--data", "x", "--out", "y", "--weight-decay", "-1"])


def _corpus(rows: int = 64, seed: int = 0) -> Corpus:
    """Reviews of 20-166 tokens, ids >= 2 (never the OOV id), pre-padded with 0."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, 167, rows)
    ids = np.zeros((rows, 166), np.uint16)
    for row, n in enumerate(lengths):
        ids[row, 166 - n :] = rng.integers(2, 15_000, n)
    return Corpus(ids, lengths.astype(np.uint8), rng.integers(0, 2, rows).astype(np.uint8))


def _batches(corpus: Corpus, dropout: float, seed: int | None, epoch: int = 0) -> list[np.ndarray]:
    preset = dataclasses.replace(PRESETS["default"], token_dropout=dropout, batch_size=16)
    dataset = make_dataset(corpus, np.arange(len(corpus)), preset, seed, first_epoch=epoch)
    return [dataset[i][0] for i in range(len(dataset))]


def test_token_dropout_turns_a_share_of_real_tokens_into_oov_and_leaves_padding_alone() -> None:
    corpus = _corpus()
    preset = dataclasses.replace(PRESETS["default"], batch_size=16)
    plan = make_dataset(corpus, np.arange(len(corpus)), preset, seed=0).plan
    clean = [batch_arrays(corpus, rows, 166, True)[0] for rows in plan]
    dropped = _batches(corpus, 0.25, seed=0)
    tokens = changed = 0
    for before, after in zip(clean, dropped, strict=True):
        assert np.array_equal(after == 0, before == 0)  # padding stays padding, nothing becomes padding
        differs = after != before
        assert np.all(after[differs] == OOV_ID)
        tokens += int((before > 0).sum())
        changed += int(differs.sum())
    assert 0.22 < changed / tokens < 0.28, changed / tokens


def test_token_dropout_is_reproducible_per_epoch_and_off_for_validation() -> None:
    corpus = _corpus()
    first = _batches(corpus, 0.25, seed=3, epoch=1)
    assert all(np.array_equal(a, b) for a, b in zip(first, _batches(corpus, 0.25, seed=3, epoch=1), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, _batches(corpus, 0.25, seed=3, epoch=2), strict=True))
    validation = _batches(corpus, 0.25, seed=None)  # validation batches are made without a seed
    assert not any((batch == OOV_ID).any() for batch in validation)


def test_token_dropout_flag_reaches_the_preset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    preset = _preset_of(["--token-dropout", "0.1"], tmp_path, monkeypatch)
    assert preset.token_dropout == 0.1 and preset.name.endswith("token_dropout=0.1")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--data", "x", "--out", "y", "--token-dropout", "1.5"])
