"""Review files as a stream of labelled records, for training, evaluation and the producer.

Pure Python (no TensorFlow, no pandas): the full Kaggle download is 3.6M lines and 1.5 GB
uncompressed, so every reader yields one record at a time and never holds the file.

Formats (``fmt``):

- ``fasttext``: the Kaggle download, ``__label__1 Title: body`` (1 = negative) or
  ``__label__2 Title: body`` (positive); the text is everything after the label.
- ``csv``: a header row naming ``text_column`` and ``label_column`` (the published
  conversion is ``text,label`` with 1 = negative, 0 = positive).
- ``jsonl``: one JSON object per line with the same two keys.
- Labels are read by common.labels.Label, in any of its spellings.
- CSV and JSONL may also name an ``id_column`` holding each review's id (a string, or a JSONL integer),
  a ``title_column`` (the text becomes ``Title: body``, as in the Kaggle files) and hold star ratings
  as labels (``stars``, a :class:`StarRule`: the Kaggle rule maps 1-2 to negative, 4-5 to positive, drops 3).
- CSV fields are split on ``delimiter``, guessed from the header by default (``,`` ``;`` tab ``|``).
- ``text``: one review per line, no label.
- ``auto``: chosen from the file name (``.txt``/``.ft`` fastText, ``.csv``, ``.jsonl``/``.ndjson``/
  ``.json``), otherwise from the first line.

Files may be plain, ``.bz2`` or ``.gz``, in UTF-8 (a BOM is accepted) or another ASCII-compatible ``encoding``
(``cp1252``, ``latin-1``). Lines that cannot be read are not fatal one by one:
they are counted in an :class:`ErrorCounter` with their line number and reason, and
:class:`MalformedInput` is raised only when they exceed its :class:`Tolerance` (default 1% of the input),
so a few broken lines do not stop a 3.6M-line run while a wrong format stops it at once. Lines skipped
on purpose (a 3-star review under the Kaggle rule) are counted apart and never count as malformed.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, TypeVar

from common.labels import Label

T = TypeVar("T")

FORMATS = ("auto", "fasttext", "csv", "jsonl", "text")
_DELIMITERS = (",", ";", "\t", "|")
_SUFFIX_FORMATS = {
    ".txt": "fasttext",
    ".ft": "fasttext",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
# Reviews can be long; the csv module's default 128 KiB field limit would reject a legitimate row.
_CSV_FIELD_LIMIT = 16 * 1024 * 1024
_DECOMPRESSED_BUFFER = 1 << 20


@dataclass(frozen=True)
class Record:
    """One review: its text, its label (None = unlabelled), where it came from and its id when the file has an
    id column (last, so positional construction without it still works)."""

    text: str
    label: Label | None
    line: int
    id: str | None = None


class MalformedInput(ValueError):
    """Too many lines could not be read: the file is probably not in the format it was read as."""


@dataclass
class ErrorCounter:
    """Counts lines read, lines rejected and lines skipped on purpose, keeping the first few rejections to report.

    ``max_fraction`` is the share of malformed lines tolerated; it is checked once ``min_lines``
    lines were seen (so one bad line among the first ten does not stop a run) and again at the
    end by :meth:`check` (which ``read_records`` calls when a file is exhausted). ``max_count``, when
    set, replaces it: more than that many malformed lines stop the read at once (0 = the first).
    One counter may be shared by several files; totals then cover them all.
    """

    max_fraction: float = 0.01
    min_lines: int = 1000
    keep: int = 10
    max_count: int | None = None
    seen: int = 0
    malformed: int = 0
    examples: list[tuple[str, int, str]] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)  # well-formed lines skipped on purpose, by reason
    unlabelled: int = 0  # reviews kept without the label their row lacks (``keep_unlabelled``)
    hints: list[str] = field(default_factory=list)

    def ok(self) -> None:
        """Note one line read correctly."""
        self.seen += 1
        if self.seen == self.min_lines:
            self._check_limit()

    def bad(self, source: str, line: int, reason: str) -> None:
        """Note one malformed line; raise MalformedInput when the tolerated share is exceeded."""
        self.seen += 1
        self.malformed += 1
        if len(self.examples) < self.keep:
            self.examples.append((source, line, reason))
        if self.seen >= self.min_lines or self.max_count is not None:
            self._check_limit()

    def drop(self, reason: str) -> None:
        """Note one well-formed line left out on purpose (not malformed: a 3-star review has no polarity)."""
        self.seen += 1
        self.dropped[reason] += 1

    def hint(self, text: str) -> None:
        """A suggestion shown with the malformed lines (once), such as the option that reads them."""
        if text not in self.hints:
            self.hints.append(text)

    @property
    def fraction(self) -> float:
        return self.malformed / self.seen if self.seen else 0.0

    def check(self) -> None:
        """The end-of-input check, whatever the number of lines."""
        self._check_limit()

    def _check_limit(self) -> None:
        if self.max_count is not None:
            if self.malformed > self.max_count:
                lines = "line" if self.malformed == 1 else "lines"
                raise MalformedInput(
                    f"{self.malformed:,} malformed {lines}, more than the {self.max_count:,} tolerated; "
                    f"first: {self.describe_examples()}"
                )
            return
        if self.malformed and self.fraction > self.max_fraction:
            raise MalformedInput(
                f"{self.malformed:,} of {self.seen:,} lines are malformed ({self.fraction:.2%}, more than the "
                f"{self.max_fraction:.2%} tolerated); first: {self.describe_examples()}"
            )

    def describe_examples(self, most: int | None = None) -> str:
        described = "; ".join(f"{source} line {line}: {reason}" for source, line, reason in self.examples[:most])
        return described + "".join(f" ({hint})" for hint in self.hints)

    def summary(self) -> dict[str, Any]:
        """What a report or metadata.json records about the input's quality."""
        return {
            "lines": self.seen,
            "malformed": self.malformed,
            "malformed_fraction": round(self.fraction, 6),
            "examples": [{"file": s, "line": n, "reason": r} for s, n, r in self.examples],
            "dropped": dict(self.dropped),
            "unlabelled": self.unlabelled,
        }


