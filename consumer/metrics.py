"""The consumer's Prometheus metrics and its /metrics, /healthz and /readyz HTTP endpoints.

Each service instance owns a ``CollectorRegistry`` (not the global one), so
several services can run in one process in tests and benchmarks. Readiness is
a set of named conditions the service flips; /readyz answers 503 and lists the
failing ones until all hold.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30, 60, 300)
_INFERENCE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
# Tokens per review: 166 is the model's window, so the share above it is the share truncated.
_TOKEN_BUCKETS = (5, 10, 20, 40, 80, 120, 166, 250, 500, 1000)
# p(negative): 0.5 splits the labels (the share at or under it is the positive share); 0.3-0.7 is "unsure".
_P_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

# Readiness conditions; all must hold for /readyz to answer 200.
MODEL_LOADED = "model_loaded"
ASSIGNED = "assigned"
BROKER_REACHABLE = "broker_reachable"
READINESS_CONDITIONS = (MODEL_LOADED, ASSIGNED, BROKER_REACHABLE)


class ConsumerMetrics:
    """The service's metric families, in one registry (the Grafana dashboard and the alert rules select them by these
    names).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.consumed = Counter("sentiment_messages_consumed", "Input messages consumed", registry=r)
        self.predictions = Counter("sentiment_predictions", "Reviews scored, by predicted label", ["label"], registry=r)
        self.dead_letters = Counter(
            "sentiment_dead_letters", "Messages sent to the dead-letter topic, by reason", ["reason"], registry=r
        )
        self.dropped_fields = Counter(
            "sentiment_dropped_fields",
            "Optional input fields left out as empty or malformed (the review was still scored), by field",
            ["field"],
            registry=r,
        )
        self.batch_size = Histogram(
            "sentiment_batch_size", "Messages per micro-batch", buckets=_BATCH_BUCKETS, registry=r
        )
        self.inference_seconds = Histogram(
            "sentiment_inference_seconds", "Model time per micro-batch", buckets=_INFERENCE_BUCKETS, registry=r
        )
        self.end_to_end_latency = Histogram(
            "sentiment_end_to_end_latency_seconds",
            "Event time to acknowledged output",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "sentiment_consumer_lag",
            "Messages behind the partition's end (librdkafka statistics)",
            ["topic", "partition"],
            registry=r,
        )
        self.commits = Counter(
            "sentiment_commits", "Offset commits (or committed transactions) that succeeded", registry=r
        )
        self.commit_failures = Counter(
            "sentiment_commit_failures", "Offset commits (or transactions) that failed", registry=r
        )
        self.rebalances = Counter("sentiment_rebalances", "Partition assignment changes, by kind", ["kind"], registry=r)
        self.model_info = Info("sentiment_model", "The model that scores reviews", registry=r)
        # Model operations: a shadow candidate beside the served model, and accuracy where true labels flow.
        self.shadow_predictions = Counter(
            "sentiment_shadow_predictions",
            "Reviews the shadow candidate judged too, by whether it agreed with the served model's label",
            ["served_version", "shadow_version", "agreement"],
            registry=r,
        )
        self.labelled_predictions = Counter(
            "sentiment_labelled_predictions",
            "Judged reviews that carried a true label, by model version, role "
            "(served, shadow) and outcome (correct, wrong)",
            ["model_version", "role", "outcome"],
            registry=r,
        )
        self.shadow_inference_seconds = Histogram(
            "sentiment_shadow_inference_seconds",
            "Shadow candidate's time per micro-batch",
            buckets=_INFERENCE_BUCKETS,
            registry=r,
        )
        self.shadow_failures = Counter(
            "sentiment_shadow_failures", "Shadow candidate failures, by stage (load, score)", ["stage"], registry=r
        )
        self.shadow_info = Info("sentiment_shadow_model", "The shadow candidate, when one runs", registry=r)
        # Drift signals: what the live stream looks like to the served model, beside what its training data
        # looked like (the artifact's metadata.json "reference"); deploy/prometheus/alerts.yml compares them.
        self.review_tokens = Histogram(
            "sentiment_review_tokens",
            "Words the tokenizer read per judged review",
            ["model_version"],
            buckets=_TOKEN_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("sentiment_tokens", "Words read in judged reviews", ["model_version"], registry=r)
        self.oov_tokens = Counter(
            "sentiment_oov_tokens", "Of those, words out of the model's vocabulary", ["model_version"], registry=r
        )
        self.p_negative = Histogram(
            "sentiment_p_negative",
            "p(negative) of judged reviews, by model and role (served, shadow)",
            ["model_version", "role"],
            buckets=_P_BUCKETS,
            registry=r,
        )
        self.reference = Gauge(
            "sentiment_reference",
            "The served model's training-data reference for each drift statistic (metadata.json)",
            ["model_version", "statistic"],
            registry=r,
        )
        self._ready: dict[str, bool] = {name: False for name in READINESS_CONDITIONS}
        self._lock = threading.Lock()

    def set_ready(self, condition: str, value: bool) -> None:
        with self._lock:
            self._ready[condition] = value

    def readiness(self) -> dict[str, bool]:
        with self._lock:
            return dict(self._ready)

    def update_lag(self, stats: dict[str, Any]) -> None:
        """Set the lag gauge from one librdkafka statistics document (topics -> partitions).

        librdkafka's own ``consumer_lag`` counts from the consumer's committed offset, which exactly-once
        mode never updates (offsets commit inside transactions), so the lag is taken from the position
        handed to the application (``app_offset``), else the committed offset, to the last stable offset.
        """
        for topic, tdoc in stats.get("topics", {}).items():
            for pid, pdoc in tdoc.get("partitions", {}).items():
                end = pdoc.get("ls_offset", -1) if pdoc.get("ls_offset", -1) >= 0 else pdoc.get("hi_offset", -1)
                position = (
                    pdoc.get("app_offset", -1) if pdoc.get("app_offset", -1) >= 0 else pdoc.get("committed_offset", -1)
                )
                if pid == "-1" or end < 0 or position < 0 or pdoc.get("fetch_state") in ("none", "stopped"):
                    continue
                self.consumer_lag.labels(topic=topic, partition=pid).set(max(0, end - position))

    def forget_partition(self, topic: str, partition: int) -> None:
        """Remove the lag series of a partition this instance no longer reads (another instance reports it)."""
        with contextlib.suppress(KeyError):
            self.consumer_lag.remove(topic, str(partition))


# Connections the kernel holds while the accept loop catches up, as waitress (the dashboard) holds. http.server's
# 5 made a burst of 200 scrapes or probes lose 41 connections to SYN drops and wait over 1 s for retransmits.
LISTEN_BACKLOG = 1024


class _BurstTolerantServer(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True


class HealthServer:
    """Serves /metrics, /healthz and /readyz on one port in a daemon thread."""

    def __init__(self, metrics: ConsumerMetrics, port: int, host: str = "0.0.0.0") -> None:
        handler = _make_handler(metrics)
        self._server = _BurstTolerantServer((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for a serve_forever() that was never started otherwise
            self._server.shutdown()
        self._server.server_close()


def _make_handler(metrics: ConsumerMetrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's naming
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._send(200, b'{"status":"ok"}\n', "application/json")
            elif path == "/readyz":
                conditions = metrics.readiness()
                ready = all(conditions.values())
                body = json.dumps({"ready": ready, "conditions": conditions}).encode() + b"\n"
                self._send(200 if ready else 503, body, "application/json")
            else:
                self._send(404, b'{"error":"not found; try /metrics, /healthz, /readyz"}\n', "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # http.server's parameter name; scrapes are not news
            log.debug("http " + format, *args)

    return Handler
