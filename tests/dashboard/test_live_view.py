"""The live tab's numbers and states, computed from snapshots without a browser."""

from __future__ import annotations

import pytest

from dashboard import figures, live_view
from dashboard.aggregates import BrokerState, Snapshot

NOW = 1_700_000_000.0
UP = BrokerState(True, True, None, NOW)


def snap(buckets=(), totals=None, latencies=(), confusion=None, broker=UP, unreadable=0, lag=None) -> Snapshot:
    if totals is None:
        totals = {"positive": sum(b[1] for b in buckets), "negative": sum(b[2] for b in buckets)}
    return Snapshot(
        taken_at=NOW,
        started_at=NOW - 7200,
        totals=totals,
        unreadable=unreadable,
        buckets=tuple(buckets),
        latencies=tuple(latencies),
        latest=(),
        confusion=confusion or {},
        versions={},
        broker=broker,
        lag=lag,
    )


def test_window_counts_use_scored_time_and_all_means_since_start():
    s = snap(
        buckets=[(int(NOW) - 600, 5, 1), (int(NOW) - 30, 2, 3), (int(NOW), 1, 0)],
        totals={"positive": 100, "negative": 50},
    )
    assert live_view.window_counts(s, None) == {"positive": 100, "negative": 50}
    assert live_view.window_counts(s, 60) == {"positive": 3, "negative": 3}
    assert live_view.window_counts(s, 900) == {"positive": 8, "negative": 4}


@pytest.mark.parametrize("window", [60, 300, 900, 3600, None])
def test_series_bins_cover_the_window_and_add_up(window):
    buckets = [(int(NOW) - age, age % 3, age % 2) for age in range(0, 3600, 7)]
    s = snap(buckets=buckets)
    bins, size = live_view.series_bins(s, window)
    assert len(bins) <= live_view._MAX_BINS + 2
    assert all(b2[0] - b1[0] == size for b1, b2 in zip(bins, bins[1:], strict=False))
    if window is not None:
        counts = live_view.window_counts(s, window)
        first = bins[0][0]
        assert sum(p for _, p, _ in bins) == sum(p for t, p, _ in buckets if t >= first) >= counts["positive"]


def test_bin_seconds_are_round_and_few():
    assert live_view.bin_seconds(60) == 1
    assert live_view.bin_seconds(900) == 10
    assert live_view.bin_seconds(3600) == 60
    assert live_view.bin_seconds(10**9) == 3600


def test_throughput_counts_the_last_full_seconds_only():
    s = snap(buckets=[(int(NOW) - 20, 100, 0), (int(NOW) - 5, 30, 20), (int(NOW), 999, 0)])
    assert live_view.throughput(s, seconds=10) == 5.0


def test_latency_percentiles():
    assert live_view.latency_percentiles(snap()) is None
    percentiles = live_view.latency_percentiles(snap(latencies=[i / 100 for i in range(1, 101)]))
    assert percentiles is not None
    p50, p95 = percentiles
    assert p50 == pytest.approx(0.505)
    assert 0.94 <= p95 <= 0.96


def test_accuracy_and_confusion_matrix():
    s = snap(
        confusion={
            ("negative", "negative"): 8,
            ("negative", "positive"): 2,
            ("positive", "positive"): 9,
            ("positive", "negative"): 1,
        }
    )
    assert live_view.accuracy(s) == (0.85, 20)
    assert live_view.confusion_matrix(s) == [[8, 2], [1, 9]]
    assert live_view.accuracy(snap()) is None


@pytest.mark.parametrize(
    "broker, read, pill, kind",
    [
        (BrokerState(False, None, "connection refused", NOW), 5, "broker unreachable", "error"),
        (BrokerState(True, False, "unknown topic", NOW), 0, "topic missing", "warning"),
        (BrokerState(True, None, "Broker: Topic authorization failed", NOW), 3, "cannot read topic", "error"),
        (BrokerState(None, None, "the live reader stopped; see the server log", NOW), 3, "reader stopped", "error"),
        (BrokerState(), 0, "connecting…", "info"),
        (UP, 0, "waiting for data", "info"),
    ],
)
def test_banner_tells_the_honest_state(broker, read, pill, kind):
    s = snap(broker=broker, totals={"positive": read, "negative": 0})
    banner = live_view.banner(s, "reviews.sentiment", "latest")
    assert banner is not None and banner.pill == pill and banner.kind == kind


def test_no_banner_when_data_flows():
    assert live_view.banner(snap(totals={"positive": 1, "negative": 0}), "t", "latest") is None


def test_render_colours_positive_green_and_negative_red():
    s = snap(buckets=[(int(NOW) - 1, 3, 2)])
    view = live_view.render(s, "60")
    bar = view.bar["data"][0]
    assert dict(zip(bar["x"], bar["marker"]["color"], strict=True)) == {
        "positive": figures.POSITIVE_COLOUR,
        "negative": figures.NEGATIVE_COLOUR,
    }
    assert bar["y"] == [3, 2]
    pie = view.pie["data"][0]
    assert dict(zip(pie["labels"], pie["marker"]["colors"], strict=True)) == {
        "positive": figures.POSITIVE_COLOUR,
        "negative": figures.NEGATIVE_COLOUR,
    }
    assert [k.value for k in view.kpis[:3]] == ["5", "3", "2"]
    assert view.kpis[1].detail == "60.0%"


def test_render_of_an_empty_topic_says_waiting_for_data():
    view = live_view.render(snap(), "all")
    for figure in (view.bar, view.pie, view.series):
        assert not figure["data"]
        assert figure["layout"]["annotations"][0]["text"] == "waiting for data"
    banner = live_view.banner(snap(), "t", "latest")
    assert banner is not None and banner.text.startswith("Waiting for data")


def test_unknown_window_falls_back_to_since_start():
    assert live_view.window_seconds("hack") is None
    assert live_view.window_seconds("300") == 300


def test_each_chart_has_a_text_alternative_with_the_numbers_it_draws():
    """Screen readers get the chart's numbers in words (WCAG 1.1.1): the counts, shares, totals and matrix cells."""
    from dashboard import figures

    counts = {"positive": 30, "negative": 10}
    assert figures.describe(figures.bar_figure(counts), "Reviews") == "Reviews: positive 30, negative 10."
    assert figures.describe(figures.pie_figure(counts), "Share") == "Share: positive 30 (75.0%), negative 10 (25.0%)."
    bins = [(0.0, 2, 1), (10.0, 5, 0), (20.0, 0, 4)]
    series = figures.describe(figures.timeseries_figure(bins, 10), "Per interval")
    assert (
        "7 positive in 3 intervals, at most 5 in one" in series
        and "5 negative in 3 intervals, at most 4 in one" in series
    )
    matrix = figures.describe(figures.confusion_figure([[85, 15], [10, 90]], ["negative", "positive"]), "Confusion")
    assert "true negative, predicted positive: 15" in matrix and "true positive, predicted negative: 10" in matrix
    assert figures.describe(figures.empty_figure("waiting for data"), "Reviews") == "Reviews: waiting for data."
