"""Review files as a stream of labelled records, for training, evaluation and the producer.

Pure Python (no TensorFlow, no pandas): the full Kaggle download is 3.6M lines and 1.5 GB
uncompressed, so every reader yields one record at a time and never holds the file.

Formats (``fmt``):

- ``fasttext``: the Kaggle download, ``__label__1 Title: body`` (1 = negative) or
  ``__label__2 Title: body`` (positive); the text is everything after the label.
- ``csv``: a header row naming ``text_column`` and ``label_column`` (the published
  conversion is ``text,label`` with 1 = negative, 0 = positive).
- ``jsonl``: one JSON object per line with the same two keys.
- CSV and JSONL may also name an ``id_column`` holding each review's id (a string, or a JSONL integer).
- ``text``: one review per line, no label.
- ``auto``: chosen from the file name (``.txt``/``.ft`` fastText, ``.csv``, ``.jsonl``/``.ndjson``/
  ``.json``), otherwise from the first line.

Files may be plain, ``.bz2`` or ``.gz``. Lines that cannot be read are not fatal one by one:
they are counted in an :class:`ErrorCounter` with their line number and reason, and
:class:`MalformedInput` is raised only when they exceed a fraction of the input (default 1%),
so a few broken lines do not stop a 3.6M-line run while a wrong format stops it at once.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import hashlib
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from common.labels import parse_label

FORMATS = ("auto", "fasttext", "csv", "jsonl", "text")
FASTTEXT_LABELS = {"__label__1": 1, "__label__2": 0}
_SUFFIX_FORMATS = {".txt": "fasttext", ".ft": "fasttext", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
# Reviews can be long; the csv module's default 128 KiB field limit would reject a legitimate row.
_CSV_FIELD_LIMIT = 16 * 1024 * 1024
_DECOMPRESSED_BUFFER = 1 << 20


@dataclass(frozen=True)
class Record:
    """One review: its text, its label (1 = negative, 0 = positive, None = unlabelled), where it came from
    and its id when the file has an id column (last, so positional construction without it still works)."""

    text: str
    label: int | None
    line: int
    id: str | None = None


class MalformedInput(ValueError):
    """Too many lines could not be read: the file is probably not in the format it was read as."""


@dataclass
class ErrorCounter:
    """Counts lines read and lines rejected, keeping the first few rejections to report.

    ``max_fraction`` is the share of malformed lines tolerated; it is checked once ``min_lines``
    lines were seen (so one bad line among the first ten does not stop a run) and again at the
    end by :meth:`check` (which ``read_records`` calls when a file is exhausted). One counter
    may be shared by several files; totals then cover them all.
    """

    max_fraction: float = 0.01
    min_lines: int = 1000
    keep: int = 10
    seen: int = 0
    malformed: int = 0
    examples: list[tuple[str, int, str]] = field(default_factory=list)

    def ok(self) -> None:
        """Note one line read correctly."""
        self.seen += 1
        if self.seen == self.min_lines:
            self._check_fraction()

    def bad(self, source: str, line: int, reason: str) -> None:
        """Note one malformed line; raise MalformedInput when the tolerated share is exceeded."""
        self.seen += 1
        self.malformed += 1
        if len(self.examples) < self.keep:
            self.examples.append((source, line, reason))
        if self.seen >= self.min_lines:
            self._check_fraction()

    @property
    def fraction(self) -> float:
        return self.malformed / self.seen if self.seen else 0.0

    def check(self) -> None:
        """The end-of-input check, whatever the number of lines."""
        self._check_fraction()

    def _check_fraction(self) -> None:
        if self.malformed and self.fraction > self.max_fraction:
            raise MalformedInput(
                f"{self.malformed:,} of {self.seen:,} lines are malformed ({self.fraction:.2%}, more than the "
                f"{self.max_fraction:.2%} tolerated); first: {self.describe_examples()}"
            )

    def describe_examples(self) -> str:
        return "; ".join(f"{source} line {line}: {reason}" for source, line, reason in self.examples)

    def summary(self) -> dict[str, Any]:
        """What a report or metadata.json records about the input's quality."""
        return {
            "lines": self.seen,
            "malformed": self.malformed,
            "malformed_fraction": round(self.fraction, 6),
            "examples": [{"file": s, "line": n, "reason": r} for s, n, r in self.examples],
        }