@dataclass(frozen=True)
class Tolerance:
    """How many malformed lines a read accepts: a share of its lines or a count.

    Written ``1%`` or ``0.01`` (a share: a decimal point or a per cent sign) or ``25`` (a count; ``0`` stops
    at the first malformed line).
    """

    fraction: float = 0.01
    count: int | None = None

    @classmethod
    def parse(cls, text: str) -> Tolerance:
        text = text.strip()
        try:
            if text.endswith("%"):
                return cls._share(float(text[:-1]) / 100)
            if "." in text:
                return cls._share(float(text))
            count = int(text)
        except ValueError:
            raise ValueError("expected a share (1%, 0.01) or a count of lines (0, 25)") from None
        if count < 0:
            raise ValueError("a count of lines must not be negative")
        return cls(count=count)

    @classmethod
    def _share(cls, fraction: float) -> Tolerance:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("a share must lie between 0% and 100%")
        return cls(fraction=fraction)

    def counter(self) -> ErrorCounter:
        return ErrorCounter(max_fraction=self.fraction, max_count=self.count)

    def __str__(self) -> str:
        return f"{self.count} lines" if self.count is not None else f"{self.fraction:.2%}"


@dataclass(frozen=True)
class StarRule:
    """Star ratings (1-5, as in Amazon's review dumps: ``overall``, ``rating``) read as polarity labels.

    Ratings in ``negative`` become Label.NEGATIVE, those in ``positive`` Label.POSITIVE, any other rating is dropped
    (counted, not malformed). The default is the rule the Kaggle polarity set was made by.
    """

    negative: frozenset[int] = frozenset({1, 2})
    positive: frozenset[int] = frozenset({4, 5})

    @classmethod
    def parse(cls, text: str) -> StarRule:
        """``NEGATIVE:POSITIVE`` star ranges, such as ``1-2:4-5`` (the Kaggle rule) or ``1-3:4-5``."""
        match = re.fullmatch(r"\s*([1-5])(?:-([1-5]))?\s*:\s*([1-5])(?:-([1-5]))?\s*", text)
        if not match:
            raise ValueError("expected NEGATIVE:POSITIVE star ranges, such as 1-2:4-5")
        low_neg, high_neg, low_pos, high_pos = (int(g) if g else 0 for g in match.groups())
        negative = frozenset(range(low_neg, (high_neg or low_neg) + 1))
        positive = frozenset(range(low_pos, (high_pos or low_pos) + 1))
        if not negative or not positive or negative & positive:
            raise ValueError("the negative and positive star ranges must be non-empty and must not overlap")
        return cls(negative, positive)

    def label(self, value: Any) -> Label | None:
        """The rating's label, or None for a rating this rule drops; ValueError when not a 1-5 rating."""
        stars = _star_rating(value)
        if stars in self.negative:
            return Label.NEGATIVE
        if stars in self.positive:
            return Label.POSITIVE
        return None

    def __str__(self) -> str:
        return f"{_star_range(self.negative)}:{_star_range(self.positive)}"


