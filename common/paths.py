"""Where the repository keeps its model and its review data.

One home for these paths, so that code, tests and benchmarks never look
outside the repository (a bare clone has nothing beside it). ``data/`` holds
the review samples the project tests, demos and trains its default model on
(``data/PROVENANCE.md``); the full Kaggle set goes to ``data/kaggle`` when
``sentiment-data fetch kaggle`` brings it, and is never committed.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = PROJECT_ROOT / "model" / "artifacts"
DEFAULT_MODEL_DIR = MODELS_DIR / "default"
DATA_DIR = PROJECT_ROOT / "data"
TRAIN_SAMPLE = DATA_DIR / "amazon_polarity" / "train.sample.ft.txt.bz2"
TEST_SAMPLE = DATA_DIR / "amazon_polarity" / "test.sample.ft.txt.bz2"
OTHER_SAMPLE = DATA_DIR / "amazon_other" / "star_polarity.ft.txt.bz2"
KAGGLE_DIR = DATA_DIR / "kaggle"