def read_records(
    path: str | Path,
    *,
    fmt: str = "auto",
    text_column: str = "text",
    label_column: str | None = "label",
    errors: ErrorCounter | None = None,
    limit: int | None = None,
    id_column: str | None = None,
) -> Iterator[Record]:
    """Yield the records of ``path`` (``"-"`` = stdin) one at a time, at most ``limit`` of them.

    Malformed lines are skipped and counted in ``errors`` (a fresh 1%-threshold counter when
    None); MalformedInput is raised when they exceed its threshold. A CSV/JSONL file without
    ``label_column`` (or ``label_column=None``) yields records with ``label=None``. Blank lines
    are skipped without counting. With ``id_column`` (CSV/JSONL only: fastText and text lines have no
    columns, a ValueError) each record carries that column as its id; a row without one is malformed.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if limit is not None and limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    errors = ErrorCounter() if errors is None else errors
    source = "<stdin>" if str(path) == "-" else str(path)
    with _open_binary(path) as stream:
        lines = _numbered_lines(stream)
        first = next(lines, None)
        if first is None:
            return
        chosen = _choose_format(fmt, path, first[1], text_column)
        if id_column is not None and chosen not in ("csv", "jsonl"):
            raise ValueError(f"{source}: an id column ({id_column!r}) needs CSV or JSONL input, not {chosen}")
        lines = _chain([first], lines)
        if chosen == "csv":
            records = _csv_records(lines, source, text_column, label_column, id_column, errors)
        else:
            parse = {"fasttext": _parse_fasttext, "jsonl": _jsonl_parser(text_column, label_column, id_column),
                     "text": _parse_text}[chosen]
            records = _line_records(lines, source, parse, errors)
        for count, record in enumerate(records, start=1):
            yield record
            if limit is not None and count >= limit:
                break
    errors.check()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of the file's bytes as stored (compressed files hash compressed), for metadata."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- opening and format detection -------------------------------------------------------------


def _open_binary(path: str | Path) -> IO[bytes]:
    if str(path) == "-":
        return _NonClosing(sys.stdin.buffer)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such data file: {path}")
    with open(path, "rb") as probe:
        magic = probe.read(3)
    # A 1 MiB buffer in front of the decompressor: line by line, its own 8 KiB buffer made a decompressor
    # call every few lines (bz2: 37,600 -> 43,000 lines per CPU-second).
    if magic == b"BZh":
        return io.BufferedReader(bz2.open(path, "rb"), _DECOMPRESSED_BUFFER)  # type: ignore[arg-type]
    if magic[:2] == b"\x1f\x8b":
        return io.BufferedReader(gzip.open(path, "rb"), _DECOMPRESSED_BUFFER)  # type: ignore[arg-type]
    return open(path, "rb")


class _NonClosing(io.BufferedIOBase):
    """stdin for a ``with`` block that must not close it."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._raw)

    def close(self) -> None:  # the caller owns stdin
        pass


def _choose_format(fmt: str, path: str | Path, first_line: bytes, text_column: str) -> str:
    if fmt != "auto":
        return fmt
    if str(path) != "-":
        suffixes = [s.lower() for s in Path(path).suffixes if s.lower() not in (".bz2", ".gz")]
        if suffixes and suffixes[-1] in _SUFFIX_FORMATS:
            return _SUFFIX_FORMATS[suffixes[-1]]
    head = first_line.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    if head.startswith("__label__"):
        return "fasttext"
    if head.startswith("{"):
        return "jsonl"
    if text_column in next(csv.reader([head]), []):
        return "csv"
    return "text"


