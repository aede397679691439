"""``make demo`` for a bounded run on spare ports: everything comes up, reviews flow, nothing is left behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter

import psutil
import pytest

from common.config import ConfigError
from common.paths import PROJECT_ROOT, TEST_SAMPLE
from common.readers import read_records
from localkafka import LocalKafka
from localkafka.demo import EXAMPLE_REVIEWS, _choose_data
from localkafka.harness import free_port
from tests.deploy.conftest import http_get


def _metric(body: bytes, name: str) -> float:
    """Sum of a metric's samples in a /metrics body (0 when absent)."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.decode().splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE  # is_running checks the pid's identity
    except psutil.NoSuchProcess:
        return False


@pytest.mark.integration
@pytest.mark.slow
def test_demo_runs_the_pipeline_and_leaves_no_process_behind(tmp_path, kafka_bootstrap):
    metrics_port, dashboard_port, prometheus_port = free_port(), free_port(), free_port()
    run = uuid.uuid4().hex[:8]
    argv = [
        sys.executable,
        "-m",
        "localkafka.demo",
        "--duration",
        "30",
        "--rate",
        "25",
        "--log-dir",
        str(tmp_path / "logs"),
        "--bootstrap-servers",
        kafka_bootstrap,
        "--metrics-port",
        str(metrics_port),
        "--dashboard-port",
        str(dashboard_port),
        "--prometheus-port",
        str(prometheus_port),
        "--input-topic",
        f"demo-in-{run}",
        "--output-topic",
        f"demo-out-{run}",
        "--dlq-topic",
        f"demo-dlq-{run}",
        "--group-id",
        f"demo-{run}",
        "--dashboard-group-id",
        f"demo-dash-{run}",
    ]
    demo = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen: dict[int, tuple[str, psutil.Process]] = {}  # every descendant ever seen, with its command
    consumed = dashboard_read = 0.0
    prometheus_saw_consumer = False
    try:
        deadline = time.monotonic() + 240
        while demo.poll() is None and time.monotonic() < deadline:
            try:
                for child in psutil.Process(demo.pid).children(recursive=True):
                    seen.setdefault(child.pid, (" ".join(child.cmdline()[:3]), child))
            except psutil.NoSuchProcess:
                break
            status, body = http_get(f"http://127.0.0.1:{metrics_port}/metrics")
            if status == 200:
                consumed = max(consumed, _metric(body, "sentiment_messages_consumed_total"))
            status, body = http_get(f"http://127.0.0.1:{dashboard_port}/metrics")
            if status == 200:
                dashboard_read = max(dashboard_read, _metric(body, "sentiment_dashboard_records_read_total"))
            status, body = http_get(f"http://127.0.0.1:{prometheus_port}/api/v1/query?query=up")
            if status == 200:
                up = {r["metric"]["job"]: r["value"][1] for r in json.loads(body)["data"]["result"]}
                prometheus_saw_consumer |= up.get("sentiment-consumer") == "1"
            time.sleep(1)
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGTERM)
        output = demo.communicate(timeout=90)[0]
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    assert demo.returncode == 0, output
    assert f"http://127.0.0.1:{dashboard_port}/" in output and f"http://127.0.0.1:{metrics_port}/metrics" in output
    commands = " | ".join(command for command, _ in seen.values())
    assert all(part in commands for part in ("sentiment-consumer", "sentiment-dashboard", "sentiment-producer")), (
        commands
    )
    assert consumed > 0, "the consumer scored nothing during the demo"
    assert dashboard_read > 0, "the dashboard read no results during the demo"
    assert shutil.which("prometheus"), "Debian's prometheus is not installed (make test installs it)"
    assert prometheus_saw_consumer, "the demo's Prometheus never scraped the consumer"
    survivors = [command for command, p in seen.values() if _alive(p)]
    assert not survivors, f"processes left behind: {survivors}"
    for port in (dashboard_port, metrics_port, prometheus_port):
        assert http_get(f"http://127.0.0.1:{port}/")[0] == 0, f"port {port} still answers"
    assert LocalKafka(port=int(kafka_bootstrap.rsplit(":", 1)[1])).is_ready(), (
        "the demo stopped a broker it did not start"
    )


@pytest.mark.integration
def test_a_part_that_exits_early_is_reported_with_its_log(tmp_path, kafka_bootstrap):
    run = uuid.uuid4().hex[:8]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "localkafka.demo",
            "--duration",
            "5",
            "--log-dir",
            str(tmp_path / "logs"),
            "--bootstrap-servers",
            kafka_bootstrap,
            "--metrics-port",
            str(free_port()),
            "--dashboard-port",
            str(free_port()),
            "--input-topic",
            f"demo-in-{run}",
            "--output-topic",
            f"demo-out-{run}",
            "--dlq-topic",
            f"demo-dlq-{run}",
            "--prometheus-port",
            "0",
            "--model-dir",
            str(tmp_path / "no-model"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 1
    assert "exited on its own with code" in result.stderr and "logs/" in result.stderr
    assert "no-model" in result.stderr, "the end of the failed part's log is shown"


def test_the_demo_replays_the_repository_test_sample_unless_told_otherwise(tmp_path, review_data):
    path, fmt = _choose_data(None, False, tmp_path)
    assert path == TEST_SAMPLE and path.is_relative_to(PROJECT_ROOT) and fmt == "fasttext"
    labels = Counter(r.label for r in read_records(path))
    assert len(labels) == 2 and min(labels.values()) > 1000, "a real mix of both labels, not a dozen sentences"
    path, fmt = _choose_data(None, True, tmp_path)
    assert fmt == "jsonl" and len(path.read_text().splitlines()) == len(EXAMPLE_REVIEWS)
    given = tmp_path / "mine.csv"
    given.write_text("text\nfine\n")
    assert _choose_data(given, False, tmp_path) == (given, "auto")
    with pytest.raises(ConfigError, match="no such file"):
        _choose_data(tmp_path / "absent.csv", False, tmp_path)


def test_ports_in_use_are_refused_before_anything_starts(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "localkafka.demo",
                "--log-dir",
                str(tmp_path),
                "--bootstrap-servers",
                "127.0.0.1:1",
                "--metrics-port",
                str(free_port()),
                "--dashboard-port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"already in use (another demo?): --dashboard-port {port}" in result.stderr
    assert "started" not in result.stdout