def _star_rating(value: Any) -> int:
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, (int, float)) or number not in (1, 2, 3, 4, 5):
        raise ValueError(f"label {value!r} is not a star rating from 1 to 5")
    return int(number)


def _star_range(stars: frozenset[int]) -> str:
    low, high = min(stars), max(stars)
    return str(low) if low == high else f"{low}-{high}"


@dataclass(frozen=True)
class Reading:
    """How a file becomes records beyond its text and label columns (--title-column, --stars, --delimiter,
    --encoding): one value that commands pass on to ``read_records(..., **reading.options())``."""

    title_column: str | None = None
    stars: StarRule | None = None
    delimiter: str | None = None
    encoding: str = "utf-8"

    def options(self) -> dict[str, Any]:
        return {
            "title_column": self.title_column,
            "stars": self.stars,
            "delimiter": self.delimiter,
            "encoding": self.encoding,
        }

    def describe(self) -> dict[str, Any]:
        """JSON-ready, for metadata and checkpoint fingerprints."""
        return {**self.options(), "stars": None if self.stars is None else str(self.stars)}


def check_encoding(name: str) -> str:
    """The codec name if it can read review files line by line (ASCII-compatible, so lines split on newline bytes)."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise ValueError(f"unknown encoding {name!r}; for example utf-8, cp1252, latin-1") from None
    if "\n".encode(info.name) != b"\n" or "text,label".encode(info.name) != b"text,label":
        raise ValueError(
            f"{name!r} is not ASCII-compatible; convert the file to UTF-8 first (iconv -f {name} -t utf-8)"
        )
    return info.name


def read_records(
    path: str | Path,
    *,
    fmt: str = "auto",
    text_column: str = "text",
    label_column: str | None = "label",
    errors: ErrorCounter | None = None,
    limit: int | None = None,
    id_column: str | None = None,
    title_column: str | None = None,
    stars: StarRule | None = None,
    delimiter: str | None = None,
    encoding: str = "utf-8",
    keep_unlabelled: bool = False,
) -> Iterator[Record]:
    """Yield the records of ``path`` (``"-"`` = stdin) one at a time, at most ``limit`` of them.

    Malformed lines are skipped and counted in ``errors`` (a fresh 1%-threshold counter when
    None); MalformedInput is raised when they exceed its threshold. A CSV/JSONL file without
    ``label_column`` (or ``label_column=None``) yields records with ``label=None``; with
    ``keep_unlabelled`` a row without a label (an empty cell, a JSONL object without the key) does too, counted,
    instead of being malformed or passing unnoticed.
    Blank lines are skipped without counting. With ``id_column`` (CSV/JSONL only: fastText and text lines
    have no columns, a ValueError) each record carries that column as its id; a row without one is malformed.
    ``title_column`` and ``stars`` concern CSV/JSONL columns; fastText lines already hold ``Title: body`` and
    their own labels. ``delimiter`` None guesses the CSV delimiter from the header.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if limit is not None and limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    errors = ErrorCounter() if errors is None else errors
    encoding = check_encoding(encoding)
    columns = _Columns(text_column, label_column, id_column, title_column, stars, keep_unlabelled)
    source = "<stdin>" if str(path) == "-" else str(path)
    with _open_binary(path) as stream:
        lines = _numbered_lines(stream)
        first = next(lines, None)
        if first is None:
            return
        chosen = _choose_format(fmt, path, first[1], text_column, delimiter)
        if id_column is not None and chosen not in ("csv", "jsonl"):
            raise ValueError(f"{source}: an id column ({id_column!r}) needs CSV or JSONL input, not {chosen}")
        if fmt == "auto" and chosen == "fasttext" and not first[1].lstrip(codecs.BOM_UTF8).startswith(b"__label__"):
            errors.hint(
                f"{Path(source).name} was read as fastText for its name; "
                "for plain reviews, one per line, use --format text"
            )
        lines = _chain([first], lines)
        if chosen == "csv":
            records = _csv_records(lines, source, columns, delimiter, encoding, errors)
        else:
            parse = {"fasttext": _parse_fasttext, "jsonl": _jsonl_parser(columns), "text": _parse_text}[chosen]
            records = _line_records(lines, source, parse, encoding, errors)
        for count, record in enumerate(records, start=1):
            yield record
            if limit is not None and count >= limit:
                break
    errors.check()


