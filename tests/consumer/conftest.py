"""Fixtures for the consumer's tests: unique topics, real reviews, the real model, and
``sentiment-consumer`` run as a real subprocess against the real broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common.config import DEFAULT_MODEL_DIR
from localkafka.harness import ConsumerProcess, Topics

TEST_SAMPLE_NAME = ("amazon_polarity", "test.sample.ft.txt.bz2")


@pytest.fixture
def topics(kafka_bootstrap: str, make_topic: Callable[..., str]) -> Topics:
    return Topics(
        kafka_bootstrap, make_topic("in", 4), make_topic("out", 4), make_topic("dlq", 1), f"g-{uuid.uuid4().hex[:10]}"
    )


@pytest.fixture(scope="session")
def predictor():
    """The real default model on the fused engine, as the consumer loads it by default."""
    from model.predictor import Predictor

    return Predictor.load(DEFAULT_MODEL_DIR, backend="fused")


@pytest.fixture(scope="session")
def reviews(review_data: Path) -> list:
    """The first 5,000 labelled reviews of the repository's test sample (common.readers.Record)."""
    from common.readers import read_records

    return list(read_records(review_data.joinpath(*TEST_SAMPLE_NAME), limit=5000))


@pytest.fixture
def start_consumer(tmp_path: Path) -> Iterator[Callable[..., ConsumerProcess]]:
    """Start ``sentiment-consumer`` subprocesses; any still running at teardown is killed."""
    started: list[ConsumerProcess] = []

    def start(topics: Topics, *extra: str, env: dict[str, str] | None = None) -> ConsumerProcess:
        # Each process its own instance id (static membership fences a second live one with the same id);
        # a test that restarts "the same" consumer passes its own --instance-id, which comes later and wins.
        process = ConsumerProcess(
            [
                *topics.flags(),
                "--instance-id",
                f"test-{uuid.uuid4().hex[:8]}",
                "--max-wait-ms",
                "50",
                "-X",
                "statistics.interval.ms=500",
                "-X",
                "session.timeout.ms=6000",
                *extra,
            ],
            tmp_path / f"consumer-{len(started)}.log",
            env=env or {},
        ).start()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.alive():
            process.kill()
