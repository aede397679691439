"""``sentiment-data``: fetch the full Kaggle review set, and verify any review file."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from common import cli
from common.config import ConfigError
from common.paths import KAGGLE_DIR, PROJECT_ROOT
from common.readers import FORMATS
from model.datasets import (
    KAGGLE_FILES,
    KAGGLE_HANDLE,
    KAGGLE_PAGE,
    DownloadUnavailable,
    FetchError,
    fetch_kaggle,
    verify_file,
)

EPILOG = f"""\
examples:
  sentiment-data fetch kaggle                  # {KAGGLE_HANDLE} into {KAGGLE_DIR.relative_to(PROJECT_ROOT)}/
  sentiment-data verify data/amazon_polarity/test.sample.ft.txt.bz2

fetch needs the network and, for Kaggle, credentials: KAGGLE_USERNAME and KAGGLE_KEY, or ~/.kaggle/kaggle.json
(kaggle.com -> Settings -> API). Without them it exits 2 and writes nothing; the two files may also be downloaded by
hand from {KAGGLE_PAGE} into the --out folder.

verify prints one JSON object per file: lines, reviews per label, malformed lines (first line numbers), sha256, and
kaggle_match: the Kaggle file whose counts it has exactly (3,600,000 train / 400,000 test reviews, balanced), else null.
exit codes: 0 done, 1 a file is malformed or the download is not the Kaggle set, 2 bad arguments or no way to download.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentiment-data",
        description="Fetch and verify review data sets.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{fetch,verify}")
    fetch = commands.add_parser(
        "fetch",
        help="download a data set (kaggle: the full Amazon reviews set)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fetch.add_argument("dataset", choices=("kaggle",), help="which data set")
    fetch.add_argument(
        "--out",
        type=Path,
        default=_env_path("SENTIMENT_DATA_OUT", KAGGLE_DIR),
        help=f"folder for train.ft.txt.bz2 and test.ft.txt.bz2 [env SENTIMENT_DATA_OUT; {KAGGLE_DIR}]",
    )
    fetch.add_argument("--force", action="store_true", help="download again even when --out already holds the set")
    verify = commands.add_parser("verify", help="count a review file's reviews, labels and malformed lines")
    verify.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="fastText, CSV or JSONL; plain, .bz2 or .gz"
    )
    verify.add_argument("--format", dest="fmt", choices=FORMATS, default="auto", help="input format [from the name]")
    for sub in (fetch, verify):
        sub.add_argument(
            "--no-progress",
            action="store_true",
            default=not sys.stderr.isatty(),
            help="no progress bar [default when stderr is not a terminal]",
        )
    return parser


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    return Path(value) if value else default


def _print(report_json: dict) -> None:
    print(json.dumps(report_json), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "verify":
        return _verify(args.files, args.fmt, not args.no_progress)
    return _fetch(args.out, args.force, not args.no_progress)


def _verify(files: list[Path], fmt: str, progress: bool) -> int:
    absent = [str(f) for f in files if not f.is_file()]
    if absent:
        raise ConfigError(f"no such file: {', '.join(absent)}")
    clean = True
    for path in files:
        report = verify_file(path, fmt=fmt, progress=progress)
        _print(report.as_json())
        clean &= report.malformed == 0 and report.reviews > 0
    return 0 if clean else 1


def _fetch(out: Path, force: bool, progress: bool) -> int:
    present = [out / name for name in KAGGLE_FILES if (out / name).is_file()]
    if len(present) == len(KAGGLE_FILES) and not force:
        reports = [verify_file(path, progress=progress) for path in present]
        if all(r.kaggle_match == Path(r.file).name for r in reports):
            for report in reports:
                _print(report.as_json())
            print(f"{out} already holds the Kaggle set (--force downloads it again)", file=sys.stderr)
            return 0
    try:
        reports = fetch_kaggle(out, progress=progress)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, DownloadUnavailable) else 1
    for report in reports:
        _print(report.as_json())
    return 0


def entry() -> None:
    cli.run(main)


if __name__ == "__main__":
    entry()