# --- opening and format detection -------------------------------------------------------------


def _open_binary(path: str | Path) -> io.BufferedIOBase:
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
        return io.BufferedReader(bz2.open(path, "rb"), _DECOMPRESSED_BUFFER)
    if magic[:2] == b"\x1f\x8b":
        return io.BufferedReader(gzip.open(path, "rb"), _DECOMPRESSED_BUFFER)
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


def _choose_format(fmt: str, path: str | Path, first_line: bytes, text_column: str, delimiter: str | None) -> str:
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
    if text_column in next(csv.reader([head], delimiter=delimiter or guess_delimiter(head, text_column)), []):
        return "csv"
    return "text"


def guess_delimiter(header: str, text_column: str) -> str:
    """The CSV delimiter of ``header``: the candidate that makes ``text_column`` one of its columns, else the one
    splitting it into the most columns, else a comma. Knowing the column name is what makes one line enough."""
    split = {d: next(csv.reader([header], delimiter=d), []) for d in _DELIMITERS}
    named = [d for d, names in split.items() if text_column in (n.lstrip("\ufeff").strip() for n in names)]
    if named:
        return named[0]
    widest = max(_DELIMITERS, key=lambda d: len(split[d]))
    return widest if len(split[widest]) > 1 else ","


def _numbered_lines(stream: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    return enumerate(stream, start=1)


def _chain(head: list[T], rest: Iterator[T]) -> Iterator[T]:
    yield from head
    yield from rest


# --- one record per line: fastText, JSONL, plain text ----------------------------------------


class _BadLine(ValueError):
    """A line that cannot become a record; its message is the reason reported."""


class _Dropped(ValueError):
    """A well-formed line left out on purpose (its star rating has no polarity); its message is the reason."""


class _Unlabelled(int):
    """The label of a row whose label cell is empty, kept (``keep_unlabelled``) as no label."""


_NO_LABEL = _Unlabelled(-1)


@dataclass(frozen=True)
class _Columns:
    """Which CSV/JSONL columns make a record, and how its label is read."""

    text: str
    label: str | None
    id: str | None
    title: str | None
    stars: StarRule | None
    keep_unlabelled: bool


def _line_records(
    lines: Iterator[tuple[int, bytes]], source: str, parse, encoding: str, errors: ErrorCounter
) -> Iterator[Record]:
    for number, raw in lines:
        if number == 1 and raw.startswith(codecs.BOM_UTF8) and encoding == "utf-8":
            raw = raw[len(codecs.BOM_UTF8) :]
        if not raw.strip():
            continue
        try:
            text = raw.decode(encoding).rstrip("\r\n")
            record_text, label, review_id = parse(text)
        except UnicodeDecodeError as exc:
            errors.bad(source, number, _undecodable(exc, encoding, errors))
            continue
        except _Dropped as exc:
            errors.drop(str(exc))
            continue
        except _BadLine as exc:
            errors.bad(source, number, str(exc))
            continue
        if isinstance(label, _Unlabelled):
            errors.unlabelled += 1
            label = None
        errors.ok()
        yield Record(record_text, label, number, review_id)


def _undecodable(exc: UnicodeDecodeError, encoding: str, errors: ErrorCounter) -> str:
    """The reason for a line the encoding cannot decode; for UTF-8 also a hint naming the option that reads it."""
    if encoding != "utf-8":
        return f"not valid {encoding} ({exc.reason} at byte {exc.start})"
    errors.hint("the file is not UTF-8: give its encoding, such as --encoding cp1252 (Windows) or latin-1")
    return f"not valid UTF-8 ({exc.reason} at byte {exc.start})"


def _parse_fasttext(line: str) -> tuple[str, Label, None]:
    tag, _, text = line.partition(" ")
    if not tag.startswith("__label__"):
        raise _BadLine(f"no __label__ prefix: {line[:40]!r}")
    try:
        label = Label.from_fasttext(tag)
    except ValueError as exc:
        raise _BadLine(str(exc)) from None
    text = text.strip()
    if not text:
        raise _BadLine("empty text")
    return text, label, None


def _parse_text(line: str) -> tuple[str, None, None]:
    return line.strip(), None, None


def _jsonl_parser(columns: _Columns):
    def parse(line: str) -> tuple[str, Label | _Unlabelled | None, str | None]:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _BadLine(f"not JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise _BadLine(f"not a JSON object but {type(obj).__name__}")
        return _text(obj, columns), _label(obj, columns, label_optional=True), _review_id(obj, columns.id)

    return parse


def _text(row: dict[str, Any], columns: _Columns) -> str:
    """The review's text; with a title column ``Title: body``, as the Kaggle fastText files join them."""
    text = row.get(columns.text)
    if not isinstance(text, str):
        raise _BadLine(f"no text in {columns.text!r}" if text is None else f"{columns.text!r} is not a string")
    text = text.strip()
    if not text:
        raise _BadLine("empty text")
    title = row.get(columns.title) if columns.title is not None else None
    if title is not None and not isinstance(title, str):
        raise _BadLine(f"{columns.title!r} is not a string")
    return f"{title.strip()}: {text}" if title and title.strip() else text


def _label(row: dict[str, Any], columns: _Columns, label_optional: bool) -> Label | _Unlabelled | None:
    """The label, None (no label column), _NO_LABEL (a missing label kept); _Dropped for a rating the star rule
    leaves out.
    """
    if columns.label is None:
        return None
    if label_optional and columns.label not in row:
        return _NO_LABEL if columns.keep_unlabelled else None
    value = row.get(columns.label)
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        if columns.keep_unlabelled:
            return _NO_LABEL
        raise _BadLine(f"no label in {columns.label!r}")
    try:
        label = columns.stars.label(value) if columns.stars is not None else Label.parse(value)
    except ValueError as exc:
        raise _BadLine(str(exc)) from None
    if label is None:
        raise _Dropped(f"rated {_star_rating(value)} (--stars {columns.stars}: neither negative nor positive)")
    return label


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
    columns: _Columns,
    delimiter: str | None,
    encoding: str,
    errors: ErrorCounter,
) -> Iterator[Record]:
    csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
    bad_bytes: dict[int, str] = {}

    def decoded() -> Iterator[str]:
        for number, raw in lines:
            try:
                yield raw.decode(encoding)
            except UnicodeDecodeError as exc:
                bad_bytes[number] = _undecodable(exc, encoding, errors)
                yield raw.decode(encoding, errors="replace")

    text_lines = decoded()
    first = next(text_lines, "")
    delimiter = delimiter or guess_delimiter(first, columns.text)
    reader = csv.reader(_chain([first], text_lines), delimiter=delimiter)
    header = [name.lstrip("\ufeff").strip() for name in next(reader, [])]
    for column in (columns.text, columns.id, columns.title):
        if column is not None and column not in header:
            raise MalformedInput(
                f"{source}: the CSV header has no column {column!r}; columns are {header} "
                f"(split on {delimiter!r}; --delimiter sets another)"
            )
    if columns.label is not None and columns.label not in header:
        columns = replace(columns, label=None)
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
        broken = next((bad_bytes[n] for n in range(number, start) if n in bad_bytes), None)
        if broken:
            errors.bad(source, number, broken)
            continue
        if len(row) != len(header):
            joined = (
                f" (one row over lines {number}-{start - 1}: an unbalanced quote joins lines)"
                if start - number > 1
                else ""
            )
            errors.bad(source, number, f"{len(row)} fields, the header has {len(header)}{joined}")
            continue
        fields = dict(zip(header, row, strict=True))
        try:
            text = _text(fields, columns)
            label = _label(fields, columns, label_optional=False)
            review_id = _review_id(fields, columns.id)
        except _Dropped as exc:
            errors.drop(str(exc))
            continue
        except _BadLine as exc:
            errors.bad(source, number, str(exc))
            continue
        if isinstance(label, _Unlabelled):
            errors.unlabelled += 1
            label = None
        errors.ok()
        yield Record(text, label, number, review_id)
