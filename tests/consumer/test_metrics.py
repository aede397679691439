"""The consumer's metrics and health endpoints, without Kafka."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from consumer.metrics import ASSIGNED, BROKER_REACHABLE, MODEL_LOADED, ConsumerMetrics, HealthServer


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
        assert status == 503 and json.loads(body)["conditions"] == {MODEL_LOADED: False, ASSIGNED: False, BROKER_REACHABLE: False}
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
    stats = {"topics": {"reviews": {"partitions": {
        "0": {"fetch_state": "active", "app_offset": 40, "committed_offset": 10, "hi_offset": 55, "ls_offset": 50},
        "1": {"fetch_state": "active", "app_offset": -1001, "committed_offset": 7, "hi_offset": 9, "ls_offset": 9},
        "2": {"fetch_state": "none", "app_offset": -1001, "committed_offset": -1001, "hi_offset": -1001, "ls_offset": -1001},
        "-1": {"fetch_state": "none", "app_offset": -1001, "committed_offset": -1001, "hi_offset": 3, "ls_offset": 3},
    }}}}
    metrics.update_lag(stats)
    assert metrics.registry.get_sample_value("sentiment_consumer_lag", {"topic": "reviews", "partition": "0"}) == 10
    assert metrics.registry.get_sample_value("sentiment_consumer_lag", {"topic": "reviews", "partition": "1"}) == 2
    assert metrics.registry.get_sample_value("sentiment_consumer_lag", {"topic": "reviews", "partition": "2"}) is None
    metrics.forget_partition("reviews", 0)
    assert metrics.registry.get_sample_value("sentiment_consumer_lag", {"topic": "reviews", "partition": "0"}) is None
