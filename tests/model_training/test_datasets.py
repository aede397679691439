"""sentiment-data: verify counts what a file holds; fetch writes the Kaggle set whole or not at all."""

from __future__ import annotations

import bz2
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model import datasets
from model.data_cli import main


def _count_by_hand(path: Path) -> dict[str, int]:
    """An independent count: fastText lines by their first word."""
    counts = {"lines": 0, "negative": 0, "positive": 0}
    with bz2.open(path, "rt", encoding="utf-8") as stream:
        for line in stream:
            counts["lines"] += 1
            counts["negative"] += line.startswith("__label__1 ")
            counts["positive"] += line.startswith("__label__2 ")
    return counts


def test_verify_reports_the_repository_files(review_data: Path, capsys) -> None:
    files = sorted(review_data.rglob("*.ft.txt.bz2"))
    assert len(files) == 3
    assert main(["verify", "--no-progress", *map(str, files)]) == 0
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for path, report in zip(files, reports, strict=True):
        expected = _count_by_hand(path)
        assert report["lines"] == report["reviews"] == expected["lines"]
        assert report["labels"] == {"negative": expected["negative"], "positive": expected["positive"], "none": 0}
        assert report["malformed"] == 0 and report["kaggle_match"] is None
        assert report["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_verify_names_the_first_malformed_lines_and_exits_1(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.ft.txt"
    bad.write_text("__label__1 Broke at once\nno label here\n__label__2 Lovely\n__label__3 what\n")
    assert main(["verify", "--no-progress", str(bad)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["malformed"] == 2 and report["first_malformed_lines"] == [2, 4]
    assert report["labels"] == {"negative": 1, "positive": 1, "none": 0}


def test_fetch_without_a_route_to_kaggle_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    """The real kagglehub, on a machine with no route to Kaggle: the failure is real, not simulated."""
    out = tmp_path / "kaggle"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE")}
    env["KAGGLE_CONFIG_DIR"] = str(tmp_path / "no-credentials")
    result = subprocess.run(
        [sys.executable, "-m", "model.data_cli", "fetch", "kaggle", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: could not download bittlingmayer/amazonreviews"), lines
    assert "KAGGLE_USERNAME" in lines[0] and datasets.KAGGLE_PAGE in lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == [], "nothing half-written beside --out"


def _write_fasttext(path: Path, negative: int, positive: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"__label__1 Bad {n}: broke\n" for n in range(negative)] + [
        f"__label__2 Good {n}: fine\n" for n in range(positive)
    ]
    with bz2.open(path, "wt", encoding="utf-8") as stream:
        stream.writelines(lines)


def test_a_download_that_breaks_half_way_leaves_nothing_in_out(tmp_path: Path) -> None:
    out = tmp_path / "kaggle"

    def breaks(staging: Path) -> Path:
        _write_fasttext(staging / "train.ft.txt.bz2", 5, 5)
        with open(staging / "test.ft.txt.bz2", "wb") as partial:
            partial.write(b"BZh9" + b"\0" * 100)
        raise ConnectionResetError("connection reset by peer")

    with pytest.raises(datasets.DownloadUnavailable, match="connection reset by peer"):
        datasets.fetch_kaggle(out, download=breaks, progress=False)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_download_that_is_not_the_kaggle_set_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "kaggle"

    def wrong(staging: Path) -> Path:
        _write_fasttext(staging / "train.ft.txt.bz2", 3, 4)
        _write_fasttext(staging / "test.ft.txt.bz2", 2, 2)
        return staging

    with pytest.raises(datasets.FetchError, match="3 negative, 4 positive"):
        datasets.fetch_kaggle(out, download=wrong, progress=False)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_complete_download_is_renamed_into_place(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(datasets, "KAGGLE_FILES", {"train.ft.txt.bz2": 6, "test.ft.txt.bz2": 2})
    out = tmp_path / "kaggle"

    def complete(staging: Path) -> Path:
        _write_fasttext(staging / "nested" / "train.ft.txt.bz2", 6, 6)
        _write_fasttext(staging / "nested" / "test.ft.txt.bz2", 2, 2)
        return staging

    reports = datasets.fetch_kaggle(out, download=complete, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["test.ft.txt.bz2", "train.ft.txt.bz2"]
    assert [(Path(r.file).parent, r.kaggle_match) for r in reports] == [
        (out, "train.ft.txt.bz2"),
        (out, "test.ft.txt.bz2"),
    ]
    assert list(tmp_path.iterdir()) == [out], "the staging folder is gone"
