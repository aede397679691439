"""The consumer's metrics and health endpoints, without Kafka."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest

from consumer.metrics import (
    ASSIGNED,
    BROKER_REACHABLE,
    MODEL_LOADED,
    ConsumerMetrics,
    HealthServer,
)


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_readyz_lists_failing_conditions_until_all_hold_and_healthz_is_always_ok() -> None:
    metrics = ConsumerMetrics()
    server = HealthServer(metrics, 0, host="127.0.0.1").start()
    try:
        assert get(server.port, "/healthz")[0] == 200
        status, body = get(server.port, "/readyz")
        assert status == 503 and json.loads(body)["conditions"] == {
            MODEL_LOADED: False,
            ASSIGNED: False,
            BROKER_REACHABLE: False,
        }
        for condition in (MODEL_LOADED, ASSIGNED, BROKER_REACHABLE):
            metrics.set_ready(condition, True)
        assert get(server.port, "/readyz")[0] == 200
        metrics.set_ready(BROKER_REACHABLE, False)
        assert get(server.port, "/readyz")[0] == 503
        metrics.consumed.inc(3)
        status, body = get(server.port, "/metrics")
        assert status == 200 and b"sentiment_messages_consumed_total 3.0" in body
        assert get(server.port, "/nope")[0] == 404
    finally:
        server.stop()


def test_lag_counts_from_the_application_position_to_the_last_stable_offset() -> None:
    metrics = ConsumerMetrics()
    stats = {
        "topics": {
            "reviews": {
                "partitions": {
                    "0": {
                        "fetch_state": "active",
                        "app_offset": 40,
                        "committed_offset": 10,
                        "hi_offset": 55,
                        "ls_offset": 50,
                    },
                    "1": {
                        "fetch_state": "active",
                        "app_offset": -1001,
                        "committed_offset": 7,
                        "hi_offset": 9,
                        "ls_offset": 9,
                    },
                    "2": {
                        "fetch_state": "none",
                        "app_offset": -1001,
                        "committed_offset": -1001,
                        "hi_offset": -1001,
                        "ls_offset": -1001,
                    },
                    "-1": {
                        "fetch_state": "none",
                        "app_offset": -1001,
                        "committed_offset": -1001,
                        "hi_offset": 3,
                        "ls_offset": 3,
                    },
                }
            }
        }
    }
    metrics.update_lag(stats)
    assert metrics.registry.get_sample_value("sentiment_consumer_lag", {"topic": "reviews", "partition": "0"}) == 10
    assert metrics.registry.get_sample_value("sentiment_consumer_lag", {"topic": "reviews", "partition": "1"}) == 2
    assert metrics.registry.get_sample_value("sentiment_consumer_lag", {"topic": "reviews", "partition": "2"}) is None
    metrics.forget_partition("reviews", 0)
    assert metrics.registry.get_sample_value("sentiment_consumer_lag", {"topic": "reviews", "partition": "0"}) is None


def test_a_burst_of_connections_waits_in_the_backlog_instead_of_being_dropped() -> None:
    """200 clients connect while the server accepts nothing yet (a scrape burst, a slow accept loop): the kernel
    completes every handshake from the listen backlog, and each one is answered once the server runs."""
    metrics = ConsumerMetrics()
    server = HealthServer(metrics, 0, host="127.0.0.1")  # listening, not yet accepting
    clients: list[socket.socket] = []
    try:
        for number in range(1, 201):
            client = socket.socket()
            clients.append(client)
            client.settimeout(2.0)  # a dropped SYN is first retried after 1 s; still dropped while nothing accepts
            try:
                client.connect(("127.0.0.1", server.port))
            except OSError as exc:
                pytest.fail(f"connection {number} of 200 was not taken into the backlog ({exc})")
        server.start()
        answers = []
        for client in clients:
            client.sendall(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
            answers.append(client.recv(64).split(b"\r\n", 1)[0])
        assert answers == [b"HTTP/1.0 200 OK"] * 200
    finally:
        for client in clients:
            client.close()
        server.stop()


def test_the_endpoints_bind_to_the_metrics_host_from_its_variable() -> None:
    from common.config import ConfigError, resolve
    from consumer.cli import OPTION_NAMES, start_health_server

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environ = {"SENTIMENT_METRICS_HOST": "127.0.0.1", "SENTIMENT_METRICS_PORT": str(port)}
    assert resolve(OPTION_NAMES, environ={}).metrics_host == "0.0.0.0", (
        "all interfaces by default (Prometheus in containers)"
    )
    server = start_health_server(ConsumerMetrics(), resolve(OPTION_NAMES, environ=environ))
    assert server is not None
    try:
        assert server._server.server_address == ("127.0.0.1", port)
        assert get(port, "/healthz")[0] == 200
    finally:
        server.stop()
    with pytest.raises(ConfigError, match=r"^--metrics-host 192\.0\.2\.1 --metrics-port \d+: "):
        start_health_server(
            ConsumerMetrics(), resolve(OPTION_NAMES, environ={**environ, "SENTIMENT_METRICS_HOST": "192.0.2.1"})
        )
