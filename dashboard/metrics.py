"""The dashboard's ``/metrics`` for Prometheus, served by the same Flask server.

Each app gets its own registry (tests build several apps in one process).
Records read and the reader's lag are taken from ``LiveStats`` at scrape
time, so the page and Prometheus can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Flask, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from common.labels import Label
from dashboard.aggregates import LiveStats

# A fixed set of request kinds: a label per URL would let any visitor grow the series without bound.
_KINDS = (("/_dash-update-component", "callback"), ("/_dash-", "dash"), ("/assets/", "asset"), ("/metrics", "metrics"))


def request_kind(path: str) -> str:
    """Which of a few kinds of request ``path`` is."""
    for prefix, kind in _KINDS:
        if path.startswith(prefix):
            return kind
    return "page" if path == "/" else "other"


class _LiveCollector(Collector):
    def __init__(self, stats: LiveStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        snap = self._stats.snapshot()
        read = CounterMetricFamily(
            "sentiment_dashboard_records_read", "Records the live view read from the output topic", labels=["outcome"]
        )
        read.add_metric(["ok"], sum(snap.totals.values()))
        read.add_metric(["unreadable"], snap.unreadable)
        yield read
        lag = GaugeMetricFamily(
            "sentiment_dashboard_reader_lag", "Records on the output topic the live view has not read yet"
        )
        if snap.lag is not None:
            lag.add_metric([], snap.lag)
        yield lag
        up = GaugeMetricFamily(
            "sentiment_dashboard_broker_reachable", "1 when the live view's last broker check succeeded"
        )
        up.add_metric([], 1.0 if snap.broker.reachable else 0.0)
        yield up
        yield _labelled_results(snap.confusion)


def _labelled_results(confusion: dict[tuple[str, str], int]) -> CounterMetricFamily:
    """The live confusion matrix as a counter, every cell present from the start.

    Live accuracy in PromQL is the diagonal over the total; a cell missing until its first review
    would make that sum empty, so all four (true label, predicted label) pairs are always exported.
    """
    family = CounterMetricFamily(
        "sentiment_dashboard_labelled_results",
        "Results whose review carried a true label, by true and predicted label (live accuracy)",
        labels=["true_label", "label"],
    )
    for true_label in Label:
        for label in Label:
            family.add_metric([true_label, label], confusion.get((true_label, label), 0))
    return family


def install(server: Flask, stats: LiveStats) -> CollectorRegistry:
    """Count every request by kind and serve ``/metrics``; returns the app's registry."""
    registry = CollectorRegistry()
    requests = Counter("sentiment_dashboard_requests", "HTTP requests served, by kind", ["kind"], registry=registry)
    registry.register(_LiveCollector(stats))

    @server.before_request
    def count_request() -> None:
        requests.labels(request_kind(request.path)).inc()

    @server.route("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    return registry
