"""The Keras 2 ``Tokenizer`` rebuilt in plain Python, without TensorFlow.

Why: the published model was trained with ``keras.preprocessing.text.Tokenizer``
(Keras 2). Its vocabulary order, out-of-vocabulary rule and JSON format are part
of the model: any difference changes the token ids the network sees. Keras 3 no
longer ships that class, and importing TensorFlow only to split strings costs
seconds of start-up and hundreds of MB. This module reproduces it exactly
(verified against ``tf_keras`` in tests/model_serving) and reads and writes the
same JSON, so ``tf_keras.preprocessing.text.tokenizer_from_json`` loads what we
write and we load what it writes.

Speed comes from doing per text only one translation, one ``split`` and one
dict lookup per word, with the ``num_words`` cut-off folded into a precomputed
lookup table. An ASCII text (nearly every review) goes through bytes: one
``bytes.translate`` lowers it and blanks the filters at once, ``bytes.split()``
drops the empty words itself, and words are looked up as bytes: a quarter faster
than ``str`` and exactly the same ids (tested against the ``str`` path and Keras).
"""

from __future__ import annotations

import json
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
NUM_WORDS = 15_000
OOV_TOKEN = "<OOV>"
OOV_ID = 1  # Keras' Tokenizer gives its OOV token the first index
MAX_LEN = 166
# The dicts Keras keeps besides word_index, in get_config's order.
_STATISTICS = ("word_counts", "word_docs", "index_docs", "index_word")


class _ParsedOnFirstUse:
    """A statistics dict of the tokenizer JSON, decoded only when something reads it.

    Why: encoding needs only ``word_index``; the four other dicts (word_counts,
    word_docs, index_docs, index_word) are as large again, and decoding them
    would double the tokenizer's share of start-up time and memory in every
    serving process. Until decoded, ``get_config`` passes the raw JSON on as is.
    """

    def __init__(self, convert: Callable[[dict], dict]) -> None:
        self.convert = convert

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        raw = obj._undecoded.pop(self.name, None)
        if raw is not None:
            obj.__dict__[self.name] = self.convert(json.loads(raw))
        return obj.__dict__[self.name]

    def __set__(self, obj: Any, value: Any) -> None:
        obj._undecoded.pop(self.name, None)
        obj.__dict__[self.name] = value


def _int_keys(mapping: dict) -> dict:
    """JSON object keys are strings; Keras' index dicts are keyed by int."""
    return {int(k): v for k, v in mapping.items()}


