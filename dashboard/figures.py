"""Plotly figures of the dashboard: pure functions of plain numbers, one look throughout.

Green is positive and red negative everywhere, as in the published app. Every
figure keeps the user's zoom across refreshes (``uirevision``) and says so
plainly when it has nothing to show instead of drawing empty axes.

Figures are plain Plotly JSON (dicts), not ``plotly.graph_objects``: the live
tab rebuilds five of them every second for every open page, and building them
through the objects makes a refresh about 5 times slower (bench/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

Figure = dict[str, Any]

POSITIVE_COLOUR = "#2e9e44"
NEGATIVE_COLOUR = "#d64545"
NOT_SCORED_COLOUR = "#9aa0a6"
COLOURS = {"positive": POSITIVE_COLOUR, "negative": NEGATIVE_COLOUR, "not scored": NOT_SCORED_COLOUR}
FONT = "Inter, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
_GRID = "#e6e9ee"
_HIDDEN = {"visible": False}


def _axis(**extra: Any) -> dict[str, Any]:
    return {"gridcolor": _GRID, "zeroline": False, "automargin": True, **extra}


def _figure(data: list[dict[str, Any]], height: int, revision: str, **layout: Any) -> Figure:
    base: dict[str, Any] = {
        "height": height,
        "margin": {"l": 48, "r": 16, "t": 16, "b": 40},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": FONT, "size": 13, "color": "#1f2933"},
        "uirevision": revision,
        "showlegend": False,
        "xaxis": _axis(),
        "yaxis": _axis(),
    }
    base.update(layout)
    return {"data": data, "layout": base}


def empty_figure(message: str, height: int = 280) -> Figure:
    """A blank figure that says why it is blank."""
    note = {
        "text": message,
        "showarrow": False,
        "font": {"size": 15, "color": "#6b7785"},
        "xref": "paper",
        "yref": "paper",
        "x": 0.5,
        "y": 0.5,
    }
    return _figure([], height, "empty", xaxis=_HIDDEN, yaxis=_HIDDEN, annotations=[note])


def bar_figure(counts: Mapping[str, int], height: int = 280, revision: str = "bar") -> Figure:
    """Counts per label as bars, each bar labelled with its count."""
    labels = [k for k in counts if counts[k] or k != "not scored"]
    values = [counts[k] for k in labels]
    if not sum(values):
        return empty_figure("waiting for data", height)
    bar = {
        "type": "bar",
        "x": labels,
        "y": values,
        "marker": {"color": [COLOURS.get(k, NOT_SCORED_COLOUR) for k in labels]},
        "text": [f"{v:,}" for v in values],
        "textposition": "auto",
        "hovertemplate": "%{x}: %{y:,}<extra></extra>",
    }
    return _figure([bar], height, revision, yaxis=_axis(title={"text": "reviews"}, rangemode="tozero"))


def pie_figure(counts: Mapping[str, int], height: int = 280, revision: str = "pie") -> Figure:
    """Shares per label as a donut."""
    labels = [k for k in counts if counts[k]]
    if not labels:
        return empty_figure("waiting for data", height)
    pie = {
        "type": "pie",
        "labels": labels,
        "values": [counts[k] for k in labels],
        "marker": {"colors": [COLOURS.get(k, NOT_SCORED_COLOUR) for k in labels]},
        "hole": 0.45,
        "sort": False,
        "textinfo": "label+percent",
        "textposition": "outside",  # small slices keep their label
        "automargin": True,
        "hovertemplate": "%{label}: %{value:,} (%{percent})<extra></extra>",
    }
    return _figure([pie], height, revision, margin={"l": 24, "r": 24, "t": 24, "b": 24})


def timeseries_figure(
    bins: Sequence[tuple[float, int, int]], bin_seconds: int, height: int = 300, revision: str = "series"
) -> Figure:
    """Positives and negatives per interval as stacked bars; ``bins`` = (start second, pos, neg)."""
    if not any(p or n for _, p, n in bins):
        return empty_figure("waiting for data", height)
    times = [datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M:%S") for t, _, _ in bins]
    data = [
        {
            "type": "bar",
            "x": times,
            "y": [b[index] for b in bins],
            "name": name,
            "marker": {"color": colour},
            "hovertemplate": f"%{{x|%H:%M:%S}} UTC: %{{y:,}} {name}<extra></extra>",
        }
        for name, index, colour in (("positive", 1, POSITIVE_COLOUR), ("negative", 2, NEGATIVE_COLOUR))
    ]
    return _figure(
        data,
        height,
        revision,
        barmode="stack",
        bargap=0.1,
        showlegend=True,
        legend={"orientation": "h", "y": 1.1, "x": 0},
        xaxis=_axis(type="date", title={"text": f"scored at (UTC), {bin_seconds} s intervals"}),
        yaxis=_axis(title={"text": "reviews"}, rangemode="tozero"),
    )


def agreement_figure(agreement: tuple[tuple[int, int, int], ...], height: int = 280) -> Figure:
    """Share of reviews on which the shadow agreed with the served model, per minute."""
    if not agreement:
        return empty_figure("no shadow candidate in the stream", height)
    times = [datetime.fromtimestamp(minute * 60, tz=UTC).strftime("%Y-%m-%d %H:%M:%S") for minute, _, _ in agreement]
    shares = [agreed / compared for _, agreed, compared in agreement]
    trace = {
        "type": "scatter",
        "mode": "lines+markers",
        "x": times,
        "y": shares,
        "name": "agreement",
        "marker": {"color": POSITIVE_COLOUR},
        "customdata": [compared for _, _, compared in agreement],
        "hovertemplate": "%{x|%H:%M} UTC: %{y:.1%} of %{customdata:,} reviews<extra></extra>",
    }
    return _figure(
        [trace],
        height,
        "agreement",
        xaxis=_axis(type="date", title={"text": "minute (UTC)"}),
        yaxis=_axis(title={"text": "agreement"}, tickformat=".0%", range=[0, 1.02]),
    )


def confusion_figure(
    matrix: Sequence[Sequence[int]], labels: Sequence[str], height: int = 280, revision: str = "confusion"
) -> Figure:
    """Rows are the true labels, columns the predicted ones; each cell shows its count."""
    heatmap = {
        "type": "heatmap",
        "z": [list(row) for row in matrix],
        "x": [f"predicted {label}" for label in labels],
        "y": [f"true {label}" for label in labels],
        "colorscale": [[0, "#f3f5f8"], [1, "#3b6fb6"]],
        "showscale": False,
        "text": [[f"{v:,}" for v in row] for row in matrix],
        "texttemplate": "%{text}",
        "textfont": {"size": 16},
        "hovertemplate": "%{y}, %{x}: %{z:,}<extra></extra>",
    }
    return _figure(
        [heatmap],
        height,
        revision,
        margin={"l": 110, "r": 16, "t": 40, "b": 16},
        xaxis=_axis(side="top", gridcolor="rgba(0,0,0,0)"),
        yaxis=_axis(autorange="reversed", gridcolor="rgba(0,0,0,0)"),
    )


def curve_figure(
    x: Sequence[float], y: Sequence[float], x_title: str, y_title: str, height: int = 320, revision: str = "curve"
) -> Figure:
    """A line such as a precision-recall curve, on [0, 1] axes."""
    line = {
        "type": "scatter",
        "x": list(x),
        "y": list(y),
        "mode": "lines",
        "line": {"color": "#3b6fb6", "width": 2.5},
        "hovertemplate": f"{x_title} %{{x:.3f}}, {y_title} %{{y:.3f}}<extra></extra>",
    }
    return _figure(
        [line],
        height,
        revision,
        xaxis=_axis(title={"text": x_title}, range=[0, 1.01]),
        yaxis=_axis(title={"text": y_title}, range=[0, 1.01]),
    )


def history_figure(history: Mapping[str, Sequence[float]], height: int = 300, revision: str = "history") -> Figure:
    """Training curves per epoch: each metric solid, its validation twin dotted in the same colour."""
    palette = ("#3b6fb6", "#e07b39", "#2e9e44", "#8e5ab5", "#c0392b", "#16a085")
    names = [n for n in history if not n.startswith("val_")]
    data = [
        {
            "type": "scatter",
            "x": list(range(1, len(history[key]) + 1)),
            "y": list(history[key]),
            "name": key,
            "mode": "lines+markers",
            "line": {"color": colour, "dash": dash},
        }
        for colour, name in zip(palette * 4, names, strict=False)
        for key, dash in ((name, "solid"), (f"val_{name}", "dot"))
        if history.get(key)
    ]
    return _figure(
        data,
        height + 60,
        revision,
        showlegend=True,
        legend={"orientation": "h", "y": -0.3, "yanchor": "top"},
        margin={"l": 48, "r": 16, "t": 16, "b": 40},
        xaxis=_axis(title={"text": "epoch"}, dtick=1),
    )


# -- text alternatives -----------------------------------------------------------------------------


def describe(figure: Figure, title: str) -> str:
    """What a chart shows, in one sentence for people who cannot see it (WCAG 1.1.1): its title and its numbers."""
    traces = figure.get("data") or []
    if not traces:
        notes = [str(note.get("text", "")) for note in figure.get("layout", {}).get("annotations", [])]
        return f"{title}: {' '.join(notes) or 'no data'}."
    return f"{title}: " + "; ".join(_describe_trace(trace, figure.get("layout", {})) for trace in traces) + "."


def _number(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3g}"
    return f"{int(value):,}"


def _describe_trace(trace: Mapping[str, Any], layout: Mapping[str, Any]) -> str:
    kind = trace.get("type")
    if kind == "pie":
        total = sum(trace["values"]) or 1
        return ", ".join(
            f"{label} {_number(v)} ({v / total:.1%})" for label, v in zip(trace["labels"], trace["values"], strict=True)
        )
    if kind == "heatmap":
        return ", ".join(
            f"{y}, {x}: {_number(v)}"
            for y, row in zip(trace["y"], trace["z"], strict=True)
            for x, v in zip(trace["x"], row, strict=True)
        )
    if kind == "bar" and trace.get("name"):  # one label of a series over time
        values = trace["y"]
        return (
            f"{_number(sum(values))} {trace['name']} in {len(values)} intervals, at most {_number(max(values))} in one"
        )
    if kind == "bar":
        return ", ".join(f"{x} {_number(y)}" for x, y in zip(trace["x"], trace["y"], strict=True))
    values = list(trace.get("y") or [])
    x_title = layout.get("xaxis", {}).get("title", {}).get("text", "x")
    name = trace.get("name") or layout.get("yaxis", {}).get("title", {}).get("text", "value")
    if not values:
        return f"{name}: no points"
    return f"{name} over {len(values)} points of {x_title}, from {_number(values[0])} to {_number(values[-1])}"
