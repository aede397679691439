"""The Flask side without a browser: headers, request limits, errors, /metrics, /healthz, the CLI's start-up checks."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from common.config import ConfigError
from common.contract import Result
from dashboard.aggregates import LiveStats
from dashboard.analysis import Limits
from dashboard.app import create_app
from dashboard.metrics import request_kind
from dashboard.security import max_request_bytes
from tests.dashboard.helpers import make_results, produce, wait_for


@pytest.fixture
def stats() -> LiveStats:
    return LiveStats()


@pytest.fixture
def client(stats, keyword_scorer):
    app = create_app(stats, topic="t", start="latest", scorer=keyword_scorer, model_dir=None, limits=Limits(max_bytes=3000))
    return app.server.test_client()


def test_security_headers_on_every_response(client):
    for path in ("/", "/metrics", "/healthz", "/_dash-layout"):
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-eval'" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"


def test_request_bodies_over_the_limit_are_refused_from_the_header(client):
    too_big = max_request_bytes(3000) + 1
    response = client.post("/_dash-update-component", data=b"x" * too_big, content_type="application/json")
    assert response.status_code == 413


def test_errors_never_show_a_traceback(client):
    response = client.post("/_dash-update-component", data=b'{"output": "nonsense", "inputs": 3}', content_type="application/json")
    assert response.status_code >= 400
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and 'File "' not in body


def _callback(client, output: str, inputs: list, state: list | None = None) -> dict:
    component, prop = output.split(".")
    body = {"output": output, "outputs": {"id": component, "property": prop}, "inputs": inputs, "state": state or [], "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}
    response = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    assert response.status_code in (200, 204), response.get_data(as_text=True)[:500]
    return response.get_json() if response.status_code == 200 else {}


def test_single_review_callback_round_trip(client):
    reply = _callback(client, "review-result.children", [{"id": "review-button", "property": "n_clicks", "value": 1}],
                      [{"id": "review-text", "property": "value", "value": "a bad kettle"}])
    assert "negative" in json.dumps(reply)
    reply = _callback(client, "review-result.children", [{"id": "review-button", "property": "n_clicks", "value": 2}],
                      [{"id": "review-text", "property": "value", "value": "   "}])
    assert "empty" in json.dumps(reply)


def test_metrics_count_requests_and_records(client, stats):
    stats.add(Result(id="1", label="positive", p_negative=0.1, model_version="v", scored_at=0.0))
    stats.add_unreadable()
    stats.set_lag(4)
    client.get("/")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sentiment_dashboard_requests_total{kind="page"} 1.0' in text
    assert 'sentiment_dashboard_records_read_total{outcome="ok"} 1.0' in text
    assert 'sentiment_dashboard_records_read_total{outcome="unreadable"} 1.0' in text
    assert "sentiment_dashboard_reader_lag 4.0" in text


def test_metrics_export_the_live_confusion_matrix_for_accuracy(client, stats):
    pairs = [("negative", "negative")] * 3 + [("positive", "negative")] * 2 + [("positive", "positive")] * 5
    for i, (true_label, label) in enumerate(pairs):
        stats.add(Result(id=str(i), label=label, p_negative=0.5, model_version="v", scored_at=0.0, true_label=true_label))
    stats.add(Result(id="unlabelled", label="negative", p_negative=0.9, model_version="v", scored_at=0.0))
    text = client.get("/metrics").get_data(as_text=True)
    for true_label in ("negative", "positive"):
        for label in ("negative", "positive"):  # every cell, the empty one too: PromQL sums stay defined
            expected = float(pairs.count((true_label, label)))
            line = f'sentiment_dashboard_labelled_results_total{{label="{label}",true_label="{true_label}"}} {expected}'
            assert line in text, line


def test_request_kinds_are_a_fixed_set():
    assert request_kind("/_dash-update-component") == "callback"
    assert request_kind("/") == "page"
    assert request_kind("/anything/a-stranger/invents") == "other"


def test_healthz(client):
    assert client.get("/healthz").get_data(as_text=True) == "ok\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--start", "yesterday"], "--start='yesterday'"),
        (["--max-upload-mb", "0"], "--max-upload-mb"),
        (["--max-rows", "-3"], "--max-rows"),
        (["--dashboard-port", "99999"], "--dashboard-port"),
    ],
)
def test_bad_configuration_is_refused_before_anything_starts(args, message):
    from dashboard.cli import main

    with pytest.raises(ConfigError, match=re.escape(message)):
        main(args)


def test_an_unloadable_model_fails_at_start_up_with_one_line():
    proc = subprocess.run([sys.executable, "-m", "dashboard", "--model-dir", "/nonexistent/model"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot load the model from /nonexistent/model"), proc.stderr


@pytest.mark.integration
def test_the_command_serves_the_page_and_metrics_and_stops_on_sigterm(kafka_bootstrap, make_topic, default_predictor):
    topic = make_topic("dash-cli", partitions=2)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "--bootstrap-servers", kafka_bootstrap, "--output-topic", topic,
         "--dashboard-port", str(port), "--start", "beginning", "--dashboard-group-id", f"dash-cli-{topic}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: urllib.request.urlopen(base + "/healthz", timeout=2).status == 200, timeout=60, what="the dashboard to listen")
        page = urllib.request.urlopen(base + "/", timeout=5)
        assert page.headers["X-Frame-Options"] == "DENY" and "Review sentiment" in page.read().decode()
        produce(kafka_bootstrap, topic, make_results([("positive", None)] * 6 + [("negative", None)] * 2))

        def metrics() -> str:
            return urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()

        wait_for(lambda: 'sentiment_dashboard_records_read_total{outcome="ok"} 8.0' in metrics(), what="8 records in /metrics")
        assert "sentiment_dashboard_reader_lag" in metrics()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr[-2000:]
    logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(entry.get("url") == f"http://127.0.0.1:{port}/" for entry in logged), "the start-up line says where it listens"
    assert logged[-1]["msg"] == "stopped", "SIGTERM stops the server and the reader cleanly"


def test_an_installed_package_carries_the_stylesheet_and_the_upload_check():
    """Without its assets an installed dashboard (the Docker image) would have no style and no upload size check."""
    import tomllib
    from fnmatch import fnmatch
    from pathlib import Path

    import dashboard

    root = Path(dashboard.__file__).parent
    pyproject = tomllib.loads((root.parent / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"].get("dashboard", [])
    for asset in ("assets/style.css", "assets/upload.js"):
        assert (root / asset).is_file()
        assert any(fnmatch(asset, pattern) for pattern in patterns), f"{asset} is not in [tool.setuptools.package-data]"
