"""Helpers of the producer tests: read a topic back, run the CLI as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> list[tuple[bytes | None, dict]]:
    """Every message of ``topic`` as (key, decoded JSON value); stops at ``expected`` or after ``timeout`` s
    (then reads one more second, so extra messages would show up too)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"producer-test-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages: list[tuple[bytes | None, dict]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=0.5):
                if msg.error():
                    raise AssertionError(f"consume error: {msg.error()}")
                messages.append((msg.key(), json.loads(msg.value() or b"")))
            if len(messages) >= expected:
                deadline = min(deadline, time.monotonic() + 1.0)
    finally:
        consumer.close()
    return messages


@pytest.fixture
def read_back(kafka_bootstrap: str) -> Callable[..., list[tuple[bytes | None, dict]]]:
    """``read_back(topic, expected)``: the topic's messages, see ``read_topic``."""
    return lambda topic, expected, timeout=60.0: read_topic(kafka_bootstrap, topic, expected, timeout)


@pytest.fixture
def run_producer(kafka_bootstrap: str) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``sentiment-producer`` in a subprocess against the test broker."""

    def run(*args: str, stdin: str | None = None, timeout: float = 120.0) -> subprocess.CompletedProcess:
        env = {**os.environ, "SENTIMENT_BOOTSTRAP_SERVERS": kafka_bootstrap}
        return subprocess.run(
            [sys.executable, "-m", "producer", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )

    return run
