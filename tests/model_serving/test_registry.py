"""Promotion and rollback (model/registry.py, ``sentiment-model``): the pointer, its history, and loads that
never mix two artifacts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from common.config import DEFAULT_MODEL_DIR
from model import registry
from model.predictor import Predictor
from tests.candidate import perturbed_copy

REVIEWS = ["Great product, works as described.", "Broke after two days. Avoid.", "It is fine, nothing special."]


def renamed_copy(source: Path, target: Path, version: str) -> Path:
    """Same weights under another version: enough where only the bookkeeping matters."""
    shutil.copytree(source, target)
    meta = json.loads((target / "metadata.json").read_text())
    meta["version"] = version
    (target / "metadata.json").write_text(json.dumps(meta))
    return target


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    renamed_copy(DEFAULT_MODEL_DIR, folder / "a", "version-a")
    renamed_copy(DEFAULT_MODEL_DIR, folder / "b", "version-b")
    return folder


@pytest.fixture(scope="module")
def candidate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return perturbed_copy(DEFAULT_MODEL_DIR, tmp_path_factory.mktemp("candidate") / "candidate")


def sentiment_model(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "sentiment-model"
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def served_version(models: Path) -> str:
    return json.loads((models / "current" / "metadata.json").read_text())["version"]


def test_promote_points_current_at_the_folder_with_a_relative_link(models: Path) -> None:
    change = registry.promote(models, models / "a")
    assert change.before is None and change.after == (models / "a").resolve() and change.version == "version-a"
    assert os.readlink(models / "current") == "a"  # relative: the folder may be mounted elsewhere
    assert served_version(models) == "version-a"
    assert Predictor.load(models / "current").version == "version-a"


def test_rollback_goes_back_through_every_earlier_model(models: Path) -> None:
    registry.promote(models, models / "a")
    registry.promote(models, models / "b")
    registry.promote(models, models / "a")
    assert served_version(models) == "version-a"
    assert registry.rollback(models).version == "version-b" and served_version(models) == "version-b"
    assert registry.rollback(models).version == "version-a" and served_version(models) == "version-a"
    with pytest.raises(registry.RegistryError, match="nothing to roll back to"):
        registry.rollback(models)
    actions = [(e["action"], e["version"]) for e in registry.history(models)["log"]]
    assert actions == [
        ("promote", "version-a"),
        ("promote", "version-b"),
        ("promote", "version-a"),
        ("rollback", "version-b"),
        ("rollback", "version-a"),
    ]


def test_promoting_the_served_model_changes_nothing(models: Path) -> None:
    registry.promote(models, models / "a")
    assert registry.promote(models, models / "current").before == (models / "a").resolve()
    assert len(registry.history(models)["log"]) == 1


def test_a_pointer_set_by_hand_is_what_rollback_returns_to(models: Path) -> None:
    os.symlink("a", models / "current")
    registry.promote(models, models / "b")
    assert registry.rollback(models).version == "version-a"


def test_an_artifact_that_does_not_load_is_never_served(models: Path) -> None:
    registry.promote(models, models / "a")
    (models / "b" / "model.onnx").write_bytes(b"half a model")
    with pytest.raises(registry.RegistryError, match="cannot be served"):
        registry.promote(models, models / "b")
    assert served_version(models) == "version-a" and len(registry.history(models)["log"]) == 1


def test_an_artifact_outside_the_models_folder_is_linked_absolutely(models: Path, tmp_path: Path) -> None:
    outside = renamed_copy(DEFAULT_MODEL_DIR, tmp_path / "elsewhere", "version-x")
    registry.promote(models, outside)
    assert os.readlink(models / "current") == str(outside.resolve())
    listed = {row.path.resolve(): row for row in registry.list_artifacts(models)}
    assert listed[outside.resolve()].served and not listed[(models / "a").resolve()].served


def test_a_load_through_the_pointer_reads_one_artifact_even_when_it_is_swapped_midway(
    tmp_path: Path, candidate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The swap lands after metadata.json was read and before the model file is: every file must still come
    from the first artifact (the scores are the default's, not the candidate's)."""
    import model.predictor as predictor_module

    models = tmp_path / "models"
    models.mkdir()
    registry.promote(models, DEFAULT_MODEL_DIR)
    load_tokenizer = predictor_module._load_tokenizer

    def swap_then_load(path: Path):
        monkeypatch.setattr(predictor_module, "_load_tokenizer", load_tokenizer)  # once: promote loads too
        registry.promote(models, candidate)
        return load_tokenizer(path)

    monkeypatch.setattr(predictor_module, "_load_tokenizer", swap_then_load)
    loaded = Predictor.load(models / "current")
    default, other = Predictor.load(DEFAULT_MODEL_DIR), Predictor.load(candidate)
    assert served_version(models) == other.version  # the swap did happen during the load
    assert np.array_equal(loaded.predict_proba(REVIEWS), default.predict_proba(REVIEWS))
    assert not np.allclose(other.predict_proba(REVIEWS), default.predict_proba(REVIEWS), atol=1e-3)


def test_the_watcher_follows_the_pointer_and_loads_from_its_real_folder(models: Path) -> None:
    from consumer.model_reload import ModelWatcher

    registry.promote(models, models / "a")
    loaded_from: list[Path] = []

    def load(folder: Path) -> Predictor:
        loaded_from.append(folder)
        return Predictor.load(folder)

    watcher = ModelWatcher(models / "current", Predictor.load(models / "current"), load, poll_seconds=0)
    assert watcher.check() is False
    registry.promote(models, models / "b")
    assert watcher.check() is True and watcher.current().version == "version-b"
    registry.rollback(models)
    assert watcher.check() is True and watcher.current().version == "version-a"
    assert loaded_from == [(models / "b").resolve(), (models / "a").resolve()]


def test_the_command_lists_promotes_and_rolls_back(models: Path) -> None:
    env = {"SENTIMENT_MODELS_DIR": str(models)}
    promoted = sentiment_model("promote", str(models / "b"), env=env)
    assert promoted.returncode == 0, promoted.stderr
    assert sentiment_model("promote", str(models / "a"), env=env).returncode == 0
    listing = sentiment_model("list", env=env)
    assert listing.returncode == 0, listing.stderr
    rows = {line[2:].split()[0]: line for line in listing.stdout.splitlines() if line[2:4] in ("a ", "b ")}
    assert rows["a"].startswith("* ") and "version-a" in rows["a"] and rows["b"].startswith("  ")
    assert "0.8964" in rows["a"]  # the default's test accuracy, from its metadata
    assert f"rollback would serve: {(models / 'b').resolve()}" in listing.stdout
    assert sentiment_model("--models-dir", str(models), "rollback").returncode == 0
    assert served_version(models) == "version-b"
    refused = sentiment_model("rollback", env=env)
    assert refused.returncode == 2 and refused.stderr.startswith("error: nothing to roll back to"), refused.stderr
    missing = sentiment_model("--models-dir", str(models / "none"), "list")
    assert missing.returncode == 2 and "SENTIMENT_MODELS_DIR" in missing.stderr
