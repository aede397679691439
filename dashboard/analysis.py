"""Analyse one review or a whole CSV with the model in-process.

Everything a stranger can upload passes the checks here before the model sees
it: size, that it is text at all, its encoding (UTF-8, else detected), shape,
the text column, the row limit. A 50 MB upload is held as few times as
possible: the bytes are parsed without a decoded copy, and scoring adds its
columns to the table instead of copying it. Rows whose text cell cannot be scored
are kept and marked with a reason, never dropped silently. The labelled CSV
that goes back is safe to open in a spreadsheet: cells that would run as a
formula are prefixed with an apostrophe, except numbers as people write them
(``-5``, ``+44 20 7946 0958``) outside the text column, which stay numbers for
pandas or R.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol, runtime_checkable

import charset_normalizer
import pandas as pd

from common.contract import DEFAULT_MAX_TEXT_BYTES, EMPTY_TEXT, NOT_OBJECT, TEXT_TOO_LONG, not_review_kind, unscorable
from common.labels import Label
from dashboard.explanation_view import effect_text
from model.explain import Explanation, WordEffect
from model.predictor import Judge

DEFAULT_MAX_UPLOAD_MB = 50
DEFAULT_MAX_ROWS = 200_000  # a 50 MB file of Amazon reviews holds about 120,000
SCORE_CHUNK = 256

# Output columns added to the uploaded table.
LABEL_COLUMN = "predicted_label"
PROB_COLUMN = "p_negative"
STATUS_COLUMN = "status"
# With explanations: the strongest words each way, as "word (+1.2 pp); ..." (see dashboard/explanation_view.py).
NEGATIVE_WORDS_COLUMN = "words_toward_negative"
POSITIVE_WORDS_COLUMN = "words_toward_positive"
EXPLAIN_CHUNK = 32  # texts per explain_many call: the variants of a few dozen reviews fill the engine's threads
EXPLAINED_WORDS = 3
OK = "ok"
EMPTY = "not scored: empty text"
NOT_TEXT = "not scored: {kind}, not text"  # a whole JSON number, true/false, null or array, as in the stream
NO_WORDS = "can't judge: no words the model knows"
TOO_LONG = "not scored: text longer than {limit} bytes"
# What a cell's status and the review box say for each reason the contract gives (common.contract.unscorable).
_CELL = {EMPTY_TEXT: EMPTY, NOT_OBJECT: NOT_TEXT, TEXT_TOO_LONG: TOO_LONG}
_REVIEW_BOX = {
    EMPTY_TEXT: "Type or paste a review first: the text is empty.",
    NOT_OBJECT: NOT_TEXT,
    TEXT_TOO_LONG: "The review is longer than {limit:,} bytes; shorten it.",
}

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A sign, then only digits and the marks numbers and phone numbers are written with, perhaps an exponent:
# without a letter or a quote there is no function, reference or DDE call for a spreadsheet to run.
_SIGNED_NUMBER = re.compile(r"[+-][\d\s.,()/%+-]*\d[\d\s.,()/%+-]*(?:[eE][+-]?\d+)?")
_SNIFF_BYTES = 64 * 1024
_DECODE_CHUNK = 1024 * 1024  # the check that a file is UTF-8 decodes it slice by slice
_LEGACY_SAMPLE_BYTES = 64 * 1024  # lines with non-ASCII bytes that the encoding detector reads
# What Excel on Windows writes for "CSV (Comma delimited)" in Western
# locales: named when it reads a file as well as the best guess.
_WINDOWS_WESTERN = "cp1252"
_CHAOS_TIE = 0.01
_NON_ASCII_LINE = re.compile(rb"[^\n]*[\x80-\xff][^\n]*\n?")
# Files people upload by mistake, recognised from their first bytes.
_NOT_TEXT = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"\xd0\xcf\x11\xe0": "an Excel 97-2003 workbook (or another Office document)",
}


@runtime_checkable
class Explainer(Protocol):
    """A scorer that can also say which words carried a verdict (``Predictor.explain``)."""

    def explain(self, text: str, top: int = 5) -> Explanation: ...

    def explain_many(self, texts: Sequence[str], top: int = 5) -> list[Explanation]: ...


class InputError(ValueError):
    """Input the user must fix; the message is shown to them as it is."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_UPLOAD_MB * 1024 * 1024
    max_rows: int = DEFAULT_MAX_ROWS
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES


@dataclass(frozen=True)
class SingleResult:
    label: Label
    p_negative: float
    explanation: Explanation | None = None  # when the scorer can explain


