"""Load the published Keras 2 artifacts: a ``.h5`` model and its ``tokenizer.json``.

The published app saved ``review_amazon_sentiment5.h5`` (Keras 2, unmasked,
pre-padded to 166) and the tokenizer's ``to_json()``, and predicted with
``model.predict(pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=166))``.
This engine computes exactly that, through ``tf_keras`` (the Keras 2 API), so a
folder holding those two files can be served by the same ``Predictor``. Our
tokenizer is used because it is proven identical to Keras 2's (tests) and needs
no TensorFlow; the network itself runs in tf_keras as it always did.

Such a folder has no metadata.json and so no checksums to verify; its version
is derived from the model file's sha256 so that results can still be traced.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from model.artifact import METADATA_FILE, TOKENIZER_FILE, ModelLoadError, file_sha256
from model.tokenizer import KerasTokenizer, pad

# The published app's model.predict used Keras' default batch size.
KERAS2_PREDICT_BATCH = 32


def _h5_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.h5")) if folder.is_dir() else []


def is_legacy_folder(folder: Path) -> bool:
    """A folder of published files: one .h5 model and tokenizer.json, no metadata.json."""
    return not (folder / METADATA_FILE).exists() and (folder / TOKENIZER_FILE).is_file() and len(_h5_files(folder)) == 1


def read_tokenizer(path: Path) -> KerasTokenizer:
    """Keras 2 tokenizer JSON, also when saved the common way
    ``json.dumps(tokenizer.to_json())`` (a JSON string of JSON).
    """
    try:
        text = path.read_text(encoding="utf-8")
        decoded = json.loads(text)
        return KerasTokenizer.from_json(decoded if isinstance(decoded, str) else text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not a Keras tokenizer JSON: {exc}") from None


def _model_config(path: Path) -> dict:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
    except OSError as exc:
        raise ModelLoadError(f"{path} is not a readable HDF5 Keras model: {exc}") from None
    if raw is None:
        raise ModelLoadError(f"{path} holds weights only (no model_config); a full saved model is needed")
    return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)


def load(folder: Path, threads: int | None = None):
    """(engine, tokenizer, metadata) for a folder of published Keras 2 files."""
    from model.predictor import refuse_lambda_layers

    models = _h5_files(folder)
    if len(models) != 1:
        raise ModelLoadError(f"{folder} must hold exactly one .h5 Keras 2 model, found {len(models)}")
    if not (folder / TOKENIZER_FILE).is_file():
        raise ModelLoadError(f"{folder / TOKENIZER_FILE} is missing; the published model needs its tokenizer")
    model_path = models[0]
    refuse_lambda_layers(_model_config(model_path), model_path)
    tokenizer = read_tokenizer(folder / TOKENIZER_FILE)

    import tensorflow as tf
    import tf_keras

    if threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    try:
        model = tf_keras.models.load_model(model_path, compile=False)
    except Exception as exc:  # noqa: BLE001 - h5py/tf_keras raise many types for a bad file
        raise ModelLoadError(f"{model_path} could not be loaded by tf_keras: {exc}") from None
    max_len = int(model.inputs[0].shape[1] or 166)
    digest = file_sha256(model_path)
    metadata = {
        "version": f"legacy-{digest[:12]}",
        "preset": "published",
        "max_len": max_len,
        "num_words": tokenizer.num_words,
        "files": {model_path.name: digest, TOKENIZER_FILE: file_sha256(folder / TOKENIZER_FILE)},
        "libraries": {"tf_keras": tf_keras.__version__, "tensorflow": tf.__version__},
    }

    def run(sequences: list[list[int]]) -> np.ndarray:
        x = pad(sequences, max_len)
        return np.asarray(model.predict(x, batch_size=KERAS2_PREDICT_BATCH, verbose=0)).reshape(-1).astype(np.float32)

    return run, tokenizer, metadata
