"""The explanation panel: the whole text with each word shaded by its effect, and the strongest words in words."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboard.explanation_view import effect_text, explanation_panel, shaded_text


def _texts(component) -> list[str]:
    """Every string in a Dash component tree, in document order."""
    if isinstance(component, str):
        return [component]
    children = getattr(component, "children", None)
    if children is None:
        return []
    if not isinstance(children, (list, tuple)):
        children = [children]
    return [s for child in children for s in _texts(child)]


def _spans(component) -> list[Any]:  # Dash components, whose props mypy does not see as attributes
    found = (
        [component]
        if isinstance(component, html.Span) and "xword" in (getattr(component, "className", None) or "").split()
        else []
    )
    children = getattr(component, "children", None)
    if isinstance(children, (list, tuple)):
        for child in children:
            found += _spans(child)
    return found


def test_the_shaded_text_is_the_review_whole_and_colours_follow_the_effects(default_predictor) -> None:
    text = "Zyxqwv: the blender is great... but it broke after a week!!"
    explanation = default_predictor.explain(text)
    paragraph = shaded_text(text, explanation)
    assert "".join(_texts(paragraph)) == text
    spans = _spans(paragraph)
    assert [s.children for s in spans] == [w.text for w in explanation.words]
    for span, word in zip(spans, explanation.words, strict=True):
        colour = span.style.get("backgroundColor", "")
        if word.effect and word.effect > 0:
            assert colour.startswith("rgba(214, 69, 69"), (word, colour)
        elif word.effect and word.effect < 0:
            assert colour.startswith("rgba(46, 158, 68"), (word, colour)
        assert f"{word.text}:" in span.title
    strongest = max(explanation.words, key=lambda w: abs(w.effect or 0))
    assert spans[explanation.words.index(strongest)].style["backgroundColor"].endswith(", 0.550)")
    assert "oov" in spans[0].className and "vocabulary" in spans[0].title


def test_the_strongest_words_are_listed_with_their_numbers(default_predictor) -> None:
    text = "The product is terrible and broke in a day"
    explanation = default_predictor.explain(text)
    panel = explanation_panel(text, explanation)
    words = "".join(_texts(panel))
    top = explanation.top_negative[0]
    assert top.text in ("terrible", "broke")
    assert f"{top.text} {effect_text(top.effect)}" in words
    assert "Toward negative" in words and "Toward positive" in words


def test_effects_read_as_percentage_points_without_scientific_notation() -> None:
    assert effect_text(0.00019) == "+0.019 pp"
    assert effect_text(-0.0000055) == "-0.00055 pp"
    assert effect_text(0.25) == "+25 pp"
    assert effect_text(0.1) == "+10 pp"
