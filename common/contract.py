"""The message contract: input reviews, scored outputs and dead-letter records.

Defined once here; the producer encodes with it, the consumer decodes, scores
and dead-letters with it, the dashboard reads outputs with it. Decoding never
raises: every possible key/value is either a ``Review`` or a ``Rejection``
that says why, so one bad message can never stop the stream.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, NamedTuple, Sequence

import orjson

from common.labels import NEGATIVE_CLASS, parse_label

NEGATIVE = "negative"
POSITIVE = "positive"
LABELS = (NEGATIVE, POSITIVE)

# Dead-letter reasons (the value of the ``dlq.error.code`` header).
NOT_UTF8 = "not_utf8"
NOT_JSON = "not_json"
NOT_OBJECT = "not_object"
NO_TEXT = "no_text"
EMPTY_TEXT = "empty_text"
TEXT_TOO_LONG = "text_too_long"
BAD_LABEL = "bad_label"
BAD_FIELD = "bad_field"
SCORING_FAILED = "scoring_failed"
REASONS = (NOT_UTF8, NOT_JSON, NOT_OBJECT, NO_TEXT, EMPTY_TEXT, TEXT_TOO_LONG, BAD_LABEL, BAD_FIELD, SCORING_FAILED)

# Dead-letter headers, added to the original message's headers.
H_ERROR_CODE = "dlq.error.code"
H_ERROR_MESSAGE = "dlq.error.message"
H_SOURCE_TOPIC = "dlq.source.topic"
H_SOURCE_PARTITION = "dlq.source.partition"
H_SOURCE_OFFSET = "dlq.source.offset"
H_ORIGINAL_BYTES = "dlq.original.bytes"  # only when the value was cut: its size in bytes
H_HEADERS_DROPPED = "dlq.headers.dropped"  # only when original headers were left out: how many

# What one published record may carry of the input message. The broker accepts messages up to ~1 MB but
# librdkafka's producer refuses records over 1,000,000 bytes, so an input copied whole into a result or
# a dead letter could fail to publish, and being uncommitted, stop the stream on every restart.
MAX_KEY_BYTES = 1024  # longer keys are cut (the cut key still partitions deterministically)
DEAD_LETTER_MAX_VALUE_BYTES = 512 * 1024
DEAD_LETTER_MAX_HEADER_BYTES = 64 * 1024

DEFAULT_MAX_TEXT_BYTES = 100_000
_MAX_ID_CHARS = 512

Headers = Sequence[tuple[str, bytes | None]]


def normalise_label(value: Any) -> str | None:
    """Map a true label in any spelling of the shared vocabulary (common/labels.py) to "negative"/"positive";
    None when it is not one."""
    try:
        return NEGATIVE if parse_label(value) == NEGATIVE_CLASS else POSITIVE
    except ValueError:
        return None


class Review(NamedTuple):
    """One review ready to score (a NamedTuple, as Source: made per message, a third of a frozen dataclass' cost)."""

    id: str
    text: str
    title: str | None = None
    true_label: str | None = None
    event_time: float | None = None  # seconds since the epoch


@dataclass(frozen=True)
class Rejection:
    """Why a message cannot be scored; it goes to the dead-letter topic with this reason."""

    code: str
    message: str


class Source(NamedTuple):
    """Where a message came from."""

    topic: str
    partition: int
    offset: int

    def ref(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


def encode_review(
    text: str,
    id: str | None = None,
    title: str | None = None,
    label: str | None = None,
    ts: float | None = None,
) -> bytes:
    """The producer's side of the input contract (fields left out when unknown)."""
    doc: dict[str, Any] = {"text": text}
    if id is not None:
        doc["id"] = id
    if title is not None:
        doc["title"] = title
    if label is not None:
        doc["label"] = label
    doc["ts"] = time.time() if ts is None else ts
    return _json_bytes(doc)


def _json_bytes(doc: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON. Why orjson: ``json.dumps`` + ``encode`` was the producer's largest cost per
    message (7 of 17 us); orjson takes a third of that. Raises ValueError, as ``str.encode`` did, for
    what UTF-8 cannot carry (a lone surrogate); NaN and infinities become null (valid JSON)."""
    try:
        return orjson.dumps(doc)
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"cannot write this message as JSON: {exc}") from None


def decode_review(
    key: bytes | None, value: bytes | None, source: Source, max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES
) -> Review | Rejection:
    """Decode one input message; never raises."""
    if value is None:
        return Rejection(NO_TEXT, "message has no value (tombstone)")
    if len(value) > max_text_bytes * 6 + 65_536:  # far over any valid encoding: reject before parsing
        return Rejection(TEXT_TOO_LONG, f"message of {len(value)} bytes exceeds the {max_text_bytes}-byte text limit")
    try:
        body = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(NOT_UTF8, f"value is not UTF-8: {exc.reason} at byte {exc.start}")
    stripped = body.lstrip()
    if not stripped.startswith(("{", "[", '"')):
        return _plain_text_review(body, key, source, max_text_bytes)
    try:
        doc = _parse_json(body)
    except (ValueError, RecursionError) as exc:
        return Rejection(NOT_JSON, f"value looks like JSON but does not parse: {str(exc)[:200]}")
    if isinstance(doc, str):
        return _plain_text_review(doc, key, source, max_text_bytes)
    if not isinstance(doc, dict):
        return Rejection(NOT_OBJECT, f"JSON value is a {type(doc).__name__}, expected an object with 'text'")
    return _review_from_object(doc, key, source, max_text_bytes)


def _parse_json(data: str | bytes) -> Any:
    """``json.loads``, at a third of its time per message through orjson. What orjson refuses and json reads (NaN,
    huge integers, "\\ud800" escapes) goes to json, so it is accepted, or fails with json's error, as ever."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _plain_text_review(text: str, key: bytes | None, source: Source, max_text_bytes: int) -> Review | Rejection:
    problem = _check_text(text, max_text_bytes)
    if problem:
        return problem
    return Review(id=_key_id(key) or source.ref(), text=text)


def _review_from_object(doc: dict, key: bytes | None, source: Source, max_text_bytes: int) -> Review | Rejection:
    if "text" not in doc or doc["text"] is None:
        return Rejection(NO_TEXT, "JSON object has no 'text' field")
    text = doc["text"]
    if not isinstance(text, str):
        return Rejection(NO_TEXT, f"'text' is a {type(text).__name__}, expected a string")
    problem = _check_text(text, max_text_bytes)
    if problem:
        return problem
    true_label = None
    if doc.get("label") is not None:
        true_label = normalise_label(doc["label"])
        if true_label is None:
            return Rejection(BAD_LABEL, f"unknown label {str(doc['label'])[:50]!r}; use negative/positive or 1/0")
    title = doc.get("title")
    if title is not None and not isinstance(title, str):
        return Rejection(BAD_FIELD, f"'title' is a {type(title).__name__}, expected a string")
    if title is not None and not _encodable(title):
        return Rejection(BAD_FIELD, "'title' holds unpaired surrogate escapes")
    event_time = _event_time(doc.get("ts"))
    if isinstance(event_time, Rejection):
        return event_time
    review_id = doc.get("id")
    if review_id is not None and not isinstance(review_id, (str, int)) or isinstance(review_id, bool):
        return Rejection(BAD_FIELD, f"'id' is a {type(review_id).__name__}, expected a string or integer")
    if review_id is not None and len(str(review_id)) > _MAX_ID_CHARS:
        return Rejection(BAD_FIELD, f"'id' is longer than {_MAX_ID_CHARS} characters")
    if isinstance(review_id, str) and not _encodable(review_id):
        return Rejection(BAD_FIELD, "'id' holds unpaired surrogate escapes")
    return Review(
        id=str(review_id) if review_id is not None else (_key_id(key) or source.ref()),
        text=text,
        title=title,
        true_label=true_label,
        event_time=event_time,
    )


def _check_text(text: str, max_text_bytes: int) -> Rejection | None:
    if len(text) > max_text_bytes:  # cheap early out: every character is at least one byte
        return Rejection(TEXT_TOO_LONG, f"text exceeds {max_text_bytes} bytes")
    try:
        size = len(text.encode("utf-8"))  # C speed; fails only on lone surrogates (JSON "\\ud800" escapes)
    except UnicodeEncodeError:
        return Rejection(NOT_UTF8, "text holds unpaired surrogate escapes")
    if size > max_text_bytes:
        return Rejection(TEXT_TOO_LONG, f"text exceeds {max_text_bytes} bytes")
    if not text.strip():
        return Rejection(EMPTY_TEXT, "text is empty or whitespace only")
    return None


def _encodable(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 again (JSON "\\ud800" escapes leave lone surrogates that do not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _event_time(ts: Any) -> float | None | Rejection:
    """Accept seconds (or milliseconds) since the epoch; None when absent."""
    if ts is None:
        return None
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or ts != ts or ts in (float("inf"), float("-inf")):
        return Rejection(BAD_FIELD, f"'ts' must be seconds since the epoch, got {str(ts)[:50]!r}")
    try:
        return ts / 1000.0 if ts > 1e11 else float(ts)
    except OverflowError:  # an integer beyond any float, e.g. 10**400
        return Rejection(BAD_FIELD, f"'ts' is out of range: an integer of {len(str(abs(ts)))} digits")


def _key_id(key: bytes | None) -> str | None:
    if not key or len(key) > _MAX_ID_CHARS:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class Result:
    """One scored review as published on the output topic."""

    id: str
    label: str
    p_negative: float
    model_version: str
    scored_at: float
    event_time: float | None = None
    true_label: str | None = None
    text: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def encode_result(
    review: Review, label: str, p_negative: float, model_version: str, scored_at: float, snippet_chars: int = 280
) -> bytes:
    """The output value: JSON any consumer can read (a text snippet for people watching the stream)."""
    doc: dict[str, Any] = {
        "id": review.id,
        "label": label,
        "p_negative": round(float(p_negative), 7),
        "model_version": model_version,
        "scored_at": scored_at,
        "event_time": review.event_time,
        "text": review.text[:snippet_chars],
    }
    if review.true_label is not None:
        doc["true_label"] = review.true_label
    return _json_bytes(doc)


def decode_result(value: bytes) -> Result:
    """Read one output value; raises ValueError when it does not follow the contract."""
    doc = _parse_json(value)
    if not isinstance(doc, dict):
        raise ValueError("result is not a JSON object")
    try:
        label = doc["label"]
        if label not in LABELS:
            raise ValueError(f"unknown label {label!r}")
        return Result(
            id=str(doc["id"]),
            label=label,
            p_negative=float(doc["p_negative"]),
            model_version=str(doc["model_version"]),
            scored_at=float(doc["scored_at"]),
            event_time=None if doc.get("event_time") is None else float(doc["event_time"]),
            true_label=doc.get("true_label"),
            text=doc.get("text"),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"result misses or mistypes a field: {exc}") from None


def bounded_key(key: bytes | None) -> bytes | None:
    """The key a published record carries: the input's, cut to MAX_KEY_BYTES."""
    return key[:MAX_KEY_BYTES] if key is not None else None


def dead_letter_value(value: bytes | None) -> bytes:
    """The value a dead letter carries: the input's, cut to DEAD_LETTER_MAX_VALUE_BYTES."""
    return (value or b"")[:DEAD_LETTER_MAX_VALUE_BYTES]


def dead_letter_headers(
    rejection: Rejection, source: Source, original: Headers | None, value_bytes: int | None = None
) -> list[tuple[str, bytes]]:
    """The original headers (up to DEAD_LETTER_MAX_HEADER_BYTES) plus why and where from.

    ``value_bytes``, the original value's size, is recorded when dead_letter_value cut it.
    """
    original = list(original or [])
    headers: list[tuple[str, bytes]] = []
    room = DEAD_LETTER_MAX_HEADER_BYTES
    for k, v in original:
        room -= len(k.encode("utf-8", "replace")) + len(v or b"")
        if room < 0:
            break
        headers.append((k, v if v is not None else b""))
    if len(headers) < len(original):
        headers.append((H_HEADERS_DROPPED, str(len(original) - len(headers)).encode()))
    if value_bytes is not None and value_bytes > DEAD_LETTER_MAX_VALUE_BYTES:
        headers.append((H_ORIGINAL_BYTES, str(value_bytes).encode()))
    headers += [
        (H_ERROR_CODE, rejection.code.encode()),
        (H_ERROR_MESSAGE, rejection.message.encode("utf-8", "replace")[:1000]),
        (H_SOURCE_TOPIC, source.topic.encode()),
        (H_SOURCE_PARTITION, str(source.partition).encode()),
        (H_SOURCE_OFFSET, str(source.offset).encode()),
    ]
    return headers


def header_value(headers: Headers | None, name: str) -> str | None:
    """The last value of header ``name`` as text (dead-letter readers use it)."""
    found = None
    for key, value in headers or []:
        if key == name:
            found = (value or b"").decode("utf-8", "replace")
    return found
