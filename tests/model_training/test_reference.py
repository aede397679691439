"""Reference statistics (model/reference.py): their definitions, training's record of them, and the same figures
recomputed later for an artifact from its files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from model.reference import artifact_reference, reference_statistics, token_counts
from model.tokenizer import KerasTokenizer
from tests.model_training.conftest import QUICK_LIMIT, TRAIN


def nearest_rank(values: list[int], q: float) -> int:
    """The textbook nearest-rank percentile: the ceil(q * n)-th smallest value."""
    return sorted(values)[math.ceil(q * len(values)) - 1]


def test_token_counts_count_words_beyond_num_words_as_oov() -> None:
    # "a" is the most frequent word (id 2, after <OOV> = 1), "b" id 3, "c" id 4; num_words=3 keeps ids below 3.
    tokenizer = KerasTokenizer(num_words=3).fit_on_texts(["a a a b b c"])
    tokens, oov = token_counts(tokenizer.texts_to_sequences(["a b c never-seen", "a a", "b"]))
    assert tokens.tolist() == [5, 2, 1]  # "never-seen" is two words once the hyphen is a separator
    assert oov.tolist() == [4, 0, 1]


def test_reference_statistics_match_a_hand_computation() -> None:
    rng = np.random.default_rng(3)
    tokens = rng.integers(1, 400, 997)
    oov = (tokens * rng.random(997)).astype(int) // 7
    labels = rng.integers(0, 2, 997)
    p_negative = rng.random(997)
    p_negative[:3] = [0.0, 1.0, 0.1]  # the edges: 1.0 in the last bin, 0.1 in the second

    ref = reference_statistics("hand-made", tokens, oov, labels, p_negative, max_len=166)

    assert ref["data"] == "hand-made" and ref["reviews"] == 997
    assert ref["oov_share"] == pytest.approx(sum(oov.tolist()) / sum(tokens.tolist()))
    assert ref["tokens_quantiles"] == {
        name: nearest_rank(tokens.tolist(), q) for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
    }
    assert ref["truncated_share"] == pytest.approx(sum(t > 166 for t in tokens.tolist()) / 997)
    assert ref["positive_share"] == pytest.approx(labels.tolist().count(0) / 997)
    edges = ref["p_negative_histogram"]["edges"]
    assert edges == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    bins = [min(int(p * 10 + 1e-9), 9) for p in p_negative.tolist()]  # tenth the probability falls in
    assert ref["p_negative_histogram"]["shares"] == pytest.approx([bins.count(b) / 997 for b in range(10)])
    assert sum(ref["p_negative_histogram"]["shares"]) == pytest.approx(1.0)
    json.dumps(ref)  # plain JSON types only: it goes into metadata.json


def test_reference_statistics_refuse_mismatched_columns() -> None:
    with pytest.raises(ValueError, match="one token count"):
        reference_statistics("x", np.array([1, 2]), np.array([0]), np.array([0, 1]), np.array([0.2, 0.4]), 166)


def test_training_records_the_reference_that_a_later_computation_finds(trained_dir: Path, review_data: Path) -> None:
    """Training computes it on its corpus (truncated ids plus per-review counts, Keras scores); the
    ``sentiment-model reference`` path re-reads the files, rebuilds the split and scores with onnxruntime."""
    from model.predictor import Predictor

    recorded = json.loads((trained_dir / "metadata.json").read_text())["reference"]
    predictor = Predictor.load(trained_dir, backend="onnxruntime")
    later = artifact_reference(predictor, [str(review_data / TRAIN)], {}, validation_split=True)

    assert recorded["reviews"] == later["reviews"] == round(QUICK_LIMIT * 0.2)
    assert recorded["data"] == later["data"]
    for key in ("oov_share", "tokens_quantiles", "truncated_share", "positive_share"):
        assert recorded[key] == later[key], key
    assert recorded["p_negative_histogram"]["shares"] == pytest.approx(
        later["p_negative_histogram"]["shares"], abs=1 / 60
    )
    assert recorded["tokens_quantiles"]["p99"] > 166 and recorded["truncated_share"] > 0  # counts were not truncated


def test_the_reference_command_records_what_training_recorded(
    trained_dir: Path, review_data: Path, tmp_path: Path
) -> None:
    import shutil

    from common.config import ConfigError
    from model.predictor import Predictor
    from model.registry_cli import main

    folder = shutil.copytree(trained_dir, tmp_path / "model", ignore=shutil.ignore_patterns("checkpoints"))
    meta = json.loads((folder / "metadata.json").read_text())
    recorded = meta.pop("reference")
    (folder / "metadata.json").write_text(json.dumps(meta))

    with pytest.raises(ConfigError, match="files the model was trained on"):
        main(["reference", str(folder), "--data", str(review_data / "amazon_polarity/test.sample.ft.txt.bz2")])
    assert main(["reference", str(folder), "--data", str(review_data / TRAIN), "--write"]) == 0
    written = json.loads((folder / "metadata.json").read_text())["reference"]
    assert {k: v for k, v in written.items() if k != "p_negative_histogram"} == {
        k: v for k, v in recorded.items() if k != "p_negative_histogram"
    }
    assert Predictor.load(folder).version == meta["version"]  # still a valid artifact of the same version


def test_the_reference_command_counts_every_review_of_other_files(trained_dir: Path, review_data: Path, capsys) -> None:
    import bz2

    from model.registry_cli import main

    test_file = review_data / "amazon_polarity/test.sample.ft.txt.bz2"
    assert main(["reference", str(trained_dir), "--data", str(test_file), "--all-reviews"]) == 0
    printed = json.loads(capsys.readouterr().out)
    with bz2.open(test_file, "rt", encoding="utf-8") as f:
        labels = [line.split(" ", 1)[0] for line in f if line.strip()]
    assert printed["reviews"] == len(labels) and printed["data"] == f"all reviews of {test_file}"
    assert printed["positive_share"] == pytest.approx(labels.count("__label__2") / len(labels))
