"""A small model trained once per session by ``sentiment-train`` on the real shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

QUICK_LIMIT = 300
TRAIN = Path("amazon_polarity/train.sample.ft.txt.bz2")
TEST = Path("amazon_polarity/test.sample.ft.txt.bz2")


@pytest.fixture(scope="session")
def trained_dir(review_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch on 300 reviews, evaluated on 300 test reviews; checkpoints kept for the resume test."""
    from model.train_cli import main

    out = tmp_path_factory.mktemp("model") / "quick"
    argv = [
        "--data",
        str(review_data / TRAIN),
        "--test",
        str(review_data / TEST),
        "--limit",
        str(QUICK_LIMIT),
        "--epochs",
        "1",
        "--out",
        str(out),
        "--keep-checkpoints",
        "--no-progress",
    ]
    assert main(argv) == 0
    return out
