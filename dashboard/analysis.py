"""Analyse one review or a whole CSV with the model in-process.

Everything a stranger can upload passes the checks here before the model sees
it: size (checked on the encoded upload, before it is decoded), encoding,
shape, the text column, the row limit. Rows whose text cell cannot be scored
are kept and marked with a reason, never dropped silently. The labelled CSV
that goes back is safe to open in a spreadsheet: cells that would run as a
formula are prefixed with an apostrophe, except numbers as people write them
(``-5``, ``+44 20 7946 0958``) outside the text column, which stay numbers for
pandas or R.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence

import pandas as pd

from common.contract import DEFAULT_MAX_TEXT_BYTES

DEFAULT_MAX_UPLOAD_MB = 50
DEFAULT_MAX_ROWS = 200_000  # a 50 MB file of Amazon reviews holds about 120,000
SCORE_CHUNK = 256

# Output columns added to the uploaded table.
LABEL_COLUMN = "predicted_label"
PROB_COLUMN = "p_negative"
STATUS_COLUMN = "status"
OK = "ok"
EMPTY = "not scored: empty text"
NUMBER = "not scored: a number, not text"
TOO_LONG = "not scored: text longer than {limit} bytes"

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A sign, then only digits and the marks numbers and phone numbers are written with, perhaps an exponent:
# without a letter or a quote there is no function, reference or DDE call for a spreadsheet to run.
_SIGNED_NUMBER = re.compile(r"[+-][\d\s.,()/%+-]*\d[\d\s.,()/%+-]*(?:[eE][+-]?\d+)?")
_NUMBER = re.compile(r"^\s*[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?\s*$")
_SNIFF_BYTES = 64 * 1024


class Scorer(Protocol):
    """What the analysis needs of the model: ``model.predictor.Predictor`` is one."""

    version: str

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]: ...


class InputError(ValueError):
    """Input the user must fix; the message is shown to them as it is."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_UPLOAD_MB * 1024 * 1024
    max_rows: int = DEFAULT_MAX_ROWS
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES

    @property
    def max_mb(self) -> float:
        return self.max_bytes / (1024 * 1024)


@dataclass(frozen=True)
class SingleResult:
    label: str
    p_negative: float


def analyse_text(scorer: Scorer, text: str | None, limits: Limits = Limits()) -> SingleResult:
    """Score one review; empty or over-long text is the user's to fix."""
    if text is None or not text.strip():
        raise InputError("Type or paste a review first: the text is empty.")
    if len(text.encode("utf-8", "surrogatepass")) > limits.max_text_bytes:
        raise InputError(f"The review is longer than {limits.max_text_bytes:,} bytes; shorten it.")
    [(label, p_negative)] = scorer.predict([text])
    return SingleResult(label, float(p_negative))


# -- the upload ----------------------------------------------------------------------------------


def human_size(size: float) -> str:
    """Bytes as people say them: 812 bytes, 14.2 KB, 51.3 MB."""
    if size < 1024:
        return f"{size:.0f} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def decode_upload(contents: str, filename: str | None, limits: Limits) -> bytes:
    """The file's bytes from dcc.Upload's data URL; the size is checked before decoding."""
    if not contents or "," not in contents:
        raise InputError("The upload arrived empty; choose the file again.")
    _, _, encoded = contents.partition(",")
    size = len(encoded) * 3 // 4 - encoded[-2:].count("=")
    if size > limits.max_bytes:
        raise InputError(f"{filename or 'The file'} is {human_size(size)}; the limit is {human_size(limits.max_bytes)}.")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("The upload is damaged (not valid base64); choose the file again.") from None


def read_table(data: bytes, filename: str | None, limits: Limits) -> pd.DataFrame:
    """Parse an uploaded CSV into strings (no type guessing); clear messages for everything else."""
    name = filename or "the file"
    if not data.strip():
        raise InputError(f"{name} is empty.")
    if data[:4] == b"PK\x03\x04":
        raise InputError(f"{name} is a zip or Excel workbook, not a CSV; save it as 'CSV UTF-8' and upload that.")
    text = _decode_text(data, name)
    if "\x00" in text[:_SNIFF_BYTES]:
        raise InputError(f"{name} looks like a binary file, not a CSV.")
    delimiter = _sniff_delimiter(text[:_SNIFF_BYTES])
    try:
        with warnings.catch_warnings():
            # pandas only warns when a row has more fields than the header, and drops the extra ones.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text),
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
        raise InputError(f"{name} is not a well-formed CSV: a row has more fields than the header.") from None
    except (pd.errors.ParserError, csv.Error) as exc:
        raise InputError(f"{name} is not a well-formed CSV: {_first_line(exc)}") from None
    if len(frame) > limits.max_rows:
        raise InputError(f"{name} has more than {limits.max_rows:,} rows; the limit is {limits.max_rows:,}. Split it.")
    if frame.empty:
        raise InputError(f"{name} has a header row but no data rows.")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _decode_text(data: bytes, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{name} is not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} cannot be read. "
            "Save it as 'CSV UTF-8' and upload it again."
        ) from None


