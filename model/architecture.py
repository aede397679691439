"""The published network, in Keras 3.

Embedding 50 -> Dropout 0.2 -> BiLSTM 48 (sequences) -> Dropout 0.2 -> BiLSTM 24
(sequences) -> Dropout 0.2 -> BiLSTM 12 -> Dense 1 sigmoid = p(negative).

``masked=True`` (the default) sets ``mask_zero`` on the embedding so the
padding zeros in front of a review never reach the LSTM state. That makes the
Keras model compute the same function as the ONNX graph in model/onnx_export.py,
which runs only over each review's real tokens; it is also what lets a small
model learn at all. ``masked=False`` is the published (Keras 2) model, kept for
loading their artifacts and for comparison.

Layer names are fixed: the ONNX exporter finds weights by them.
"""

from __future__ import annotations

import keras
from keras import layers

from model.tokenizer import MAX_LEN, NUM_WORDS

EMBEDDING_DIM = 50
LSTM_UNITS = (48, 24, 12)
DROPOUT = 0.2

EMBEDDING_LAYER = "embedding"
LSTM_LAYERS = tuple(f"bilstm_{i}" for i in range(1, len(LSTM_UNITS) + 1))
OUTPUT_LAYER = "p_negative"


def build_model(num_words: int = NUM_WORDS, max_len: int | None = MAX_LEN, masked: bool = True) -> keras.Model:
    """Build the (uncompiled) published architecture; output is the probability of NEGATIVE."""
    inputs = keras.Input(shape=(max_len,), dtype="int32", name="token_ids")
    x = layers.Embedding(num_words, EMBEDDING_DIM, mask_zero=masked, name=EMBEDDING_LAYER)(inputs)
    x = layers.Dropout(DROPOUT, name="dropout_1")(x)
    for i, (units, name) in enumerate(zip(LSTM_UNITS, LSTM_LAYERS, strict=True), start=1):
        last = i == len(LSTM_UNITS)
        x = layers.Bidirectional(layers.LSTM(units, return_sequences=not last), name=name)(x)
        if not last:
            x = layers.Dropout(DROPOUT, name=f"dropout_{i + 1}")(x)
    outputs = layers.Dense(1, activation="sigmoid", name=OUTPUT_LAYER)(x)
    return keras.Model(inputs, outputs, name="review_sentiment_bilstm")
