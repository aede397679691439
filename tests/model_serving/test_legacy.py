"""The published Keras 2 artifacts (.h5 + tokenizer.json) load and predict exactly what the published code did.

The artifacts are made here with tf_keras (the Keras 2 API), as the published
work made them: an unmasked model of the same architecture, the tokenizer's
JSON written with ``json.dumps(tokenizer.to_json())``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tf_keras  # the test extras install it: a missing one fails here

from model.artifact import ModelLoadError
from model.predictor import Predictor

pytestmark = pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")


def _published_model(num_words: int = 15000, max_len: int = 166):
    """The published Sequential model in Keras 2, with seeded random weights spread wide enough to matter."""
    layers = tf_keras.layers
    model = tf_keras.Sequential(
        [
            layers.Embedding(num_words, 50, input_length=max_len),
            layers.Dropout(0.2),
            layers.Bidirectional(layers.LSTM(48, return_sequences=True)),
            layers.Dropout(0.2),
            layers.Bidirectional(layers.LSTM(24, return_sequences=True)),
            layers.Dropout(0.2),
            layers.Bidirectional(layers.LSTM(12)),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.build((None, max_len))
    rng = np.random.default_rng(1)
    model.set_weights([w + rng.normal(0.0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    model.compile(optimizer=tf_keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    return model


@pytest.fixture(scope="module")
def published_folder(tmp_path_factory: pytest.TempPathFactory, train_texts: list[str]) -> Path:
    folder = tmp_path_factory.mktemp("published")
    tokenizer = tf_keras.preprocessing.text.Tokenizer(num_words=15000, oov_token="<OOV>")
    tokenizer.fit_on_texts(train_texts)
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer.to_json(), ensure_ascii=False), encoding="utf-8")
    _published_model().save(folder / "review_amazon_sentiment5.h5")
    return folder


@pytest.fixture(scope="module")
def published_code(published_folder: Path) -> Callable[[list[str]], np.ndarray]:
    """The published app's code path: tf_keras tokenizer, pad_sequences(maxlen=166), model.predict."""
    text_api = tf_keras.preprocessing.text
    tokenizer = text_api.tokenizer_from_json(
        json.loads((published_folder / "tokenizer.json").read_text(encoding="utf-8"))
    )
    model = tf_keras.models.load_model(published_folder / "review_amazon_sentiment5.h5")

    def predict(texts: list[str]) -> np.ndarray:
        padded = tf_keras.preprocessing.sequence.pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=166)
        return model.predict(padded, verbose=0).reshape(-1)

    return predict


def test_published_artifacts_predict_exactly_as_the_published_code(
    published_folder: Path, published_code, test_texts: list[str]
) -> None:
    texts = test_texts[:200]
    predictor = Predictor.load(published_folder)
    assert predictor.backend == "legacy"
    assert predictor.version.startswith("legacy-")
    ours = predictor.predict_proba(texts)
    theirs = published_code(texts)
    np.testing.assert_array_equal(ours, theirs)
    assert np.ptp(theirs) > 0.1


def test_published_code_on_one_review_at_a_time_agrees(
    published_folder: Path, published_code, test_texts: list[str]
) -> None:
    texts = test_texts[200:205]
    batched = Predictor.load(published_folder).predict_proba(texts)
    one_by_one = np.concatenate([published_code([text]) for text in texts])
    # Keras is not batch-invariant: a batch of 1 and of 5 take different kernels, which sum in different orders
    # (measured: mostly ~1e-6, once 1.5e-5 in CI); 1e-4 is the float32 engines' tolerance the model issue sets.
    np.testing.assert_allclose(batched, one_by_one, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(batched > 0.5, one_by_one > 0.5)


def test_legacy_folder_without_tokenizer_is_refused(published_folder: Path, tmp_path: Path) -> None:
    (tmp_path / "review_amazon_sentiment5.h5").write_bytes(
        (published_folder / "review_amazon_sentiment5.h5").read_bytes()
    )
    with pytest.raises(ModelLoadError, match="tokenizer.json is missing"):
        Predictor.load(tmp_path, backend="legacy")


def test_legacy_model_with_a_lambda_layer_is_refused(published_folder: Path, tmp_path: Path) -> None:
    model = tf_keras.Sequential([tf_keras.layers.Lambda(lambda x: x * 2.0, input_shape=(166,))])
    model.save(tmp_path / "evil.h5")
    (tmp_path / "tokenizer.json").write_text((published_folder / "tokenizer.json").read_text())
    with pytest.raises(ModelLoadError, match="Lambda layer"):
        Predictor.load(tmp_path)
