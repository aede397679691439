"""The full Kaggle data set: fetch it safely, and check any review file against what it should hold.

The repository carries samples (``data/``); the full "Amazon Reviews for Sentiment
Analysis" download (3.6M + 400k reviews, about 500 MB compressed) is fetched on
request only, never committed. A fetch lands in a staging folder beside the
target and is renamed into place only once both files are whole and verified, so
an interrupted or failed fetch never leaves a file that training would take for
the real thing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from common.labels import Label
from common.readers import ErrorCounter, read_records
from model.artifact import file_sha256

KAGGLE_HANDLE = "bittlingmayer/amazonreviews"
KAGGLE_PAGE = f"https://www.kaggle.com/datasets/{KAGGLE_HANDLE}"
# name -> reviews per label (1 = negative, 0 = positive): the set is balanced.
KAGGLE_FILES = {"train.ft.txt.bz2": 1_800_000, "test.ft.txt.bz2": 200_000}


class FetchError(Exception):
    """The download did not hold what the Kaggle set holds; nothing was written."""


class DownloadUnavailable(FetchError):
    """No download could be made here (no network, no credentials, refused); nothing was written."""


@dataclass(frozen=True)
class FileReport:
    """What ``sentiment-data verify`` says of one file."""

    file: str
    lines: int
    reviews: int
    negative: int
    positive: int
    unlabelled: int
    malformed: int
    first_malformed_lines: list[int]
    sha256: str
    kaggle_match: str | None  # the Kaggle file whose counts it has exactly, else None

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "lines": self.lines,
            "reviews": self.reviews,
            "labels": {"negative": self.negative, "positive": self.positive, "none": self.unlabelled},
            "malformed": self.malformed,
            "first_malformed_lines": self.first_malformed_lines,
            "sha256": self.sha256,
            "kaggle_match": self.kaggle_match,
        }


def verify_file(path: Path, fmt: str = "auto", progress: bool = False) -> FileReport:
    """Read every review of ``path`` (never stopping on malformed lines) and count what it holds."""
    errors = ErrorCounter(max_fraction=1.0, keep=10)
    labels: Counter[Label | None] = Counter()
    records = read_records(path, fmt=fmt, errors=errors)
    for record in tqdm(records, desc=path.name, unit=" reviews", unit_scale=True, disable=not progress, leave=False):
        labels[record.label] += 1
    negative, positive = labels[Label.NEGATIVE], labels[Label.POSITIVE]
    match = next(
        (
            name
            for name, per_label in KAGGLE_FILES.items()
            if negative == positive == per_label and not errors.malformed and not labels[None]
        ),
        None,
    )
    return FileReport(
        file=str(path),
        lines=errors.seen,
        reviews=sum(labels.values()),
        negative=negative,
        positive=positive,
        unlabelled=labels[None],
        malformed=errors.malformed,
        first_malformed_lines=[line for _, line, _ in errors.examples],
        sha256=file_sha256(path),
        kaggle_match=match,
    )


def kagglehub_download(staging: Path) -> Path:
    """Download the data set with kagglehub into ``staging``; returns the folder holding its files."""
    os.environ.setdefault("KAGGLEHUB_VERBOSITY", "error")
    import kagglehub  # only this command needs it

    return Path(kagglehub.dataset_download(KAGGLE_HANDLE, output_dir=str(staging), force_download=True))


def fetch_kaggle(
    out: Path, download: Callable[[Path], Path] = kagglehub_download, progress: bool = True
) -> list[FileReport]:
    """Download, verify, then rename both files into ``out``; on any failure ``out`` gains nothing.

    ``download`` writes into the staging folder it is given (kagglehub by default); the staging
    folder sits beside ``out`` so that the final rename stays on one file system.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        try:
            folder = download(staging / "download")
        except Exception as exc:  # the library's errors are many and unrelated; each means "no data"
            raise DownloadUnavailable(explain_download_error(exc)) from exc
        found = {name: next(iter(folder.rglob(name)), None) for name in KAGGLE_FILES}
        missing = [name for name, path in found.items() if path is None]
        if missing:
            raise FetchError(f"the download from {KAGGLE_PAGE} lacks {', '.join(missing)}")
        reports = [verify_file(path, progress=progress) for path in found.values() if path is not None]
        wrong = [r for r in reports if r.kaggle_match != Path(r.file).name]
        if wrong:
            raise FetchError(
                "the download does not hold the Kaggle reviews: "
                + "; ".join(
                    f"{Path(r.file).name}: {r.negative:,} negative, {r.positive:,} positive, {r.malformed:,} malformed"
                    for r in wrong
                )
            )
        out.mkdir(parents=True, exist_ok=True)
        for report in reports:
            os.replace(report.file, out / Path(report.file).name)
        return [replace(r, file=str(out / Path(r.file).name)) for r in reports]
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def explain_download_error(exc: BaseException) -> str:
    """One line that tells a user what is missing: network, credentials, or the manual route."""
    has_credentials = (
        bool(os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"))
        or (Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle")) / "kaggle.json").is_file()
    )
    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}"
    credentials = (
        ""
        if has_credentials
        else "no Kaggle credentials found (set KAGGLE_USERNAME and KAGGLE_KEY, or put kaggle.json in ~/.kaggle); "
    )
    return (
        f"could not download {KAGGLE_HANDLE} from Kaggle ({reason[:300]}); {credentials}"
        f"or download train.ft.txt.bz2 and test.ft.txt.bz2 by hand from {KAGGLE_PAGE} "
        "into the --out folder and run `sentiment-data verify` on them"
    )