def _numbered_lines(stream: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    return enumerate(stream, start=1)


def _chain(head: list[tuple[int, bytes]], rest: Iterator[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    yield from head
    yield from rest


# --- one record per line: fastText, JSONL, plain text ----------------------------------------


class _BadLine(ValueError):
    """A line that cannot become a record; its message is the reason reported."""


def _line_records(lines: Iterator[tuple[int, bytes]], source: str, parse, errors: ErrorCounter) -> Iterator[Record]:
    for number, raw in lines:
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
            record_text, label, review_id = parse(text)
        except UnicodeDecodeError as exc:
            errors.bad(source, number, f"not valid UTF-8 ({exc.reason} at byte {exc.start})")
            continue
        except _BadLine as exc:
            errors.bad(source, number, str(exc))
            continue
        errors.ok()
        yield Record(record_text, label, number, review_id)


def _parse_fasttext(line: str) -> tuple[str, int, None]:
    tag, _, text = line.partition(" ")
    if not tag.startswith("__label__"):
        raise _BadLine(f"no __label__ prefix: {line[:40]!r}")
    if tag not in FASTTEXT_LABELS:
        raise _BadLine(f"unknown label {tag!r} (expected __label__1 or __label__2)")
    text = text.strip()
    if not text:
        raise _BadLine("empty text")
    return text, FASTTEXT_LABELS[tag], None


def _parse_text(line: str) -> tuple[str, None, None]:
    return line.strip(), None, None


def _jsonl_parser(text_column: str, label_column: str | None, id_column: str | None):
    def parse(line: str) -> tuple[str, int | None, str | None]:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _BadLine(f"not JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise _BadLine(f"not a JSON object but {type(obj).__name__}")
        return (*_text_and_label(obj, text_column, label_column, label_optional=True), _review_id(obj, id_column))

    return parse


def _text_and_label(row: dict[str, Any], text_column: str, label_column: str | None, label_optional: bool) -> tuple[str, int | None]:
    text = row.get(text_column)
    if not isinstance(text, str):
        raise _BadLine(f"no text in {text_column!r}" if text is None else f"{text_column!r} is not a string")
    text = text.strip()
    if not text:
        raise _BadLine("empty text")
    if label_column is None or (label_optional and label_column not in row):
        return text, None
    value = row.get(label_column)
    if value is None or value == "":
        raise _BadLine(f"no label in {label_column!r}")
    try:
        return text, parse_label(value)
    except ValueError as exc:
        raise _BadLine(str(exc)) from None


def _review_id(row: dict[str, Any], id_column: str | None) -> str | None:
    """The row's id as a string (JSONL integers converted); None when no id column is asked for."""
    if id_column is None:
        return None
    value = row.get(id_column)
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        raise _BadLine(f"no id in {id_column!r}")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _BadLine(f"{id_column!r} is not a string or an integer but {type(value).__name__}")
    return str(value)


# --- CSV: a record may span lines -------------------------------------------------------------


def _csv_records(
    lines: Iterator[tuple[int, bytes]],
    source: str,
    text_column: str,
    label_column: str | None,
    id_column: str | None,
    errors: ErrorCounter,
) -> Iterator[Record]:
    csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
    bad_utf8: dict[int, str] = {}

    def decoded() -> Iterator[str]:
        for number, raw in lines:
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad_utf8[number] = f"not valid UTF-8 ({exc.reason} at byte {exc.start})"
                yield raw.decode("utf-8", errors="replace")

    reader = csv.reader(decoded())
    header = [name.lstrip("\ufeff").strip() for name in next(reader, [])]
    for column in (text_column, id_column):
        if column is not None and column not in header:
            raise MalformedInput(f"{source}: the CSV header has no column {column!r}; columns are {header}")
    has_label = label_column is not None and label_column in header
    wanted = label_column if has_label else None
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.bad(source, start, f"CSV error: {exc}")
            start = reader.line_num + 1
            continue
        number, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        broken = next((bad_utf8[n] for n in range(number, start) if n in bad_utf8), None)
        if broken:
            errors.bad(source, number, broken)
            continue
        if len(row) != len(header):
            errors.bad(source, number, f"{len(row)} fields, the header has {len(header)}")
            continue
        fields = dict(zip(header, row))
        try:
            text, label = _text_and_label(fields, text_column, wanted, label_optional=False)
            review_id = _review_id(fields, id_column)
        except _BadLine as exc:
            errors.bad(source, number, str(exc))
            continue
        errors.ok()
        yield Record(text, label, number, review_id)
