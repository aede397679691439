"""model.tokenizer must be Keras 2's Tokenizer exactly: same vocabulary order, ids and JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tf_keras.preprocessing import sequence as keras2_sequence  # the test extras install tf_keras
from tf_keras.preprocessing import text as keras2_text

from model.tokenizer import KerasTokenizer, left_aligned, pad


@pytest.fixture(scope="module")
def keras2_tokenizer(train_texts: list[str]):
    tokenizer = keras2_text.Tokenizer(num_words=15000, oov_token="<OOV>")
    tokenizer.fit_on_texts(train_texts)
    return tokenizer


def test_vocabulary_is_identical_in_content_and_order(fitted_tokenizer, keras2_tokenizer) -> None:
    assert list(fitted_tokenizer.word_index.items()) == list(keras2_tokenizer.word_index.items())
    assert list(fitted_tokenizer.word_counts.items()) == list(keras2_tokenizer.word_counts.items())
    assert dict(fitted_tokenizer.word_docs) == dict(keras2_tokenizer.word_docs)
    assert fitted_tokenizer.index_word == keras2_tokenizer.index_word
    assert fitted_tokenizer.document_count == keras2_tokenizer.document_count
    assert len(fitted_tokenizer.word_index) > 15000  # so the num_words cut-off is exercised


def test_sequences_and_padding_are_identical(fitted_tokenizer, keras2_tokenizer, test_texts) -> None:
    ours = fitted_tokenizer.texts_to_sequences(test_texts)
    theirs = keras2_tokenizer.texts_to_sequences(test_texts)
    assert ours == theirs
    assert any(1 in seq for seq in ours)  # OOV ids occur
    padded = pad(ours, 166)
    assert padded.dtype == np.int32
    np.testing.assert_array_equal(padded, keras2_sequence.pad_sequences(theirs, maxlen=166))


def test_json_is_interchangeable_both_ways(fitted_tokenizer, keras2_tokenizer, test_texts) -> None:
    assert fitted_tokenizer.to_json() == keras2_tokenizer.to_json()
    sample = test_texts[:500]
    expected = keras2_tokenizer.texts_to_sequences(sample)
    assert keras2_text.tokenizer_from_json(fitted_tokenizer.to_json()).texts_to_sequences(sample) == expected
    reread = KerasTokenizer.from_json(keras2_tokenizer.to_json())
    assert reread.texts_to_sequences(sample) == expected
    assert reread.to_json() == keras2_tokenizer.to_json()
    # The statistics dicts are decoded on first use, into the same types Keras' own reader gives.
    from_keras = keras2_text.tokenizer_from_json(keras2_tokenizer.to_json())
    for name in ("word_counts", "word_docs", "index_docs", "index_word"):
        assert getattr(reread, name) == getattr(from_keras, name), name


def test_streaming_fit_accumulates_like_keras(train_texts) -> None:
    ours = KerasTokenizer(num_words=50)
    ours.fit_on_texts(iter(train_texts[:300]))
    ours.fit_on_texts(text for text in train_texts[300:600])
    theirs = keras2_text.Tokenizer(num_words=50, oov_token="<OOV>")
    theirs.fit_on_texts(train_texts[:300])
    theirs.fit_on_texts(train_texts[300:600])
    assert list(ours.word_index.items()) == list(theirs.word_index.items())
    assert ours.texts_to_sequences(train_texts[600:700]) == theirs.texts_to_sequences(train_texts[600:700])


def test_from_json_rejects_what_it_cannot_honour() -> None:
    with pytest.raises(ValueError, match="not a Keras tokenizer JSON"):
        KerasTokenizer.from_json('{"config": {}}')
    config = json.loads(KerasTokenizer().fit_on_texts(["a b"]).to_json())
    config["config"]["char_level"] = True
    with pytest.raises(ValueError, match="char_level"):
        KerasTokenizer.from_json(json.dumps(config))


# Punctuation, the filter's own characters, and whitespace Keras does NOT split on (\r, \x0b, \x0c, \x1c,
# \xa0, \u2003). ASCII-only texts take the tokenizer's bytes path, the others its str path: draw both.
_ASCII = "abcABC xyz'!.,;:-_\t\n\r\x0b\x0c\x1c<>0123"
_ALPHABET = st.sampled_from(list(_ASCII + "\xa0\u2003ÉéßΣ"))
_TEXTS = st.lists(
    st.text(_ALPHABET, max_size=40) | st.text(st.sampled_from(list(_ASCII)), max_size=40), min_size=1, max_size=12
)


@settings(max_examples=80, deadline=None)
@given(
    fit=_TEXTS,
    encode=_TEXTS,
    num_words=st.sampled_from([None, 1, 3, 8]),
    oov=st.sampled_from([None, "<OOV>"]),
    lower=st.booleans(),
)
def test_any_text_encodes_like_keras(fit: list[str], encode: list[str], num_words, oov, lower: bool) -> None:
    ours = KerasTokenizer(num_words=num_words, oov_token=oov, lower=lower).fit_on_texts(fit)
    theirs = keras2_text.Tokenizer(num_words=num_words, oov_token=oov, lower=lower)
    theirs.fit_on_texts(fit)
    assert list(ours.word_index.items()) == list(theirs.word_index.items())
    assert ours.texts_to_sequences(encode) == theirs.texts_to_sequences(encode)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(1, 99), max_size=12), max_size=6), st.integers(1, 10))
def test_pad_matches_pad_sequences_and_left_aligned_keeps_the_same_tokens(sequences, max_len) -> None:
    padded = pad(sequences, max_len)
    np.testing.assert_array_equal(padded, keras2_sequence.pad_sequences(sequences, maxlen=max_len))
    ids, lengths = left_aligned(sequences, max_len)
    for row, seq in enumerate(sequences):
        n = lengths[row]
        assert n == min(len(seq), max_len)
        assert list(ids[row, :n]) == list(padded[row, max_len - n :])
        assert not ids[row, n:].any()


def test_the_serving_copy_drops_unreachable_words_and_changes_no_sequence(review_data):
    """Artifacts store only the num_words vocabulary: same ids, ours and Keras 2's, from a fraction of the JSON."""
    from tf_keras.preprocessing.text import tokenizer_from_json

    from common.readers import read_records

    texts = [r.text for r in read_records(review_data / "amazon_polarity" / "train.sample.ft.txt.bz2", limit=4000)]
    full = KerasTokenizer(num_words=2000).fit_on_texts(texts)
    served = full.serving_copy()
    assert len(served.word_index) == 1999 < len(full.word_index)
    assert len(served.to_json()) < len(full.to_json()) / 2
    expected = full.texts_to_sequences(texts)
    assert served.texts_to_sequences(texts) == expected
    assert tokenizer_from_json(served.to_json()).texts_to_sequences(texts) == expected


def test_an_unfitted_tokenizer_without_oov_token_encodes_like_keras() -> None:
    texts = ["Plain ASCII words", "non-ASCII wörds", ""]
    theirs = keras2_text.Tokenizer(num_words=10, oov_token=None)
    assert KerasTokenizer(num_words=10, oov_token=None).texts_to_sequences(texts) == theirs.texts_to_sequences(texts)
