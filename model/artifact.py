"""The model artifact folder: what a trained model is on disk, and how to trust it.

    model.keras     Keras 3 model, weights only (no optimizer state): the TensorFlow reference
    tokenizer.json  Keras 2 Tokenizer JSON (model/tokenizer.py)
    model.onnx      the same network as a small ONNX graph (model/onnx_export.py): the fast path
    metadata.json   version, hyperparameters, data, metrics, ... and the sha256 and size of each file above
    report/         written by training; documentation only, not needed to load

``metadata.json`` is written last, so a folder whose save was interrupted has
none and is refused. Loading verifies every listed file against its checksum
first: a missing, truncated or edited file is a ``ModelLoadError`` naming the
file, never a model that quietly predicts something else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

MODEL_FILE = "model.keras"
TOKENIZER_FILE = "tokenizer.json"
ONNX_FILE = "model.onnx"
METADATA_FILE = "metadata.json"
# The training report (model/report.py): documentation only, which the dashboard's model page shows.
REPORT_DIR = "report"
REPORT_METRICS_FILE = "metrics.json"
PR_PLOT = "precision_recall.png"
# The signature of model.onnx (see model/onnx_export.py); here so that serving needs no ``onnx`` import.
ONNX_INPUT_IDS = "token_ids"  # int64 [batch, time], real tokens first, zeros after
ONNX_INPUT_LENGTHS = "sequence_lens"  # int32 [batch], real tokens per row
ONNX_OUTPUT = "p_negative"  # float32 [batch]
FORMAT_VERSION = 1
# The exported graph must reproduce Keras to this tolerance on random reviews, or save refuses.
EXPORT_TOLERANCE = 1e-4


class ModelLoadError(ValueError):
    """An artifact folder that cannot be loaded as it is; the message names the file and the fix."""


def file_sha256(path: str | Path) -> str:
    """SHA-256 of the file's bytes as stored (compressed files hash compressed): artifact files and review data."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomically(path: Path, write) -> None:
    """Write through a temporary name then rename, so a crash never leaves half a file under the real name."""
    tmp = path.with_name(".partial-" + path.name)  # same suffix: keras insists on ".keras"
    write(tmp)
    os.replace(tmp, path)


def _random_sequences(num_words: int, max_len: int, count: int = 48, seed: int = 0) -> list[list[int]]:
    """Token sequences of every kind of length (empty, short, exactly max_len, longer) to check an export."""
    rng = np.random.default_rng(seed)
    lengths = [0, 1, max_len, max_len + 7] + list(rng.integers(1, max_len + 20, count - 4))
    return [rng.integers(1, num_words, size=(n,)).tolist() for n in lengths]


def _without_optimizer(model):
    """A copy of ``model`` that was never compiled: Keras 3 has no ``include_optimizer=False``,
    and ``model.save`` otherwise stores the Adam moments (twice the weights' size)."""
    import keras

    clone = keras.Model.from_config(model.get_config())  # clone_model would copy the compile state
    clone.set_weights(model.get_weights())
    return clone


