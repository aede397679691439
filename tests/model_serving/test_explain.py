"""Predictor.explain: word effects that predict() itself confirms, on real reviews of the repository's data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.explain import word_spans
from model.predictor import Predictor
from model.tokenizer import DEFAULT_FILTERS, MAX_LEN, KerasTokenizer


@pytest.fixture(scope="module")
def predictor(default_artifact) -> Predictor:
    return Predictor.load(default_artifact)


def _readable(predictor: Predictor, texts: list[str], count: int) -> list[str]:
    """Reviews the model reads whole (at most MAX_LEN tokens), so removing a word from the text is the occlusion."""
    sequences = predictor.tokenizer.texts_to_sequences(texts)
    return [t for t, s in zip(texts, sequences, strict=True) if 5 <= len(s) <= MAX_LEN][:count]


def test_the_strongest_word_really_moves_p_negative_by_the_reported_amount(predictor: Predictor, test_texts) -> None:
    for text in _readable(predictor, test_texts, 40):
        explanation = predictor.explain(text)
        strongest = max((w for w in explanation.words if w.effect is not None), key=lambda w: abs(w.effect or 0))
        without = text[: strongest.start] + " " + text[strongest.end :]
        p, p_without = predictor.predict_proba([text, without])
        assert explanation.p_negative == p
        assert strongest.effect == pytest.approx(float(p) - float(p_without), abs=0.0), text
        tops = explanation.top_negative if (strongest.effect or 0) > 0 else explanation.top_positive
        assert tops[0] == strongest


@pytest.mark.parametrize("backend", ["fused", "onnxruntime"])  # the fused engine's own occlusion, and the variants'
def test_every_words_effect_is_what_predict_gives_without_that_word(default_artifact, backend: str, test_texts) -> None:
    predictor = Predictor.load(default_artifact, backend=backend)
    texts = _readable(predictor, test_texts, 400)
    by_length = sorted(texts, key=len)
    for text in by_length[:: len(by_length) // 12][:12]:  # short to long reviews
        explanation = predictor.explain(text)
        read = [w for w in explanation.words if w.effect is not None]
        scores = predictor.predict_proba([text] + [text[: w.start] + " " + text[w.end :] for w in read])
        assert [w.effect for w in read] == [float(scores[0]) - float(s) for s in scores[1:]], text


def test_attributions_are_deterministic_and_match_the_review_scored_among_others(
    predictor: Predictor, test_texts
) -> None:
    texts = _readable(predictor, test_texts, 30)
    batch = predictor.predict_proba(texts[::-1])[::-1]
    for text, p_in_batch in zip(texts[:10], batch[:10], strict=True):
        first, second = predictor.explain(text), predictor.explain(text)
        assert first == second
        assert first.p_negative == float(p_in_batch)


def test_a_plain_negative_review_is_carried_by_its_negative_words(predictor: Predictor) -> None:
    explanation = predictor.explain("The product is terrible and broke in a day")
    assert explanation.p_negative > 0.5
    assert explanation.top_negative[0].text in ("terrible", "broke")


def test_every_word_keeps_its_exact_span_and_kind(predictor: Predictor) -> None:
    text = "Zyxqwv broke!! After 2 days... *sigh*"
    explanation = predictor.explain(text)
    assert [text[w.start : w.end] for w in explanation.words] == [w.text for w in explanation.words]
    assert [w.text for w in explanation.words] == ["Zyxqwv", "broke", "After", "2", "days", "sigh"]
    kinds = {w.text: w.kind for w in explanation.words}
    assert kinds["Zyxqwv"] == "oov" and kinds["broke"] == "known"
    assert all(w.effect is not None for w in explanation.words)


def test_words_before_the_model_window_are_unread(predictor: Predictor, test_texts) -> None:
    long = next(
        t
        for t, s in zip(test_texts, predictor.tokenizer.texts_to_sequences(test_texts), strict=True)
        if len(s) > MAX_LEN + 5
    )
    explanation = predictor.explain(long)
    read = [w for w in explanation.words if w.kind in ("known", "oov")]
    assert len(read) == MAX_LEN
    unread = [w for w in explanation.words if w.kind == "unread"]
    assert unread and all(w.effect is None for w in unread)
    assert max(w.end for w in unread) <= min(w.start for w in read), "the window is the review's end"


@pytest.mark.parametrize("text", ["", "   \n", "!!!! ... ???", "N/A 42 zzqxw"])
def test_text_without_words_is_a_clear_error(predictor: Predictor, text: str) -> None:
    with pytest.raises(ValueError, match="nothing to (explain|score)"):
        predictor.explain(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aB Σς.é\r\xa0İ'-") + list(DEFAULT_FILTERS)), max_size=60))
def test_word_spans_are_the_tokenizers_words(text: str) -> None:
    tokenizer = KerasTokenizer()
    spans = word_spans(tokenizer, text)
    assert len(spans) == len(tokenizer.words(text))
    separators = set(DEFAULT_FILTERS + " ")
    covered = np.zeros(len(text), dtype=bool)
    for start, end in spans:
        covered[start:end] = True
    assert all(covered[i] != (c in separators) for i, c in enumerate(text)), "spans cover exactly the non-separators"
