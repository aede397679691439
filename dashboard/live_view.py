"""What the live tab shows, as pure functions of a ``Snapshot`` and the chosen window.

Kept apart from Dash so every number on the page can be tested without a
browser: the callback only calls ``render`` and hands its parts to the page.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common.labels import Label
from dashboard import figures
from dashboard.aggregates import Snapshot

# The window picker: value -> label; "all" is everything since the reader started.
WINDOWS = {"60": "1 min", "300": "5 min", "900": "15 min", "3600": "1 hour", "all": "since start"}
DEFAULT_WINDOW = "all"
THROUGHPUT_SECONDS = 10
_NICE_BINS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
_MAX_BINS = 90
SNIPPET_CHARS = 160


@dataclass(frozen=True)
class Banner:
    """A line across the top of the page; ``kind`` is error, warning or info."""

    text: str
    kind: str
    pill: str  # the header's short form


@dataclass(frozen=True)
class Kpi:
    title: str
    value: str
    detail: str = ""
    tone: str = ""  # "positive" | "negative" | ""


@dataclass(frozen=True)
class LiveView:
    kpis: list[Kpi]
    bar: figures.Figure
    pie: figures.Figure
    series: figures.Figure
    latest: list[dict[str, Any]]
    accuracy: str
    confusion: figures.Figure


def window_seconds(value: str | None) -> int | None:
    """The window in seconds; None for "since start" (and anything unknown)."""
    return int(value) if value in WINDOWS and value != "all" else None


def window_counts(snap: Snapshot, window_s: int | None) -> dict[str, int]:
    """Reviews per label in the window (by scored time), or since start."""
    if window_s is None:
        return {label: snap.totals.get(label, 0) for label in (Label.POSITIVE, Label.NEGATIVE)}
    since = snap.taken_at - window_s
    positives = sum(p for s, p, _ in snap.buckets if s >= since)
    negatives = sum(n for s, _, n in snap.buckets if s >= since)
    return {Label.POSITIVE: positives, Label.NEGATIVE: negatives}


def bin_seconds(span_s: float) -> int:
    """The smallest round interval that cuts ``span_s`` into at most ``_MAX_BINS`` bars."""
    for size in _NICE_BINS:
        if span_s / size <= _MAX_BINS:
            return size
    return _NICE_BINS[-1]


def series_bins(snap: Snapshot, window_s: int | None) -> tuple[list[tuple[float, int, int]], int]:
    """(bin start, positives, negatives) for every interval of the window, zeros included."""
    now = snap.taken_at
    if window_s is None:
        first = snap.buckets[0][0] if snap.buckets else now
        span = max(60.0, now - first)
    else:
        span = float(window_s)
    size = bin_seconds(span)
    first_bin = math.floor((now - span) / size) * size
    last_bin = math.floor(now / size) * size
    counts: dict[int, list[int]] = {b: [0, 0] for b in range(int(first_bin), int(last_bin) + 1, size)}
    for second, positives, negatives in snap.buckets:
        key = (second // size) * size
        if key in counts:
            counts[key][0] += positives
            counts[key][1] += negatives
    return [(float(b), c[0], c[1]) for b, c in sorted(counts.items())], size


def throughput(snap: Snapshot, seconds: int = THROUGHPUT_SECONDS) -> float:
    """Reviews scored per second over the last ``seconds`` full seconds."""
    end = int(snap.taken_at)
    start = end - seconds
    return sum(p + n for s, p, n in snap.buckets if start <= s < end) / seconds


def latency_percentiles(snap: Snapshot) -> tuple[float, float] | None:
    """Median and 95th percentile of the recent end-to-end latencies, in seconds."""
    if not snap.latencies:
        return None
    if len(snap.latencies) == 1:
        return snap.latencies[0], snap.latencies[0]
    cuts = statistics.quantiles(snap.latencies, n=20, method="inclusive")
    return statistics.median(snap.latencies), cuts[18]


def accuracy(snap: Snapshot) -> tuple[float, int] | None:
    """Share of results whose predicted label equals the true label, and how many had one."""
    total = sum(snap.confusion.values())
    if not total:
        return None
    right = sum(count for (true, predicted), count in snap.confusion.items() if true == predicted)
    return right / total, total


def confusion_matrix(snap: Snapshot) -> list[list[int]]:
    """Rows: true negative, positive; columns: predicted negative, positive."""
    return [[snap.confusion.get((true, predicted), 0) for predicted in Label] for true in Label]


def banner(snap: Snapshot, topic: str, start: str) -> Banner | None:
    """The honest state of the live view, worst first."""
    broker = snap.broker
    if broker.reachable is False:
        return Banner(
            f"Cannot reach Kafka ({broker.error or 'no answer'}); showing what was read before. Retrying…",
            "error",
            "broker unreachable",
        )
    if broker.reachable is None and broker.error:
        return Banner(broker.error, "error", "reader stopped")
    if broker.topic_exists is False:
        return Banner(
            f"Topic {topic!r} does not exist yet ({broker.error}); waiting for it to be created.",
            "warning",
            "topic missing",
        )
    if broker.topic_exists is None and broker.error:
        return Banner(f"Cannot read topic {topic!r}: {broker.error}. Retrying…", "error", "cannot read topic")
    if broker.reachable is None:
        return Banner("Connecting to Kafka…", "info", "connecting…")
    if snap.records_read == 0:
        return Banner(
            f"Waiting for data: no scored reviews on {topic!r} yet (reading from {start}).", "info", "waiting for data"
        )
    return None


def _share(count: int, total: int) -> str:
    return f"{count / total:.1%}" if total else "–"


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def kpis(snap: Snapshot, window_s: int | None) -> list[Kpi]:
    counts = window_counts(snap, window_s)
    total = counts[Label.POSITIVE] + counts[Label.NEGATIVE]
    latency = latency_percentiles(snap)
    window = "since start" if window_s is None else f"last {WINDOWS[str(window_s)]}"
    lag = "–" if snap.lag is None else f"{snap.lag:,}"
    unreadable = f", {snap.unreadable:,} unreadable" if snap.unreadable else ""
    return [
        Kpi("Reviews", f"{total:,}", window),
        Kpi("Positive", f"{counts[Label.POSITIVE]:,}", _share(counts[Label.POSITIVE], total), Label.POSITIVE),
        Kpi("Negative", f"{counts[Label.NEGATIVE]:,}", _share(counts[Label.NEGATIVE], total), Label.NEGATIVE),
        Kpi("Throughput", f"{throughput(snap):,.1f}/s", f"scored, last {THROUGHPUT_SECONDS} s"),
        Kpi(
            "Latency p50",
            _seconds(latency[0]) if latency else "–",
            f"p95 {_seconds(latency[1])}" if latency else "event → scored",
        ),
        Kpi("Read", f"{snap.records_read:,}", f"lag {lag}{unreadable}"),
    ]


def latest_rows(snap: Snapshot) -> list[dict[str, Any]]:
    """The newest results for the table, newest first."""
    return [
        {
            "time": datetime.fromtimestamp(r.scored_at, tz=UTC).strftime("%H:%M:%S"),
            "label": r.label,
            "p_negative": round(r.p_negative, 3),
            "true": r.true_label or "",
            "text": _snippet(r.text or ""),
            "model": r.model_version,
        }
        for r in snap.latest
    ]


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1] + "…"


def render(snap: Snapshot, window: str | None) -> LiveView:
    """Everything the live tab shows for one refresh (the banner is ``banner``: every tab shows it)."""
    window_s = window_seconds(window)
    counts = window_counts(snap, window_s)
    bins, size = series_bins(snap, window_s)
    acc = accuracy(snap)
    return LiveView(
        kpis=kpis(snap, window_s),
        bar=figures.bar_figure(counts, revision=f"bar-{window}"),
        pie=figures.pie_figure(counts, revision=f"pie-{window}"),
        series=figures.timeseries_figure(bins, size, revision=f"series-{window}"),
        latest=latest_rows(snap),
        accuracy=(
            f"Live accuracy {acc[0]:.1%} on {acc[1]:,} reviews that carry a true label"
            if acc
            else "No true labels in the stream yet: accuracy appears when the producer sends labelled reviews."
        ),
        confusion=figures.confusion_figure(confusion_matrix(snap), list(Label))
        if acc
        else figures.empty_figure("no labelled reviews yet"),
    )