def _sniff_delimiter(sample: str) -> str:
    """The delimiter that splits the header row into the most fields (comma when none does)."""
    header = sample.splitlines()[0] if sample else ""
    fields = {d: len(next(csv.reader([header], delimiter=d), [])) for d in (",", ";", "\t", "|")}
    best = max(fields, key=lambda d: (fields[d], d == ","))
    return best if fields[best] > 1 else ","


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def check_column(frame: pd.DataFrame, column: str | None) -> str:
    """The text column to score; the message lists the columns there are."""
    if column and column in frame.columns:
        return column
    shown = ", ".join(repr(c) for c in list(frame.columns)[:20])
    asked = f"no column {column!r}" if column else "no text column chosen"
    raise InputError(f"The file has {asked}. Pick the text column: {shown}.")


@dataclass(frozen=True)
class Upload:
    """An upload ready to score: its table, the text column, and every column for the picker."""

    filename: str
    frame: pd.DataFrame
    column: str


class UploadRefused(InputError):
    """An upload that cannot be scored as it is; ``columns`` fills the picker when the table was read."""

    def __init__(self, message: str, columns: list[str] | None = None) -> None:
        super().__init__(message)
        self.columns = columns


def open_upload(accepted: Mapping[str, Any], column: str | None, limits: Limits) -> Upload:
    """What the browser sent (the file, or only its size when over the limit) -> a table to score."""
    filename = str(accepted.get("filename") or "the file")
    if "too_large" in accepted:
        raise UploadRefused(f"{filename} is {human_size(float(accepted['too_large']))}; the limit is {human_size(limits.max_bytes)}.")
    try:
        frame = read_table(decode_upload(str(accepted.get("contents") or ""), filename, limits), filename, limits)
    except InputError as exc:
        raise UploadRefused(str(exc)) from None
    try:
        return Upload(filename, frame, check_column(frame, column))
    except InputError as exc:
        raise UploadRefused(str(exc), list(frame.columns)) from None


def cell_status(value: str, limits: Limits) -> str:
    """Why a cell cannot be scored, or OK."""
    if not value.strip():
        return EMPTY
    if _NUMBER.match(value):
        return NUMBER
    if len(value.encode("utf-8", "surrogatepass")) > limits.max_text_bytes:
        return TOO_LONG.format(limit=limits.max_text_bytes)
    return OK


def output_names(frame: pd.DataFrame) -> tuple[str, str, str]:
    """Names for the added columns that do not overwrite the user's own."""
    taken = set(frame.columns)

    def free(name: str) -> str:
        while name in taken:
            name += "_model"
        return name

    return free(LABEL_COLUMN), free(PROB_COLUMN), free(STATUS_COLUMN)


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
            "positive": int(found.get("positive", 0)),
            "negative": int(found.get("negative", 0)),
            "not scored": int(labels.isna().sum()),
        }


def score_table(
    scorer: Scorer,
    frame: pd.DataFrame,
    column: str,
    limits: Limits = Limits(),
    progress: Callable[[int, int], None] | None = None,
    chunk: int = SCORE_CHUNK,
) -> ScoredTable:
    """A copy of ``frame`` with the predicted label, p_negative and a status per row."""
    texts = frame[column].tolist()
    statuses = [cell_status(t, limits) for t in texts]
    scorable = [i for i, s in enumerate(statuses) if s == OK]
    labels: list[str | None] = [None] * len(texts)
    probs: list[float | None] = [None] * len(texts)
    for start in range(0, len(scorable), chunk):
        rows = scorable[start : start + chunk]
        for row, (label, p) in zip(rows, scorer.predict([texts[i] for i in rows])):
            labels[row], probs[row] = label, round(float(p), 6)
        if progress:
            progress(min(start + chunk, len(scorable)), len(scorable))
    label_name, prob_name, status_name = output_names(frame)
    scored = frame.copy()
    scored[label_name] = labels
    scored[prob_name] = pd.array(probs, dtype="Float64")
    scored[status_name] = statuses
    return ScoredTable(scored, column, label_name, prob_name, status_name)


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
            safe.iloc[:, position] = cells.map(lambda v: spreadsheet_safe(v, keep_numbers), na_action="ignore")
    # Quoting every text cell keeps a bare carriage return inside its cell (pandas leaves it unquoted otherwise).
    return safe.to_csv(index=False, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
