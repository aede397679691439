"""Which words carried a verdict: the review shaded word by word, a legend, and the strongest words with numbers.

The shading is never the only carrier of the information (WCAG 1.4.1): the strongest words
are listed with their effects, each shaded word has its effect in a tooltip, and words the
model could not read are said so in text.
"""

from __future__ import annotations

from dash import html

from dashboard.attributes import attributes
from model.explain import Explanation, WordEffect

# rgb of the dashboard's --negative and --positive colours (assets/style.css).
_NEGATIVE_RGB = "214, 69, 69"
_POSITIVE_RGB = "46, 158, 68"
_STRONGEST_ALPHA = 0.55
_KIND_NOTES = {
    "oov": "not in the model's vocabulary (read as an unknown word)",
    "dropped": "ignored by the tokenizer",
    "unread": "beyond the model's window (not read)",
}


def effect_text(effect: float) -> str:
    """An effect in percentage points of p(negative), two significant digits: readable at the tiny sizes of a
    confident verdict (0.00019 is "+0.019 pp") without scientific notation."""
    return f"{effect * 100:+#.2g}".rstrip(".") + " pp"


def word_style(word: WordEffect, scale: float) -> dict[str, str]:
    """Background shade: red toward negative, green toward positive, opacity by size relative to ``scale``."""
    if word.effect is None or scale <= 0 or word.effect == 0:
        return {}
    alpha = _STRONGEST_ALPHA * min(1.0, abs(word.effect) / scale)
    rgb = _NEGATIVE_RGB if word.effect > 0 else _POSITIVE_RGB
    return {"backgroundColor": f"rgba({rgb}, {alpha:.3f})"}


def _word(word: WordEffect, scale: float) -> html.Span:
    if word.effect is None:
        title = f"{word.text}: {_KIND_NOTES[word.kind]}"
    else:
        direction = "toward negative" if word.effect > 0 else "toward positive"
        note = f" ({_KIND_NOTES[word.kind]})" if word.kind in _KIND_NOTES else ""
        title = f"{word.text}: {effect_text(word.effect)} {direction}{note}"
    return html.Span(word.text, title=title, style=word_style(word, scale), className=f"xword {word.kind}")


def shaded_text(text: str, explanation: Explanation) -> html.P:
    """The whole text, separators as written, each word a shaded span."""
    scale = max((abs(w.effect) for w in explanation.words if w.effect is not None), default=0.0)
    parts: list[str | html.Span] = []
    at = 0
    for word in explanation.words:
        if word.start > at:
            parts.append(text[at : word.start])
        parts.append(_word(word, scale))
        at = word.end
    if at < len(text):
        parts.append(text[at:])
    return html.P(
        parts,
        className="explained-text",
        id="review-explained-text",
        **attributes({"aria-describedby": "review-explain-legend"}),
    )


def _top_list(title: str, words: tuple[WordEffect, ...], list_id: str) -> html.Div:
    items = [
        html.Li(
            [
                html.Span(w.text, className="xword-name"),
                " ",
                html.Span(effect_text(w.effect or 0.0), className="xword-effect"),
            ]
        )
        for w in words
    ] or [html.Li("none")]
    return html.Div(
        [
            html.H4(title, id=f"{list_id}-title"),
            html.Ol(items, id=list_id, **attributes({"aria-labelledby": f"{list_id}-title"})),
        ],
        className="top-words",
    )


def explanation_panel(text: str, explanation: Explanation) -> html.Div:
    """Shaded text, its legend, and the strongest words in each direction."""
    unread = sum(w.kind == "unread" for w in explanation.words)
    unknown = sum(w.kind == "oov" for w in explanation.words)
    notes = []
    if unknown:
        notes.append(f"{unknown} word{'s' if unknown != 1 else ''} not in the model's vocabulary (dotted underline).")
    if unread:
        notes.append(f"The model reads only the last words of a long review: the first {unread} were not read (grey).")
    return html.Div(
        [
            html.H3("Which words carried it"),
            html.P(
                [
                    "Each word's effect is how much p(negative) changes when that word alone is taken out. ",
                    html.Span("Red", className="legend-swatch negative"),
                    " pushes toward negative, ",
                    html.Span("green", className="legend-swatch positive"),
                    " toward positive; a stronger shade is a "
                    "larger effect (pp: percentage points of p(negative)). Hover a word for its number.",
                    *(" " + n for n in notes),
                ],
                id="review-explain-legend",
                className="legend",
            ),
            shaded_text(text, explanation),
            html.Div(
                [
                    _top_list("Toward negative", explanation.top_negative, "review-top-negative"),
                    _top_list("Toward positive", explanation.top_positive, "review-top-positive"),
                ],
                className="top-words-row",
            ),
        ],
        className="explanation",
        id="review-explanation",
    )
