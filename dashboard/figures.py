"""Plotly figures of the dashboard: pure functions of plain numbers, one look throughout.

Green is positive and red negative everywhere, as in the published app. Every
figure keeps the user's zoom across refreshes (``uirevision``) and says so
plainly when it has nothing to show instead of drawing empty axes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Mapping, Sequence

import plotly.graph_objects as go

POSITIVE_COLOUR = "#2e9e44"
NEGATIVE_COLOUR = "#d64545"
NOT_SCORED_COLOUR = "#9aa0a6"
COLOURS = {"positive": POSITIVE_COLOUR, "negative": NEGATIVE_COLOUR, "not scored": NOT_SCORED_COLOUR}
FONT = "Inter, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


def _base(fig: go.Figure, height: int, revision: str) -> go.Figure:
    fig.update_layout(
        height=height,
        margin=dict(l=48, r=16, t=16, b=40),
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font=dict(family=FONT, size=13, color="#1f2933"),
        uirevision=revision,
        showlegend=False,
    )
    fig.update_xaxes(gridcolor="#e6e9ee", zeroline=False)
    fig.update_yaxes(gridcolor="#e6e9ee", zeroline=False)
    return fig


def empty_figure(message: str, height: int = 280) -> go.Figure:
    """A blank figure that says why it is blank."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=15, color="#6b7785"), xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _base(fig, height, "empty")


def bar_figure(counts: Mapping[str, int], height: int = 280, revision: str = "bar") -> go.Figure:
    """Counts per label as bars, each bar labelled with its count."""
    labels = [k for k in counts if counts[k] or k != "not scored"]
    values = [counts[k] for k in labels]
    if not sum(values):
        return empty_figure("waiting for data", height)
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=values,
            marker_color=[COLOURS.get(k, NOT_SCORED_COLOUR) for k in labels],
            text=[f"{v:,}" for v in values],
            textposition="auto",
            hovertemplate="%{x}: %{y:,}<extra></extra>",
        )
    )
    fig.update_yaxes(title_text="reviews", rangemode="tozero")
    return _base(fig, height, revision)


def pie_figure(counts: Mapping[str, int], height: int = 280, revision: str = "pie") -> go.Figure:
    """Shares per label as a donut."""
    labels = [k for k in counts if counts[k]]
    if not labels:
        return empty_figure("waiting for data", height)
    fig = go.Figure(
        go.Pie(
            labels=labels,
            values=[counts[k] for k in labels],
            marker=dict(colors=[COLOURS.get(k, NOT_SCORED_COLOUR) for k in labels]),
            hole=0.45,
            sort=False,
            textinfo="label+percent",
            hovertemplate="%{label}: %{value:,} (%{percent})<extra></extra>",
        )
    )
    fig = _base(fig, height, revision)
    fig.update_layout(margin=dict(l=16, r=16, t=16, b=16))
    return fig


def timeseries_figure(
    bins: Sequence[tuple[float, int, int]], bin_seconds: int, height: int = 300, revision: str = "series"
) -> go.Figure:
    """Positives and negatives per interval as stacked bars; ``bins`` = (start second, pos, neg)."""
    if not any(p or n for _, p, n in bins):
        return empty_figure("waiting for data", height)
    times = [datetime.fromtimestamp(t, tz=timezone.utc) for t, _, _ in bins]
    fig = go.Figure()
    for name, index, colour in (("positive", 1, POSITIVE_COLOUR), ("negative", 2, NEGATIVE_COLOUR)):
        fig.add_trace(
            go.Bar(
                x=times,
                y=[b[index] for b in bins],
                name=name,
                marker_color=colour,
                hovertemplate=f"%{{x|%H:%M:%S}} UTC: %{{y:,}} {name}<extra></extra>",
            )
        )
    fig = _base(fig, height, revision)
    fig.update_layout(barmode="stack", bargap=0.1, showlegend=True, legend=dict(orientation="h", y=1.08, x=0))
    fig.update_xaxes(title_text=f"scored at (UTC), {bin_seconds} s intervals")
    fig.update_yaxes(title_text="reviews", rangemode="tozero")
    return fig


def confusion_figure(matrix: Sequence[Sequence[int]], labels: Sequence[str], height: int = 280, revision: str = "confusion") -> go.Figure:
    """Rows are the true labels, columns the predicted ones; each cell shows its count."""
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=[f"predicted {label}" for label in labels],
            y=[f"true {label}" for label in labels],
            colorscale=[[0, "#f3f5f8"], [1, "#3b6fb6"]],
            showscale=False,
            text=[[f"{v:,}" for v in row] for row in matrix],
            texttemplate="%{text}",
            textfont=dict(size=16),
            hovertemplate="%{y}, %{x}: %{z:,}<extra></extra>",
        )
    )
    fig = _base(fig, height, revision)
    fig.update_yaxes(autorange="reversed", gridcolor="rgba(0,0,0,0)")
    fig.update_xaxes(side="top", gridcolor="rgba(0,0,0,0)")
    fig.update_layout(margin=dict(l=110, r=16, t=40, b=16))
    return fig


def curve_figure(
    x: Sequence[float], y: Sequence[float], x_title: str, y_title: str, height: int = 320, revision: str = "curve"
) -> go.Figure:
    """A line such as a precision-recall curve, on [0, 1] axes."""
    fig = go.Figure(go.Scatter(x=list(x), y=list(y), mode="lines", line=dict(color="#3b6fb6", width=2.5), hovertemplate=f"{x_title} %{{x:.3f}}, {y_title} %{{y:.3f}}<extra></extra>"))
    fig = _base(fig, height, revision)
    fig.update_xaxes(title_text=x_title, range=[0, 1.01])
    fig.update_yaxes(title_text=y_title, range=[0, 1.01])
    return fig


def history_figure(history: Mapping[str, Sequence[float]], height: int = 300, revision: str = "history") -> go.Figure:
    """Training curves per epoch: each metric solid, its validation twin dotted in the same colour."""
    palette = ("#3b6fb6", "#e07b39", "#2e9e44", "#8e5ab5", "#c0392b", "#16a085")
    fig = go.Figure()
    names = [n for n in history if not n.startswith("val_")]
    for colour, name in zip(palette * 4, names):
        for key, dash in ((name, "solid"), (f"val_{name}", "dot")):
            values = history.get(key)
            if values:
                fig.add_trace(go.Scatter(x=list(range(1, len(values) + 1)), y=list(values), name=key, mode="lines+markers",
                                         line=dict(color=colour, dash=dash)))
    fig = _base(fig, height, revision)
    fig.update_layout(showlegend=True, legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title_text="epoch", dtick=1)
    return fig
