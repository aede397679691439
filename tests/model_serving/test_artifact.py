"""The artifact folder: complete, without optimizer state, and refused when any file is missing or altered."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from model import artifact
from model.artifact import ModelLoadError
from model.predictor import Predictor


@pytest.fixture
def artifact_copy(fixture_artifact: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(fixture_artifact, tmp_path / "copy"))


def test_save_writes_every_file_with_its_checksum(fixture_artifact: Path) -> None:
    meta = artifact.verify(fixture_artifact, required=("model.keras", "tokenizer.json", "model.onnx"))
    assert set(meta["files"]) == {"model.keras", "tokenizer.json", "model.onnx"}
    for name, digest in meta["files"].items():
        assert artifact.file_sha256(fixture_artifact / name) == digest
    assert meta["max_len"] == 166 and meta["num_words"] == 15000
    assert meta["preset"] == "test-fixture" and meta["version"] and meta["created"]
    assert meta["onnx_max_abs_difference"] <= artifact.EXPORT_TOLERANCE
    assert not list(fixture_artifact.glob(".partial-*"))


def test_a_trained_model_is_saved_without_optimizer_state(tmp_path: Path) -> None:
    import keras

    from model.architecture import build_model
    from model.tokenizer import KerasTokenizer

    model = build_model(num_words=100, max_len=12)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.integers(0, 100, (64, 12)), rng.integers(0, 2, (64, 1)), epochs=1, verbose=0)
    tokenizer = KerasTokenizer(num_words=100).fit_on_texts(["good", "bad"])
    out = artifact.save(tmp_path / "trained", model, tokenizer, {})
    with zipfile.ZipFile(out / "model.keras") as archive:
        config = json.loads(archive.read("config.json"))
        weights = archive.read("model.weights.h5")
    assert not config.get("compile_config")
    assert b"optimizer" not in weights
    reloaded = keras.saving.load_model(out / "model.keras", safe_mode=True)
    for saved, original in zip(reloaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, original)


def test_export_matches_keras_on_real_reviews(
    random_model, fitted_tokenizer, test_texts: list[str], tmp_path: Path
) -> None:
    from model import onnx_export

    path = onnx_export.export(random_model, tmp_path / "model.onnx")
    sequences = fitted_tokenizer.texts_to_sequences(test_texts[:1000])
    assert onnx_export.max_abs_difference(random_model, path, sequences, 166) <= 1e-4


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "model.onnx").unlink(), "model.onnx is missing"),
        (lambda d: (d / "tokenizer.json").write_bytes((d / "tokenizer.json").read_bytes()[:1000]), "truncated"),
        (
            lambda d: (d / "model.keras").write_bytes((d / "model.keras").read_bytes() + b"x"),
            "model.keras does not match",
        ),
        (lambda d: (d / "metadata.json").unlink(), "metadata.json is missing"),
        (lambda d: (d / "metadata.json").write_text("{not json"), "not readable JSON"),
    ],
    ids=["missing", "truncated", "tampered", "no-metadata", "bad-metadata"],
)
def test_damaged_artifact_is_refused_naming_the_file(artifact_copy: Path, damage, message: str) -> None:
    damage(artifact_copy)
    with pytest.raises(ModelLoadError, match=message):
        Predictor.load(artifact_copy)


def test_metadata_cannot_point_outside_the_folder(artifact_copy: Path) -> None:
    meta = json.loads((artifact_copy / "metadata.json").read_text())
    meta["files"]["../../etc/passwd"] = "0" * 64
    (artifact_copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="outside the folder"):
        artifact.verify(artifact_copy)


def test_tensorflow_backend_refuses_a_lambda_layer(artifact_copy: Path) -> None:
    import keras

    inputs = keras.Input(shape=(166,), dtype="int32")
    outputs = keras.layers.Lambda(lambda x: keras.ops.cast(x[:, :1], "float32"))(inputs)
    keras.Model(inputs, outputs).save(artifact_copy / "model.keras")
    meta = json.loads((artifact_copy / "metadata.json").read_text())
    meta["files"]["model.keras"] = artifact.file_sha256(artifact_copy / "model.keras")
    meta["file_sizes"]["model.keras"] = (artifact_copy / "model.keras").stat().st_size
    (artifact_copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="Lambda layer"):
        Predictor.load(artifact_copy, backend="tensorflow")


def test_save_refuses_an_export_that_does_not_match(
    random_model, fitted_tokenizer, tmp_path: Path, monkeypatch
) -> None:
    from model import onnx_export

    monkeypatch.setattr(onnx_export, "_keras_gates_to_onnx", lambda matrix: matrix)  # Keras gate order left as is
    with pytest.raises(ValueError, match="ONNX export differs from the Keras model"):
        artifact.save(tmp_path / "bad", random_model, fitted_tokenizer, {})
    assert not (tmp_path / "bad" / "metadata.json").exists()


def test_unmasked_model_is_saved_for_tensorflow_only(fitted_tokenizer, tmp_path: Path, test_texts: list[str]) -> None:
    from model.architecture import build_model

    out = tmp_path / "unmasked"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"stale export of an earlier model")
    artifact.save(out, build_model(masked=False), fitted_tokenizer, {"preset": "seed"})
    meta = artifact.verify(out, required=("model.keras", "tokenizer.json"))
    assert "model.onnx" not in meta["files"] and not (out / "model.onnx").exists()
    assert meta["masked"] is False
    predictor = Predictor.load(out)
    assert predictor.backend == "tensorflow"
    assert predictor.predict_proba(test_texts[:3]).shape == (3,)
    with pytest.raises(ModelLoadError, match="lists no model.onnx"):
        Predictor.load(out, backend="onnxruntime")


def test_save_refuses_a_vocabulary_larger_than_the_embedding(tmp_path: Path) -> None:
    from model.architecture import build_model
    from model.tokenizer import KerasTokenizer

    with pytest.raises(ValueError, match="beyond the embedding"):
        artifact.save(tmp_path / "b", build_model(num_words=100, max_len=12), KerasTokenizer(num_words=15000), {})


def test_file_sha256_hashes_stored_bytes(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"abc")
    assert artifact.file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
