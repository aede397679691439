"""The model tab reads what model-training writes, and says plainly what an artifact lacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboard import model_page


def metrics(accuracy: float) -> dict:
    """The shape of model.evaluate.classification_metrics."""
    return {
        "n": 200,
        "accuracy": accuracy,
        "per_class": {
            "negative": {"precision": 0.9, "recall": 0.85, "f1": 0.87, "support": 100},
            "positive": {"precision": 0.86, "recall": 0.9, "f1": 0.88, "support": 100},
        },
        "average_precision": 0.93,
        "roc_auc": 0.95,
        "confusion_matrix": {
            "rows": "true",
            "columns": "predicted",
            "labels": ["negative", "positive"],
            "matrix": [[85, 15], [10, 90]],
        },
    }


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    (tmp_path / "report").mkdir()
    (tmp_path / "metadata.json").write_text(
        json.dumps(
            {
                "version": "20261126-abc",
                "created": "2026-11-26T00:00:00Z",
                "preset": "full",
                "hyperparameters": {"num_words": 15000, "max_len": 166, "learning_rate": 0.01},
                "data": {"train_files": [{"path": "train.ft.txt.bz2", "reviews": 1000}], "reviews": 1000},
                "metrics": {"test": {"accuracy": 0.875}},
                "timings": {"fit_seconds": 12.5},
                "libraries": {"keras": "3.0"},
            }
        )
    )
    test = metrics(0.875) | {"pr_curve": {"precision": [1.0, 0.9, 0.5], "recall": [0.0, 0.8, 1.0]}}
    (tmp_path / "report" / "metrics.json").write_text(
        json.dumps(
            {
                "version": "20261126-abc",
                "lstm": {"validation": metrics(0.88), "test": test},
                "baseline": {"model": "tfidf", "train_reviews": 800, "test": metrics(0.85)},
                "history": {"loss": [0.6, 0.4], "val_loss": [0.5, 0.45], "accuracy": [0.7, 0.85]},
            }
        )
    )
    return tmp_path


def test_reads_the_report_model_training_writes(artifact):
    report = model_page.load_report(artifact)
    assert report.version == "20261126-abc" and report.preset == "full" and not report.problems
    assert report.hyperparameters["learning_rate"] == 0.01
    assert report.data == {"reviews": "1,000", "training file": "train.ft.txt.bz2: 1,000 reviews"}
    assert list(report.metrics) == ["validation", "test", "baseline test"]
    assert report.metrics["test"]["accuracy"] == 0.875
    assert report.metrics["baseline test"]["per_class.negative.recall"] == 0.85
    assert report.confusion == ("test", [[85, 15], [10, 90]], ["negative", "positive"])
    assert report.pr_curve == ("test", [0.0, 0.8, 1.0], [1.0, 0.9, 0.5])
    assert report.history["val_loss"] == [0.5, 0.45]
    page = str(model_page.render(report))
    assert "model-confusion" in page and "model-pr-curve" in page and "model-history" in page
    assert model_page.NOT_IN_ARTIFACT not in page


def test_missing_parts_are_shown_as_not_in_this_artifact(tmp_path):
    (tmp_path / "metadata.json").write_text(json.dumps({"version": "old"}))
    report = model_page.load_report(tmp_path)
    assert report.version == "old" and report.confusion is None and report.pr_curve is None and report.metrics == {}
    assert str(model_page.render(report)).count(model_page.NOT_IN_ARTIFACT) >= 5


def test_headline_metrics_from_metadata_when_there_is_no_report(tmp_path):
    (tmp_path / "metadata.json").write_text(
        json.dumps({"version": "v", "metrics": {"test": {"accuracy": 0.9, "n": 10}}})
    )
    assert model_page.load_report(tmp_path).metrics == {"test": {"accuracy": 0.9, "n": 10}}


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_unreadable_files_are_reported_not_raised(tmp_path, content):
    (tmp_path / "metadata.json").write_text(content)
    report = model_page.load_report(tmp_path)
    assert report.problems and report.version is None
    assert "banner warning" in str(model_page.render(report))


def test_the_default_model_has_a_version_and_metrics(default_model_dir):
    report = model_page.load_report(default_model_dir)
    assert report.version and not report.problems
    assert report.metrics and report.confusion is not None


def _artifact_with(tmp_path: Path, **meta) -> model_page.ModelReport:
    (tmp_path / "metadata.json").write_text(json.dumps({"version": "v", **meta}))
    return model_page.load_report(tmp_path)


def test_training_data_and_malformed_lines_read_as_words(tmp_path):
    """``train_files.0.malformed.lines 13,290`` read like 13,290 malformed lines: they are the lines read."""
    files = [
        {
            "path": "a.ft.txt.bz2",
            "reviews": 13290,
            "negative": 6625,
            "sha256": "ab",
            "malformed": {"lines": 13290, "malformed": 0, "malformed_fraction": 0.0, "examples": []},
        },
        {
            "path": "b.csv",
            "reviews": 997,
            "negative": 400,
            "malformed": {"lines": 1000, "malformed": 3, "malformed_fraction": 0.003, "examples": ["line 7: no label"]},
        },
    ]
    data = {
        "train_files": files,
        "reviews": 14287,
        "train_reviews": 11430,
        "validation_reviews": 2857,
        "test_file": {"path": "t.ft.txt", "reviews": 50, "negative": 20, "sha256": "cd"},
    }
    report = _artifact_with(tmp_path, data=data)
    assert report.data == {
        "reviews": "14,287: 11,430 for training, 2,857 for validation",
        "training file 1": "a.ft.txt.bz2: 13,290 reviews (6,625 negative); 13,290 lines read, none malformed",
        "training file 2": "b.csv: 997 reviews (400 negative); 1,000 lines read, 3 malformed (0.30%)",
        "test file": "t.ft.txt: 50 reviews (20 negative)",
    }
    page = str(model_page.render(report))
    assert "malformed.lines" not in page and "train_files" not in page


def test_training_time_is_the_fit_and_a_resumed_run_says_it_was_not_recorded(tmp_path):
    timings = {"vocabulary_seconds": 0.59, "fit_seconds": 192.4, "total_seconds": 3900.0}
    fresh = _artifact_with(tmp_path, timings=timings, command="sentiment-train --data x", resumed_with=[])
    assert fresh.timings["training time"] == "3 min 12 s fitting the network, 1 h 05 min in all"
    assert fresh.timings["building the vocabulary"] == "0.59 s"
    resumed = _artifact_with(
        tmp_path,
        timings={**timings, "fit_seconds": 0.02},
        command="sentiment-train --data x",
        resumed_with=["sentiment-train --data x --resume"],
    )
    assert resumed.timings["training time"].startswith("not recorded: training was resumed")
    assert (
        resumed.timings["last part: fitting the network"] == "0.02 s" and "fitting the network" not in resumed.timings
    )
    older = _artifact_with(tmp_path, timings=timings, command="sentiment-train --data x --resume")
    assert older.timings["training time"].startswith("not recorded"), (
        "older artifacts only show --resume in the command"
    )


def test_none_and_empty_values_are_not_shown(tmp_path):
    report = _artifact_with(tmp_path, hyperparameters={"epochs": 5, "limit_per_file": None, "note": "", "examples": []})
    page = str(model_page.render(report))
    assert "epochs" in page and "None" not in page
    assert "limit_per_file" not in page and "note" not in page and "examples" not in page


def test_the_default_models_page_reads_in_words(default_model_dir):
    report = model_page.load_report(default_model_dir)
    meta = json.loads((default_model_dir / "metadata.json").read_text())
    first = meta["data"]["train_files"][0]
    assert report.data["training file 1"].startswith(f"{first['path']}: {first['reviews']:,} reviews")
    assert "fit_seconds" not in report.timings and "training time" in report.timings