def analyse_text(scorer: Judge, text: str | None, limits: Limits = Limits()) -> SingleResult:
    """Score one review; text the stream would not score is the user's to fix, and text the model cannot judge is
    said so."""
    text = text or ""
    rejection = unscorable(text, limits.max_text_bytes)
    if rejection is not None:
        raise InputError(
            _REVIEW_BOX.get(rejection.code, "{message}").format(
                message=rejection.message, limit=limits.max_text_bytes, kind=not_review_kind(text)
            )
        )
    [verdict] = scorer.judge([text])
    if verdict is None:
        raise InputError(NO_WORDS)
    explanation = scorer.explain(text) if isinstance(scorer, Explainer) else None
    return SingleResult(verdict[0], float(verdict[1]), explanation)


# -- the upload ----------------------------------------------------------------------------------


def plural(count: int, noun: str) -> str:
    """``1 row``, ``2 rows``, ``1,500 rows``."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def human_size(size: float) -> str:
    """Bytes as people say them: 1 byte, 812 bytes, 14.2 KB, 51.3 MB."""
    if size < 1024:
        return f"{size:.0f} byte" + ("" if round(size) == 1 else "s")
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def read_table(data: bytes, filename: str | None, limits: Limits, encoding: str | None = None) -> pd.DataFrame:
    """Parse an uploaded CSV into strings (no type guessing); clear messages for everything else.

    ``encoding``: as ``detect_encoding`` found it (detected here when not given). pandas decodes
    the bytes as it parses them, so the file is never held as one decoded string.
    """
    name = filename or "the file"
    encoding = encoding or detect_encoding(data, name)
    sample = data[:_SNIFF_BYTES].decode(encoding, errors="ignore")  # a character cut at the end is dropped
    if "\x00" in sample:
        raise InputError(f"{name} is not a text file; upload a CSV.")
    delimiter = _sniff_delimiter(sample)
    try:
        with warnings.catch_warnings():
            # pandas only warns when a row has more fields than the header, and drops the extra ones.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.BytesIO(data),
                encoding=encoding,
                encoding_errors="strict",
                sep=delimiter,
                dtype=str,
                keep_default_na=False,
                index_col=False,
                nrows=limits.max_rows + 1,
                on_bad_lines="error",
            )
    except pd.errors.EmptyDataError:
        raise InputError(f"{name} has no header row and no data.") from None
    except pd.errors.ParserWarning:
        raise InputError(f"{name} is not a well-formed CSV: {_extra_fields(data, encoding, delimiter)}") from None
    except (pd.errors.ParserError, csv.Error) as exc:
        raise InputError(f"{name} is not a well-formed CSV: {_first_line(exc)}") from None
    if len(frame) > limits.max_rows:
        raise InputError(
            f"{name} has more than {plural(limits.max_rows, 'row')}; the limit is {limits.max_rows:,}. Split it."
        )
    if frame.empty:
        raise InputError(f"{name} has a header row but no data rows.")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def detect_encoding(data: bytes, name: str) -> str:
    """The encoding to read ``data`` with: a byte-order mark's, UTF-8 when it all decodes, else the detector's guess.

    Refuses files that are not text (images, workbooks, anything with NUL bytes) in words that say
    so, and text that no encoding reads, naming the line.
    """
    if not data or data.isspace():
        raise InputError(f"{name} is empty.")
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    _refuse_binary(data, name)
    if _undecodable_at(data, "utf-8") is None:
        return "utf-8"
    encoding = _guess_legacy_encoding(data)
    if encoding is None:
        raise InputError(f"{name} is not a text file in any encoding this page recognises; upload a CSV.")
    bad = _undecodable_at(data, encoding)
    if bad is not None:
        line = data[:bad].count(b"\n") + 1
        raise InputError(
            f"{name} is neither UTF-8 nor {encoding} text: byte 0x{data[bad]:02x} on line {line} cannot be read. "
            "Save it as 'CSV UTF-8' and upload it again."
        )
    return encoding


def _refuse_binary(data: bytes, name: str) -> None:
    if data.startswith(b"PK\x03\x04"):
        raise InputError(f"{name} is a zip or Excel workbook, not a CSV; save it as 'CSV UTF-8' and upload that.")
    for magic, kind in _NOT_TEXT.items():
        if data.startswith(magic):
            raise InputError(f"{name} is not a text file: it is {kind}. Upload a CSV.")
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise InputError(f"{name} is not a text file (it holds binary data); upload a CSV.")


def _undecodable_at(data: bytes, encoding: str) -> int | None:
    """The offset of the first byte ``encoding`` cannot read, or None; decoded in slices, so no decoded copy is kept."""
    decoder = codecs.getincrementaldecoder(encoding)()
    view = memoryview(data)
    for offset in range(0, len(data), _DECODE_CHUNK):
        held_back = len(
            decoder.getstate()[0]
        )  # the start of a character cut by the slice before, decoded with this one
        try:
            decoder.decode(view[offset : offset + _DECODE_CHUNK], final=offset + _DECODE_CHUNK >= len(data))
        except UnicodeDecodeError as exc:
            return offset - held_back + exc.start
    return None


def _guess_legacy_encoding(data: bytes) -> str | None:
    """charset-normalizer's guess from the lines that hold non-ASCII bytes (the rest tells it nothing).

    Many single-byte encodings read a short sample equally well; when Windows-1252 (Excel's default)
    is among the best, it wins.
    """
    sample = bytearray()
    for match in _NON_ASCII_LINE.finditer(data):
        sample += match.group()
        if len(sample) >= _LEGACY_SAMPLE_BYTES:
            break
    matches = charset_normalizer.from_bytes(bytes(sample))
    best = matches.best()
    if best is None:
        return None
    # could_be_from_charset: the encodings that read the sample exactly as the match does.
    if any(_WINDOWS_WESTERN in m.could_be_from_charset for m in matches if m.chaos <= best.chaos + _CHAOS_TIE):
        return _WINDOWS_WESTERN
    return best.encoding


def _extra_fields(data: bytes, encoding: str, delimiter: str) -> str:
    """Which line has more fields than the header (pandas only warns, without the line)."""
    with io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="") as text:
        rows = csv.reader(text, delimiter=delimiter)
        header = len(next(rows, []))
        for row in rows:
            if len(row) > header:
                return f"line {rows.line_num} has {plural(len(row), 'field')}, the header {header}."
    return "a row has more fields than the header."


def _sniff_delimiter(sample: str) -> str:
    """The delimiter that splits the header row into the most fields (comma when none does)."""
    header = sample.splitlines()[0] if sample else ""
    fields = {d: len(next(csv.reader([header], delimiter=d), [])) for d in (",", ";", "\t", "|")}
    best = max(fields, key=lambda d: (fields[d], d == ","))
    return best if fields[best] > 1 else ","


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


DEFAULT_TEXT_COLUMN = "text"


def check_column(frame: pd.DataFrame, column: str | None) -> str:
    """The text column to score; the message lists the columns there are."""
    if column and column in frame.columns:
        return column
    shown = ", ".join(repr(c) for c in list(frame.columns)[:20])
    asked = f"no column {column!r}" if column else "no text column chosen"
    raise InputError(f"The file has {asked}. Pick the text column: {shown}.")


def default_column(columns: Sequence[str], last_choice: str | None) -> str:
    """The column a new file starts with: its own ``text``, else the user's last choice where the file has it.

    Each file starts from its own columns, so a choice made for one file never blocks the next.
    """
    if DEFAULT_TEXT_COLUMN in columns or not last_choice or last_choice not in columns:
        return DEFAULT_TEXT_COLUMN
    return last_choice


@dataclass(frozen=True)
class Upload:
    """An upload ready to score: its table, the text column, and every column for the picker."""

    filename: str
    frame: pd.DataFrame
    column: str
    encoding: str
    size: int  # bytes of the file


class UploadRefused(InputError):
    """An upload that cannot be scored as it is; ``columns`` fills the picker when the table was read."""

    def __init__(self, message: str, columns: list[str] | None = None) -> None:
        super().__init__(message)
        self.columns = columns


def open_upload(
    data: bytes, filename: str, column: str | None, limits: Limits, last_choice: str | None = None
) -> Upload:
    """An uploaded file's bytes -> a table to score.

    ``column``: the one the user picked for this file; None for a new file, which starts from
    ``default_column`` (``last_choice`` is the user's pick for an earlier file).
    """
    if len(data) > limits.max_bytes:
        raise UploadRefused(f"{filename} is {human_size(len(data))}; the limit is {human_size(limits.max_bytes)}.")
    try:
        encoding = detect_encoding(data, filename)
        frame = read_table(data, filename, limits, encoding)
    except InputError as exc:
        raise UploadRefused(str(exc)) from None
    chosen = column or default_column(list(frame.columns), last_choice)
    try:
        return Upload(filename, frame, check_column(frame, chosen), encoding, len(data))
    except InputError as exc:
        raise UploadRefused(str(exc), list(frame.columns)) from None


def cell_status(value: str, limits: Limits) -> str:
    """Why a cell cannot be scored, or OK."""
    rejection = unscorable(value, limits.max_text_bytes)
    if rejection is None:
        return OK
    return _CELL.get(rejection.code, "not scored: {message}").format(
        message=rejection.message, limit=limits.max_text_bytes, kind=not_review_kind(value)
    )


def output_names(frame: pd.DataFrame) -> tuple[str, str, str, str, str]:
    """Names for the added columns that do not overwrite the user's own."""
    taken = set(frame.columns)

    def free(name: str) -> str:
        while name in taken:
            name += "_model"
        return name

    return (
        free(LABEL_COLUMN),
        free(PROB_COLUMN),
        free(STATUS_COLUMN),
        free(NEGATIVE_WORDS_COLUMN),
        free(POSITIVE_WORDS_COLUMN),
    )


@dataclass(frozen=True)
class ScoredTable:
    """The uploaded rows with the model's columns added, and those columns' names."""

    frame: pd.DataFrame
    text_column: str
    label_column: str
    prob_column: str
    status_column: str

    def counts(self) -> dict[str, int]:
        """Rows per predicted label, plus the rows not scored."""
        labels = self.frame[self.label_column]
        found = labels.value_counts(dropna=True).to_dict()
        return {
            **{label.value: int(found.get(label.value, 0)) for label in (Label.POSITIVE, Label.NEGATIVE)},
            "not scored": int(labels.isna().sum()),
        }


def score_table(
    scorer: Judge,
    frame: pd.DataFrame,
    column: str,
    limits: Limits = Limits(),
    progress: Callable[[int, int], None] | None = None,
    chunk: int = SCORE_CHUNK,
    explain: bool = False,
) -> ScoredTable:
    """``frame`` with the predicted label, p_negative and a status per row added (in place: no copy of a large
    table); NO_WORDS where the model cannot judge the text. ``explain`` (a scorer that can) adds the strongest
    words toward each label, a few times the scoring's cost."""
    explainer = scorer if explain and isinstance(scorer, Explainer) else None
    texts = frame[column].tolist()
    statuses = [cell_status(t, limits) for t in texts]
    scorable = [i for i, s in enumerate(statuses) if s == OK]
    labels: list[str | None] = [None] * len(texts)
    probs: list[float | None] = [None] * len(texts)
    words: list[tuple[str, str] | None] = [None] * len(texts)
    for start in range(0, len(scorable), chunk):
        rows = scorable[start : start + chunk]
        for row, verdict in zip(rows, scorer.judge([texts[i] for i in rows]), strict=True):
            if verdict is None:
                statuses[row] = NO_WORDS
            else:
                labels[row], probs[row] = verdict[0].value, round(float(verdict[1]), 6)
        if explainer is not None:
            judged = [row for row in rows if labels[row] is not None]
            for part in range(0, len(judged), EXPLAIN_CHUNK):
                some = judged[part : part + EXPLAIN_CHUNK]
                for row, found in zip(
                    some, explainer.explain_many([texts[i] for i in some], top=EXPLAINED_WORDS), strict=True
                ):
                    words[row] = (_word_list(found.top_negative), _word_list(found.top_positive))
        if progress:
            progress(min(start + chunk, len(scorable)), len(scorable))
    label_name, prob_name, status_name, negative_name, positive_name = output_names(frame)
    frame[label_name] = labels
    frame[prob_name] = pd.array(probs, dtype="Float64")
    frame[status_name] = statuses
    if explainer is not None:
        frame[negative_name] = [None if w is None else w[0] for w in words]
        frame[positive_name] = [None if w is None else w[1] for w in words]
    return ScoredTable(frame, column, label_name, prob_name, status_name)


def _word_list(found: Sequence[WordEffect]) -> str:
    return "; ".join(f"{w.text} ({effect_text(w.effect or 0.0)})" for w in found)


# -- the download --------------------------------------------------------------------------------


def spreadsheet_safe(value: object, keep_numbers: bool = False) -> object:
    """Prefix text a spreadsheet would run as a formula (OWASP's CSV-injection advice).

    ``keep_numbers`` leaves signed numbers (``-5``, ``+44 20 7946 0958``, ``-1.5e3``) as they are:
    prefixing them turns data columns into text for every other reader of the file.
    """
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    if keep_numbers and _SIGNED_NUMBER.fullmatch(value):
        return value
    return "'" + value


def to_safe_csv(frame: pd.DataFrame, text_column: str) -> str:
    """The table as CSV text, formula-safe: the text column fully guarded, other cells and headers except numbers."""
    safe = frame.copy()
    safe.columns = [spreadsheet_safe(c, keep_numbers=True) for c in safe.columns]
    for position, name in enumerate(frame.columns):
        cells = safe.iloc[:, position]
        if cells.dtype == object or pd.api.types.is_string_dtype(cells):
            keep_numbers = name != text_column
            safe.iloc[:, position] = cells.map(partial(spreadsheet_safe, keep_numbers=keep_numbers), na_action="ignore")
    # Quoting every text cell keeps a bare carriage return inside its cell (pandas leaves it unquoted otherwise).
    return safe.to_csv(index=False, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
