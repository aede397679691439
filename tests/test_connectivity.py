"""A lost broker is logged by connectivity state: one line when it goes, one when it is back, a reminder between."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import pytest
from confluent_kafka import KafkaError

from common.connectivity import ConnectivityLog, LibrdkafkaLogger
from common.labels import Label
from model.predictor import Assessment


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def messages(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


def test_an_outage_is_one_line_when_it_starts_a_reminder_a_minute_and_one_line_when_it_ends(caplog):
    caplog.set_level(logging.INFO)
    clock = Clock()
    state = ConnectivityLog(logging.getLogger("t"), remind_s=60.0, clock=clock)
    state.restored()
    assert messages(caplog) == [], "an answering broker is not news"
    codes = [KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN] * 100  # librdkafka alternates them while retrying
    for code in codes[:120]:  # 20 reports a second for 6 seconds
        assert state.client_error(KafkaError(code, "Connect to 127.0.0.1:9092 failed"))
        clock.now += 0.05
    assert messages(caplog) == ["Kafka unreachable; retrying (further reports held back)"] and state.down
    clock.now += 60.0
    state.lost("Connect to 127.0.0.1:9092 failed")
    assert messages(caplog)[-1] == "Kafka still unreachable"
    assert caplog.records[-1].reports_held_back == 119 and caplog.records[-1].down_seconds == 66
    clock.now += 4.0
    state.restored()
    state.restored()
    assert messages(caplog)[2:] == ["Kafka reachable again"] and not state.down
    assert caplog.records[-1].down_seconds == 70.0
    state.lost("again")
    assert messages(caplog)[-1] == "Kafka unreachable; retrying (further reports held back)", (
        "a new outage is news again"
    )


def test_other_errors_are_not_connectivity():
    state = ConnectivityLog(logging.getLogger("t"))
    assert not state.client_error(KafkaError(KafkaError._AUTHENTICATION, "SASL authentication failed"))
    assert not state.down


def test_librdkafka_connection_failures_go_through_the_state_and_other_lines_as_they_are(caplog):
    caplog.set_level(logging.DEBUG)
    target = logging.getLogger("librdkafka-test")
    logger = LibrdkafkaLogger(target, ConnectivityLog(logging.getLogger("state")))
    for _ in range(50):
        logger.log(
            logging.ERROR,
            "%s [%s] %s",
            "FAIL",
            "rdkafka#consumer-1",
            "[thrd:b:9092/1]: b:9092/1: Connect to ipv4#b:9092 failed",
        )
    logger.log(
        logging.WARNING, "%s [%s] %s", "MAXPOLL", "rdkafka#consumer-1", "Application maximum poll interval exceeded"
    )
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("state", "Kafka unreachable; retrying (further reports held back)"),
        ("librdkafka-test", "MAXPOLL [rdkafka#consumer-1] Application maximum poll interval exceeded"),
    ]
    assert caplog.records[0].reason == "b:9092/1: Connect to ipv4#b:9092 failed"


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def test_the_dashboard_reader_logs_one_line_for_a_broker_that_is_not_there(caplog):
    """It logged about 20 lines a second (librdkafka's FAIL lines and the alternating error codes)."""
    from dashboard.aggregates import LiveStats
    from dashboard.stream import StreamReader

    caplog.set_level(logging.INFO)
    stats = LiveStats()
    reader = StreamReader(
        {"bootstrap.servers": _closed_port(), "reconnect.backoff.max.ms": 100}, "t", stats, check_interval_s=0.5
    ).start()
    try:
        deadline = time.monotonic() + 20
        while stats.snapshot().broker.reachable is not False and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(3.0)  # librdkafka retries every 100 ms meanwhile
    finally:
        reader.stop()
    assert stats.snapshot().broker.reachable is False, "the page still shows the outage at once"
    assert messages(caplog, logging.WARNING) == ["Kafka unreachable; retrying (further reports held back)"]


def test_the_consumer_logs_one_line_for_an_outage_and_one_when_the_broker_is_back(caplog):
    from consumer.metrics import ConsumerMetrics
    from consumer.service import ScoringService, ServiceConfig

    class Scorer:
        version = "v"
        metadata: dict = {}

        def judge(self, texts):
            return [(Label.POSITIVE, 0.1)] * len(texts)

        def assess(self, texts):
            return [Assessment(verdict, 1, 0) for verdict in self.judge(texts)]

    caplog.set_level(logging.INFO)
    config = ServiceConfig(
        kafka={"bootstrap.servers": _closed_port(), "reconnect.backoff.max.ms": 100},
        input_topic="i",
        output_topic="o",
        dlq_topic="d",
        group_id="g",
    )
    service = ScoringService(config, Scorer, ConsumerMetrics())
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not any("unreachable" in m for m in messages(caplog)) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(3.0)  # a consumer and a producer retry every 100 ms meanwhile
        assert messages(caplog, logging.WARNING) == ["Kafka unreachable; retrying (further reports held back)"]
        service._on_stats(
            json.dumps({"brokers": {"b:9092/1": {"state": "UP", "nodeid": 1}}})
        )  # what librdkafka says once back
        assert messages(caplog)[-1] == "Kafka reachable again"
    finally:
        service.stop()
        thread.join(30)
