"""Shared fixtures: the real local Kafka broker, unique topics, the shared data set."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from common.config import OPTIONS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("SENTIMENT_TEST_DATA", PROJECT_ROOT.parent / "shared" / "data"))
TRAIN_SAMPLE = DATA_DIR / "amazon_polarity" / "train.sample.ft.txt.bz2"
TEST_SAMPLE = DATA_DIR / "amazon_polarity" / "test.sample.ft.txt.bz2"
OTHER_SAMPLE = DATA_DIR / "amazon_other" / "star_polarity.ft.txt.bz2"
DEFAULT_MODEL_DIR = OPTIONS["model_dir"].default


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real broker on 127.0.0.1: the running one, else one this session starts (and then stops)."""
    from localkafka import LocalKafka

    port = int(os.environ.get("SENTIMENT_TEST_KAFKA_PORT", "9092"))
    broker = LocalKafka(port=port, controller_port=port + 1)
    started = broker.start()
    yield broker.bootstrap
    if started:
        broker.stop()


@pytest.fixture(scope="session")
def local_kafka(kafka_bootstrap: str):
    """The LocalKafka handle, for tests that stop and restart the broker."""
    from localkafka import LocalKafka

    port = int(kafka_bootstrap.rsplit(":", 1)[1])
    return LocalKafka(port=port, controller_port=port + 1)


@pytest.fixture
def make_topic(kafka_bootstrap: str) -> Callable[..., str]:
    """Create a topic with a unique name, so tests never see each other's data."""
    from localkafka import create_topics

    def make(prefix: str = "t", partitions: int = 4) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        create_topics({"bootstrap.servers": kafka_bootstrap}, [name], partitions)
        return name

    return make


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not TEST_SAMPLE.exists():
        pytest.skip(f"shared data not found at {DATA_DIR}")
    return DATA_DIR
