"""Why a review got its score: each word's effect on p_negative, by occlusion.

A word's effect is ``p_negative(review) - p_negative(review without that word)``: positive
when the word pushes the review toward negative, negative when it pushes toward positive.
The review and one variant per word are scored in ONE call (:func:`occlusion_by_variants`
for any engine; the fused engine's own ``occlude`` computes the same numbers faster); the
engines are batch invariant (a review's score is bitwise the same alone or among others),
so the effects are exact and the same on every call.

Why removal rather than replacing the word by ``<OOV>``: the default model masks padding and
reads reviews of any length, so "the review as if the word had not been written" is an input
it has seen in training, while ``<OOV>`` is itself a word with learnt weights (rare words lean
one way in the training data), which would add its own pull to every attribution.

The model reads only the last ``max_len`` tokens (Keras' 'pre' truncation). Variants remove a
word from that window, so every effect is the change in what the model actually read; words
before the window are marked ``unread`` and have no effect.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from model.tokenizer import KerasTokenizer

# known: in the vocabulary; oov: read as <OOV>; dropped: ignored by the tokenizer (no OOV token);
# unread: before the model's window of max_len tokens.
WordKind = Literal["known", "oov", "dropped", "unread"]
Engine = Callable[[list[list[int]]], np.ndarray]
# Per window of token ids: its p_negative, then its p_negative without each token in turn.
Occluder = Callable[[list[list[int]]], list[np.ndarray]]


@dataclass(frozen=True)
class WordEffect:
    """One word of the original text: its exact span, how the model saw it, and its effect."""

    start: int
    end: int
    text: str
    kind: WordKind
    effect: float | None  # None for dropped and unread words


@dataclass(frozen=True)
class Explanation:
    p_negative: float
    words: tuple[WordEffect, ...]  # every word of the text, in order; the gaps between them are separators
    top_negative: tuple[WordEffect, ...]  # strongest pushes toward negative, strongest first
    top_positive: tuple[WordEffect, ...]  # strongest pushes toward positive, strongest first


def word_spans(tokenizer: KerasTokenizer, text: str) -> list[tuple[int, int]]:
    """(start, end) in ``text`` of each word the tokenizer splits it into, in order.

    A word is a run of characters that are neither filters nor the split character; lowering
    (which the tokenizer does first) never turns a character into one of those, so the runs of
    the original text are exactly the tokenizer's words.
    """
    separators = re.escape(tokenizer.filters + tokenizer.split)
    return [m.span() for m in re.finditer(f"[^{separators}]+", text)]


@dataclass(frozen=True)
class _Reading:
    """One text as the model reads it: its word spans, each word's id (or none), and the window of (word, id)."""

    text: str
    spans: list[tuple[int, int]]
    ids: list[list[int]]
    window: list[tuple[int, int]]


def _read(tokenizer: KerasTokenizer, max_len: int, text: str) -> _Reading:
    if not isinstance(text, str):
        raise TypeError(f"text is {type(text).__name__}, not str")
    if not text.strip():
        raise ValueError("the text is empty or whitespace only; there is nothing to explain")
    spans = word_spans(tokenizer, text)
    words_read = tokenizer.words(text)  # lowered as one text, exactly as the model's input is
    if len(words_read) != len(spans):
        raise AssertionError(f"{len(spans)} word spans for {len(words_read)} tokenizer words in {text!r}")
    ids = tokenizer.texts_to_sequences(words_read)  # one id per word, [] when the tokenizer drops it
    window = [(word, seq[0]) for word, seq in enumerate(ids) if seq][-max_len:]
    if not window:
        raise ValueError("the text has no word the model reads; there is nothing to explain")
    return _Reading(text, spans, ids, window)


def occlusion_by_variants(engine: Engine) -> Occluder:
    """An Occluder for any engine: each window and its variants without each token, in one engine call."""

    def occlude(windows: list[list[int]]) -> list[np.ndarray]:
        variants = [variant for window in windows for variant in _variants(window)]
        ends = np.cumsum([len(window) + 1 for window in windows])
        return np.split(np.asarray(engine(variants)), ends[:-1])

    return occlude


def _variants(window: list[int]) -> list[list[int]]:
    return [window] + [window[:i] + window[i + 1 :] for i in range(len(window))]


def explain_many(
    occlude: Occluder, tokenizer: KerasTokenizer, max_len: int, texts: list[str], top: int = 5
) -> list[Explanation]:
    """Occlusion attributions of several texts from ONE occlusion call over all of them (a CSV explains faster
    in chunks); the same per text as :func:`explain`, since the engines are batch invariant."""
    readings = [_read(tokenizer, max_len, text) for text in texts]
    scores = occlude([[token for _, token in reading.window] for reading in readings]) if readings else []
    oov = tokenizer.word_index.get(tokenizer.oov_token) if tokenizer.oov_token is not None else None
    return [
        _explanation(reading, [float(s) for s in found], oov, top)
        for reading, found in zip(readings, scores, strict=True)
    ]


def explain(occlude: Occluder, tokenizer: KerasTokenizer, max_len: int, text: str, top: int = 5) -> Explanation:
    """Occlusion attributions for one text (see the module docstring); ValueError when nothing can be read."""
    return explain_many(occlude, tokenizer, max_len, [text], top)[0]


def _explanation(reading: _Reading, scores: list[float], oov: int | None, top: int) -> Explanation:
    p = scores[0]
    effects = {word: p - scores[i + 1] for i, (word, _) in enumerate(reading.window)}
    first_read = reading.window[0][0]
    words = tuple(
        WordEffect(a, b, reading.text[a:b], _kind(reading.ids[n], n, first_read, oov), effects.get(n))
        for n, (a, b) in enumerate(reading.spans)
    )
    ranked = sorted(((effects[n], word) for n, word in enumerate(words) if n in effects), key=lambda pair: pair[0])
    toward_positive = tuple(word for effect, word in ranked[:top] if effect < 0)
    toward_negative = tuple(word for effect, word in reversed(ranked[-top:]) if effect > 0)
    return Explanation(p, words, toward_negative, toward_positive)


def _kind(ids: list[int], index: int, first_read: int, oov: int | None) -> WordKind:
    if not ids:
        return "dropped"
    if index < first_read:
        return "unread"
    return "oov" if ids[0] == oov else "known"