class KerasTokenizer:
    """Word tokenizer with the semantics and JSON format of Keras 2's ``Tokenizer``.

    Only the word-level, default-analyzer path is supported (what the published
    work used); ``char_level=True`` is rejected rather than silently mis-handled.
    """

    word_counts = _ParsedOnFirstUse(OrderedDict)
    word_docs = _ParsedOnFirstUse(lambda d: defaultdict(int, d))
    index_docs = _ParsedOnFirstUse(lambda d: defaultdict(int, _int_keys(d)))
    index_word = _ParsedOnFirstUse(_int_keys)

    def __init__(
        self,
        num_words: int | None = NUM_WORDS,
        oov_token: str | None = OOV_TOKEN,
        filters: str = DEFAULT_FILTERS,
        lower: bool = True,
        split: str = " ",
        document_count: int = 0,
    ) -> None:
        if not split:
            raise ValueError("split must be a non-empty string")
        self.num_words = num_words
        self.oov_token = oov_token
        self.filters = filters
        self.lower = lower
        self.split = split
        self.document_count = document_count
        self._undecoded: dict[str, str] = {}  # raw JSON of the statistics dicts (see _ParsedOnFirstUse)
        self.word_counts = OrderedDict()  # these four are _ParsedOnFirstUse descriptors: set, they are plain dicts
        self.word_docs = defaultdict(int)
        self.index_docs = defaultdict(int)
        self.word_index: dict[str, int] = {}
        self.index_word = {}
        self._table = str.maketrans({c: split for c in filters})
        self._lookup: dict[str, int] = {}
        self._ascii_lookup: dict[bytes, int] = {}
        self._ascii_table = _ascii_table(filters, split, lower)
        self._oov_index: int | None = None

    # -- splitting ------------------------------------------------------------
    def words(self, text: str) -> list[str]:
        """Keras' ``text_to_word_sequence``: lower, punctuation to ``split``, split, drop empties."""
        if self.lower:
            text = text.lower()
        return [w for w in text.translate(self._table).split(self.split) if w]

    # -- fitting --------------------------------------------------------------
    def fit_on_texts(self, texts: Iterable[str]) -> KerasTokenizer:
        """Count words over ``texts`` (any iterable, streamed) and rebuild the index.

        May be called repeatedly: counts accumulate, as in Keras.
        """
        counts = self.word_counts
        docs = self.word_docs
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"fit_on_texts expects strings, got {type(text).__name__}")
            self.document_count += 1
            seq = self.words(text)
            for w in seq:
                if w in counts:
                    counts[w] += 1
                else:
                    counts[w] = 1
            # Same iteration as Keras (``set(seq)``), so word_docs comes out in the same order.
            for w in set(seq):
                docs[w] += 1
        self._rebuild_index()
        return self

    def _rebuild_index(self) -> None:
        wcounts = list(self.word_counts.items())
        wcounts.sort(key=lambda x: x[1], reverse=True)  # stable: ties keep first-seen order
        sorted_voc = [] if self.oov_token is None else [self.oov_token]
        sorted_voc.extend(w for w, _ in wcounts)
        self.word_index = dict(zip(sorted_voc, range(1, len(sorted_voc) + 1), strict=True))
        self.index_word = {i: w for w, i in self.word_index.items()}
        self.index_docs = defaultdict(int)
        for w, c in list(self.word_docs.items()):
            self.index_docs[self.word_index[w]] = c
        self._build_lookup()

    def _build_lookup(self) -> None:
        """Fold the ``num_words`` cut-off into one dict so encoding is a single ``get`` per word."""
        limit = self.num_words
        self._oov_index = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        self._lookup = {w: i for w, i in self.word_index.items() if not limit or i < limit}
        if self._ascii_table is not None:
            self._ascii_lookup = {
                w.encode().translate(_KEPT_WHITESPACE): i for w, i in self._lookup.items() if w.isascii()
            }

    # -- encoding -------------------------------------------------------------
    def texts_to_sequences(self, texts: Iterable[str]) -> list[list[int]]:
        """Token ids per text, exactly as Keras 2: words at index >= num_words become the OOV id
        (or are dropped when there is no OOV token)."""
        lookup, ascii_lookup = self._lookup, self._ascii_lookup
        table, ascii_table = self._table, self._ascii_table
        sep = self.split
        lower = self.lower
        oov = self._oov_index
        get, ascii_get = lookup.get, ascii_lookup.get
        out: list[list[int]] = []
        for text in texts:
            if ascii_table is not None and text.isascii():
                ascii_words = text.encode().translate(ascii_table).split()
                if oov is not None:
                    out.append([ascii_get(w, oov) for w in ascii_words])
                else:
                    out.append([ascii_lookup[w] for w in ascii_words if w in ascii_lookup])
                continue
            if lower:
                text = text.lower()
            words = text.translate(table).split(sep)
            if oov is not None:
                out.append([get(w, oov) for w in words if w])
            else:
                out.append([lookup[w] for w in words if w in lookup])
        return out

    def serving_copy(self) -> KerasTokenizer:
        """The same tokenizer without the words beyond ``num_words``.

        Why: Keras keeps statistics for every word it ever saw (about 100,000 on the shared data,
        7 MB of JSON), yet ``texts_to_sequences`` maps any word at index >= num_words to the OOV
        id, exactly as it maps a word it does not know; dropping them changes no sequence.
        """
        if self.num_words is None:
            return self
        kept = {w: i for w, i in self.word_index.items() if i < self.num_words}
        copy = KerasTokenizer(self.num_words, self.oov_token, self.filters, self.lower, self.split, self.document_count)
        copy.word_index = kept
        copy.word_counts = OrderedDict((w, c) for w, c in self.word_counts.items() if w in kept)
        copy.word_docs = defaultdict(int, {w: c for w, c in self.word_docs.items() if w in kept})
        copy.index_docs = defaultdict(int, {i: c for i, c in self.index_docs.items() if i < self.num_words})
        copy.index_word = {i: w for i, w in self.index_word.items() if i < self.num_words}
        copy._build_lookup()
        return copy

    # -- JSON (Keras 2 format) ------------------------------------------------
    def get_config(self) -> dict:
        """The same dictionary as Keras 2's ``Tokenizer.get_config`` (inner dicts as JSON strings)."""
        return {
            "num_words": self.num_words,
            "filters": self.filters,
            "lower": self.lower,
            "split": self.split,
            "char_level": False,
            "oov_token": self.oov_token,
            "document_count": self.document_count,
            **{name: self._undecoded.get(name) or json.dumps(getattr(self, name)) for name in _STATISTICS},
            "word_index": json.dumps(self.word_index),
        }

    def to_json(self, **kwargs) -> str:
        """JSON readable by ``tf_keras.preprocessing.text.tokenizer_from_json``."""
        return json.dumps({"class_name": "Tokenizer", "config": self.get_config()}, **kwargs)

    @classmethod
    def from_json(cls, text: str) -> KerasTokenizer:
        """Read Keras 2 tokenizer JSON (ours or one written by Keras itself)."""
        try:
            config = dict(json.loads(text)["config"])
            if config.pop("char_level", False):
                raise ValueError("char_level tokenizers are not supported")
            if config.pop("analyzer", None) is not None:
                raise ValueError("custom analyzers are not supported")
            undecoded = {name: config.pop(name) for name in _STATISTICS}
            if not all(isinstance(raw, str) for raw in undecoded.values()):
                raise TypeError("statistics must be JSON strings, as Keras writes them")
            word_index = json.loads(config.pop("word_index"))
            tokenizer = cls(
                num_words=config.pop("num_words"),
                oov_token=config.pop("oov_token"),
                filters=config.pop("filters"),
                lower=config.pop("lower"),
                split=config.pop("split"),
                document_count=config.pop("document_count", 0),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a Keras tokenizer JSON: {exc!r}") from exc
        if config:
            raise ValueError(f"unknown tokenizer settings: {sorted(config)}")
        tokenizer._undecoded.update(undecoded)
        tokenizer.word_index = word_index
        tokenizer._build_lookup()
        return tokenizer


# ASCII whitespace that bytes.split() splits on but Keras keeps inside a word (Keras splits on " " only),
# each swapped for a byte no ASCII text contains; vocabulary keys get the same swap.
_SPLIT_WHITESPACE = b"\t\n\x0b\x0c\r"
_KEPT_WHITESPACE = bytes.maketrans(_SPLIT_WHITESPACE, bytes(range(0x80, 0x80 + len(_SPLIT_WHITESPACE))))


def _ascii_table(filters: str, split: str, lower: bool) -> bytes | None:
    """The ``bytes.translate`` table that does ``lower`` and the filter for ASCII text; None unless splitting on " "."""
    if split != " ":
        return None
    table = bytearray(_KEPT_WHITESPACE)
    if lower:
        table[ord("A") : ord("Z") + 1] = range(ord("a"), ord("z") + 1)
    for char in filters:
        if char.isascii():
            table[ord(char)] = ord(" ")
    return bytes(table)


def pad(sequences: Sequence[Sequence[int]], max_len: int = MAX_LEN) -> np.ndarray:
    """``pad_sequences`` defaults: zeros in front ('pre' padding), keep the LAST ``max_len`` ids
    ('pre' truncation), int32 of shape (n, max_len)."""
    out = np.zeros((len(sequences), max_len), dtype=np.int32)
    for row, seq in enumerate(sequences):
        if not len(seq):
            continue
        tail = seq[-max_len:]
        out[row, max_len - len(tail) :] = tail
    return out


def left_aligned(sequences: Sequence[Sequence[int]], max_len: int = MAX_LEN) -> tuple[np.ndarray, np.ndarray]:
    """The same tokens as :func:`pad` (last ``max_len`` ids) but placed FIRST, zeros after,
    in a matrix only as wide as the longest one, plus each row's length.

    Why: the ONNX LSTM reads ``sequence_lens`` and stops there, so trailing zeros
    are never computed on and a batch costs only its longest review.
    """
    tails = [seq[-max_len:] for seq in sequences]
    lengths = np.fromiter((len(t) for t in tails), dtype=np.int32, count=len(tails))
    width = int(lengths.max()) if len(tails) else 0
    ids = np.zeros((len(tails), max(width, 1)), dtype=np.int64)
    for row, tail in enumerate(tails):
        if tail:
            ids[row, : len(tail)] = tail
    return ids, lengths