def save(out_dir: str | Path, model, tokenizer, metadata: dict[str, Any]) -> Path:
    """Write an artifact folder for ``model`` (built by model.architecture) and ``tokenizer``.

    ``metadata`` is recorded as given; ``version`` defaults to a content hash, ``created``
    to now (UTC), and ``max_len``/``num_words``/``files`` are filled in from what is saved.
    A masked model also gets model.onnx, checked against Keras (ValueError if it differs).
    An unmasked model (the published procedure) gets none: it reads the padding, which the
    ONNX graph skips, so only TensorFlow can serve it exactly.
    """
    from model import onnx_export
    from model.architecture import EMBEDDING_LAYER

    embedding = model.get_layer(EMBEDDING_LAYER)
    vocabulary = embedding.input_dim
    if tokenizer.num_words is None or tokenizer.num_words > vocabulary:
        raise ValueError(
            f"tokenizer num_words={tokenizer.num_words} gives ids beyond the embedding's {vocabulary} rows"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # The folder is invalid until the new metadata lands; a stale ONNX file must not outlive its model.
    for stale in (METADATA_FILE, ONNX_FILE):
        (out / stale).unlink(missing_ok=True)
    max_len = int(model.inputs[0].shape[1])
    names = [MODEL_FILE, TOKENIZER_FILE]

    _write_atomically(out / MODEL_FILE, lambda p: _without_optimizer(model).save(p))
    _write_atomically(
        out / TOKENIZER_FILE, lambda p: p.write_text(tokenizer.serving_copy().to_json(), encoding="utf-8")
    )
    difference = None
    if embedding.mask_zero:
        _write_atomically(out / ONNX_FILE, lambda p: onnx_export.export(model, p))
        difference = onnx_export.max_abs_difference(
            model, out / ONNX_FILE, _random_sequences(vocabulary, max_len), max_len
        )
        if not difference <= EXPORT_TOLERANCE:
            raise ValueError(f"ONNX export differs from the Keras model by {difference:.3g} (> {EXPORT_TOLERANCE})")
        names.append(ONNX_FILE)

    files = {name: file_sha256(out / name) for name in names}
    meta = dict(metadata)
    meta.setdefault("version", hashlib.sha256("".join(files.values()).encode()).hexdigest()[:12])
    meta.setdefault("created", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    meta.update(
        format=FORMAT_VERSION,
        max_len=max_len,
        num_words=tokenizer.num_words,
        masked=bool(embedding.mask_zero),
        onnx_max_abs_difference=difference,
        files=files,
        file_sizes={name: (out / name).stat().st_size for name in files},
    )
    write_metadata(out, meta)
    return out


def write_metadata(folder: Path, meta: dict[str, Any]) -> None:
    """Replace the folder's metadata.json in one rename (a polling consumer never reads half of it)."""
    _write_atomically(folder / METADATA_FILE, lambda p: p.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n"))


def read_metadata(model_dir: str | Path) -> dict[str, Any]:
    """The folder's metadata.json, checked for the keys loading relies on."""
    meta = read_metadata_object(model_dir)
    path = Path(model_dir) / METADATA_FILE
    for key, kind in (("version", str), ("files", dict), ("max_len", int)):
        if not isinstance(meta.get(key), kind):
            raise ModelLoadError(f"{path}: '{key}' is missing or not a {kind.__name__}")
    return meta


def read_metadata_object(model_dir: str | Path) -> dict[str, Any]:
    """The folder's metadata.json as it is: what a page that shows any artifact, complete or not, reads."""
    path = Path(model_dir) / METADATA_FILE
    if not Path(model_dir).is_dir():
        raise ModelLoadError(f"model folder {model_dir} does not exist (train one with sentiment-train --out DIR)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{path} is missing: not a model artifact folder, or its save did not finish") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path} is not readable JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise ModelLoadError(f"{path} must hold a JSON object")
    return meta


def verify(model_dir: str | Path, required: Iterable[str] = (TOKENIZER_FILE,)) -> dict[str, Any]:
    """Check every file listed in metadata.json against its sha256 (and ``required`` ones are listed).

    Returns the metadata. Raises ModelLoadError naming the first bad file.
    """
    folder = Path(model_dir)
    meta = read_metadata(folder)
    files: dict[str, Any] = meta["files"]
    sizes: dict[str, Any] = meta.get("file_sizes", {})
    for name in required:
        if name not in files:
            raise ModelLoadError(f"{folder / METADATA_FILE} lists no {name}; the artifact is incomplete")
    for name, expected in files.items():
        if not isinstance(name, str) or Path(name).name != name or name in (".", ".."):
            raise ModelLoadError(f"{folder / METADATA_FILE} lists a file outside the folder: {name!r}")
        path = folder / name
        if not path.is_file():
            raise ModelLoadError(f"{path} is missing (listed in {METADATA_FILE})")
        actual = file_sha256(path)
        if actual != expected:
            size = path.stat().st_size
            hint = (
                f"truncated: {size} bytes, expected {sizes[name]}"
                if isinstance(sizes.get(name), int) and size < sizes[name]
                else "changed since it was saved"
            )
            raise ModelLoadError(f"{path} does not match its sha256 in {METADATA_FILE} ({hint}); re-export the model")
    return meta
