"""Fixtures for every test: the real local Kafka broker, unique topics, the repository's review data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common import paths
from common.config import OPTIONS

PROJECT_ROOT = paths.PROJECT_ROOT
# The repository's own data/; SENTIMENT_TEST_DATA may point the suite at another copy of the same layout.
DATA_DIR = Path(os.environ.get("SENTIMENT_TEST_DATA", paths.DATA_DIR))
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


def require(ok: object, missing: str) -> None:
    """Fail (never skip) when a prerequisite is absent: ``make test`` installs every one of them."""
    if not ok:
        pytest.fail(f"{missing} (make test installs it)", pytrace=False)


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The committed default model; its absence is a broken checkout, not a reason to skip."""
    require((DEFAULT_MODEL_DIR / "metadata.json").is_file(), f"no default model at {DEFAULT_MODEL_DIR}")
    return Path(DEFAULT_MODEL_DIR)


@pytest.fixture(scope="session")
def review_data() -> Path:
    """The review samples; missing ones fail the test (a skip here once hid 52 untested paths)."""
    missing = [p for p in (TRAIN_SAMPLE, TEST_SAMPLE, OTHER_SAMPLE) if not p.is_file()]
    if missing:
        pytest.fail(
            f"review data missing: {', '.join(map(str, missing))} (the repository carries it under data/; "
            "SENTIMENT_TEST_DATA points elsewhere)",
            pytrace=False,
        )
    return DATA_DIR


@pytest.fixture(scope="session")
def candidate_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default network with every weight nudged: a model that scores the same reviews measurably differently and
    disagrees on a few, as a retrained candidate would."""
    from tests.candidate import perturbed_copy

    return perturbed_copy(DEFAULT_MODEL_DIR, tmp_path_factory.mktemp("candidate") / "model", scale=1.0, noise=0.1)
