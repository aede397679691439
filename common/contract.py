"""The message contract: input reviews, scored outputs and dead-letter records.

Defined once here, as two codec pairs: ``encode_review``/``decode_review`` for the input topic (the producer
encodes, the consumer decodes) and ``encode_result``/``decode_result`` for the output topic (the consumer
encodes, the dashboard decodes). Each pair is symmetric: decoding what was encoded gives back the same
``Review`` or ``Result``. Decoding a review never raises: every possible key/value is either a ``Review`` or a
``Rejection`` that says why, so one bad message can never stop the stream. ``unscorable`` is the one
definition of a text that can be scored, which the dashboard applies to what people type and upload.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from common.labels import Label

# Dead-letter reasons (the value of the ``dlq.error.code`` header).
NOT_UTF8 = "not_utf8"
NOT_JSON = "not_json"
NOT_OBJECT = "not_object"
NO_TEXT = "no_text"
EMPTY_TEXT = "empty_text"
TEXT_TOO_LONG = "text_too_long"
NO_WORDS = "no_words"  # the text holds no word the model knows (decided by the scorer, model.predictor)
SCORING_FAILED = "scoring_failed"
REASONS = (NOT_UTF8, NOT_JSON, NOT_OBJECT, NO_TEXT, EMPTY_TEXT, TEXT_TOO_LONG, NO_WORDS, SCORING_FAILED)

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
SNIPPET_CHARS = 280  # of a review's text in its result: enough for people watching the stream
_MAX_ID_CHARS = 512
# An event time later than this after decoding is a producer's clock or unit error (microseconds, say), not news.
MAX_FUTURE_TS_SECONDS = 24 * 3600
_MILLISECONDS_FROM = 1e11  # a number ts above this is milliseconds (1e11 s is the year 5138)

# JSON's own whitespace, and the byte-order mark some writers put first (it is not part of the value).
_LEADING = " \t\r\n\ufeff"
# Only a value that opens like an object ('{', then '"' or '}') is read as a JSON object: plain reviews often
# open with '{sigh}', '"Quote": ...' or '[Update]', and they are text, not broken JSON.
_OBJECT_START = re.compile(r'[ \t\r\n\ufeff]*(\{[ \t\r\n]*["}])')
# First characters of the other JSON values that are worth a parse (strings, arrays, numbers); true/false/null
# are compared whole.
_BARE_VALUE_START = frozenset('"[-0123456789')
_BARE_WORDS = frozenset(("true", "false", "null"))

Headers = Sequence[tuple[str, bytes | None]]


class Review(NamedTuple):
    """One input review: what the producer encodes and the consumer decodes and scores (a NamedTuple, as Source: made
    per message, a third of a frozen dataclass' cost)."""

    id: str  # decoded: never empty (the key, else topic:partition:offset, when the value names none)
    text: str
    title: str | None = None
    true_label: Label | None = None
    event_time: float | None = None  # seconds since the epoch
    warnings: tuple[tuple[str, str], ...] = ()  # (field, why it was dropped) per optional field left out; never encoded


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


def encode_review(review: Review) -> bytes:
    """The input value of ``review``, which ``decode_review`` reads back as it is: unknown fields are left out, and
    so is an empty id (no id in the contract), for which the consumer names the review by its key or position."""
    doc: dict[str, Any] = {"text": review.text}
    if review.id:
        doc["id"] = review.id
    if review.title is not None:
        doc["title"] = review.title
    if review.true_label is not None:
        doc["label"] = review.true_label
    if review.event_time is not None:
        doc["ts"] = review.event_time
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
    """Decode one input message; never raises.

    A value that opens like a JSON object must be one; any other value is plain text (the content of a JSON
    string literal, when the whole value is one), except a value that is wholly another JSON value (number,
    true/false, null, array), which is no review. Optional fields that cannot be read are dropped with a warning.
    """
    if value is None:
        return Rejection(NO_TEXT, "message has no value (tombstone)")
    if len(value) > max_text_bytes * 6 + 65_536:  # far over any valid encoding: reject before parsing
        return Rejection(TEXT_TOO_LONG, f"message of {len(value)} bytes exceeds the {max_text_bytes}-byte text limit")
    try:
        body = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(NOT_UTF8, f"value is not UTF-8: {exc.reason} at byte {exc.start}")
    opening = _OBJECT_START.match(body)
    if opening:
        try:
            doc = _parse_json(body[opening.start(1) :])
        except (ValueError, RecursionError) as exc:
            return Rejection(NOT_JSON, f"value opens as a JSON object but does not parse: {str(exc)[:200]}")
        return _review_from_object(doc, key, source, max_text_bytes)
    bare = _bare_json(body)
    if bare is None:
        return _plain_text_review(body.removeprefix("\ufeff"), key, source, max_text_bytes)
    if isinstance(bare.value, str):
        return _plain_text_review(bare.value, key, source, max_text_bytes)
    return _not_object(_bare_kind(bare.value))


class _Bare(NamedTuple):
    value: Any


def _bare_json(text: str) -> _Bare | None:
    """The value when the whole of ``text`` (whitespace and a byte-order mark aside) is one JSON string, number,
    true/false, null or array; None otherwise (a wrapper, because null is a value)."""
    core = text.strip(_LEADING)
    if not core or (core[0] not in _BARE_VALUE_START and core not in _BARE_WORDS):
        return None
    try:
        return _Bare(_parse_json(core))
    except (ValueError, RecursionError):
        return None


def _bare_kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"JSON {str(value).lower()}"
    if value is None:
        return "JSON null"
    if isinstance(value, list):
        return "a JSON array"
    return "a number"


def _not_object(kind: str) -> Rejection:
    return Rejection(NOT_OBJECT, f"the value is {kind}, not a review; send plain text or an object with 'text'")


def unscorable(text: str, max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES) -> Rejection | None:
    """Why ``text``, sent as a plain value, would not be scored; None when it would. The one definition of a text
    that can be scored: the stream applies it to plain values, the dashboard to its review box and CSV cells."""
    kind = not_review_kind(text)
    return _check_text(text.removeprefix("\ufeff"), max_text_bytes) if kind is None else _not_object(kind)


def not_review_kind(text: str) -> str | None:
    """What ``text`` is when the whole of it is a JSON number, true/false, null or array ("a number", "JSON true",
    "JSON null", "a JSON array"): such a value is a review nowhere (the stream dead-letters it as not_object, the
    dashboard scores it neither in the review box nor in a CSV). None for anything else."""
    bare = _bare_json(text)
    return None if bare is None or isinstance(bare.value, str) else _bare_kind(bare.value)


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
    warnings: list[tuple[str, str]] = []
    review_id = _optional_field(doc, "id", _review_id, warnings)
    return Review(
        id=review_id if review_id is not None else (_key_id(key) or source.ref()),
        text=text,
        title=_optional_field(doc, "title", _text_field, warnings),
        true_label=_optional_field(doc, "label", _true_label, warnings),
        event_time=_optional_field(doc, "ts", _event_time, warnings),
        warnings=tuple(warnings),
    )


def _optional_field(doc: dict, name: str, read: Callable[[Any], Any], warnings: list[tuple[str, str]]) -> Any:
    """The field as ``read`` makes it; None when absent or null, and None with a warning when ``read`` refuses it
    (a ValueError saying why): an optional field never costs the review."""
    value = doc.get(name)
    if value is None:
        return None
    try:
        return read(value)
    except ValueError as exc:
        warnings.append((name, str(exc)))
        return None


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


def _describe(value: Any) -> str:
    """A short, printable account of a refused value (never the whole of a long or deeply nested one)."""
    if isinstance(value, str):
        return repr(value[:40]) + ("..." if len(value) > 40 else "")
    if isinstance(value, (bool, float)) or (isinstance(value, int) and abs(value) < 10**40):
        return repr(value)
    return (
        "an integer of over 40 digits"
        if isinstance(value, int)
        else f"a JSON {'array' if isinstance(value, list) else 'object'}"
    )


def _text_field(value: Any) -> str:
    """A string that is not blank and that UTF-8 can carry (JSON "\\ud800" escapes leave lone surrogates)."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_describe(value)}")
    if not value.strip():
        raise ValueError("empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("holds unpaired surrogate escapes") from None
    return value


def _review_id(value: Any) -> str:
    """A string, an integer, or a float with an integer value (12.0 -> "12": the id a CSV-to-JSON writer meant)."""
    if isinstance(value, float) and math.isfinite(value):
        value = int(value) if value.is_integer() else repr(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    elif not isinstance(value, str):
        raise ValueError(f"expected a string or a number, got {_describe(value)}")
    review_id = _text_field(str(value))
    if len(review_id) > _MAX_ID_CHARS:
        raise ValueError(f"longer than {_MAX_ID_CHARS} characters")
    return review_id


def _true_label(value: Any) -> Label:
    try:
        return Label.parse(value)
    except ValueError:
        raise ValueError(
            f"{_describe(value)} is not a label; use negative/positive, neg/pos, 1/0 or __label__1/__label__2"
        ) from None


def _event_time(ts: Any) -> float:
    """Seconds since the epoch from a number of seconds (or milliseconds) or an ISO-8601 time (UTC unless it says)."""
    if isinstance(ts, str):
        seconds = _iso_seconds(ts)
    elif isinstance(ts, (int, float)) and not isinstance(ts, bool):
        seconds = _epoch_seconds(ts)
    else:
        raise ValueError(f"expected seconds since the epoch or an ISO-8601 time, got {_describe(ts)}")
    if seconds < 0:
        raise ValueError(f"{_describe(ts)} is before 1970")
    if seconds > time.time() + MAX_FUTURE_TS_SECONDS:
        raise ValueError(f"{_describe(ts)} is more than {MAX_FUTURE_TS_SECONDS // 3600} hours in the future")
    return seconds


def _epoch_seconds(ts: int | float) -> float:
    if isinstance(ts, float) and not math.isfinite(ts):
        raise ValueError(f"{_describe(ts)} is not a time")
    try:
        return ts / 1000.0 if ts > _MILLISECONDS_FROM else float(ts)
    except OverflowError:  # an integer beyond any float, e.g. 10**400
        raise ValueError(f"{_describe(ts)} is out of range") from None


def _iso_seconds(ts: str) -> float:
    try:
        moment = datetime.fromisoformat(ts.strip())
    except ValueError:
        raise ValueError(f"{_describe(ts)} is neither seconds since the epoch nor an ISO-8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _key_id(key: bytes | None) -> str | None:
    if not key or len(key) > _MAX_ID_CHARS:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return None


class ShadowVerdict(NamedTuple):
    """A candidate model's verdict on a review, published beside the served one; never decides ``label``."""

    model_version: str
    label: Label
    p_negative: float


class Result(NamedTuple):
    """One scored review as published on the output topic (a NamedTuple, as Review: one is made per message)."""

    id: str
    label: Label
    p_negative: float
    model_version: str
    scored_at: float
    event_time: float | None = None
    true_label: Label | None = None
    text: str | None = None  # the review's first SNIPPET_CHARS characters
    shadow: ShadowVerdict | None = None
    tokens: int | None = None  # words the model's tokenizer read in the whole review
    oov_tokens: int | None = None  # of them, out of its vocabulary
    warnings: tuple[tuple[str, str], ...] = ()  # the review's: (field, why it was dropped)


def scored(
    review: Review,
    verdict: tuple[Label, float],
    model_version: str,
    scored_at: float,
    shadow: ShadowVerdict | None = None,
    reading: tuple[int, int] | None = None,
) -> Result:
    """The result of ``review`` judged ``verdict`` (label, p_negative): its text cut to a snippet, probabilities
    to the 7 digits the output carries. ``reading``: (tokens, out-of-vocabulary tokens) of the whole review."""
    label, p_negative = verdict
    tokens, oov_tokens = reading if reading is not None else (None, None)
    if shadow is not None:
        shadow = ShadowVerdict(shadow.model_version, shadow.label, round(float(shadow.p_negative), 7))
    return Result(
        review.id,
        label,
        round(float(p_negative), 7),
        model_version,
        scored_at,
        review.event_time,
        review.true_label,
        review.text[:SNIPPET_CHARS],
        shadow,
        tokens,
        oov_tokens,
        review.warnings,
    )


def encode_result(result: Result) -> bytes:
    """The output value of ``result``: JSON any consumer can read, which ``decode_result`` reads back as it is."""
    doc: dict[str, Any] = {
        "id": result.id,
        "label": result.label,  # a Label: orjson writes its word, faster than reading .value
        "p_negative": result.p_negative,
        "model_version": result.model_version,
        "scored_at": result.scored_at,
        "event_time": result.event_time,
        "text": result.text,
    }
    if result.true_label is not None:
        doc["true_label"] = result.true_label
    if result.warnings:
        doc["warnings"] = [{"field": name, "problem": problem} for name, problem in result.warnings]
    if result.tokens is not None:
        doc["tokens"], doc["oov_tokens"] = result.tokens, result.oov_tokens
    if result.shadow is not None:
        doc["shadow"] = {
            "model_version": result.shadow.model_version,
            "label": result.shadow.label,
            "p_negative": result.shadow.p_negative,
        }
    return _json_bytes(doc)


def decode_result(value: bytes) -> Result:
    """Read one output value; raises ValueError when it does not follow the contract."""
    doc = _parse_json(value)
    if not isinstance(doc, dict):
        raise ValueError("result is not a JSON object")
    try:
        return Result(
            id=str(doc["id"]),
            label=_result_label(doc["label"]),
            p_negative=float(doc["p_negative"]),
            model_version=str(doc["model_version"]),
            scored_at=float(doc["scored_at"]),
            event_time=None if doc.get("event_time") is None else float(doc["event_time"]),
            true_label=None if doc.get("true_label") is None else _result_label(doc["true_label"]),
            text=doc.get("text"),
            shadow=_shadow(doc.get("shadow")),
            tokens=_count(doc.get("tokens")),
            oov_tokens=_count(doc.get("oov_tokens")),
            warnings=tuple((str(w["field"]), str(w["problem"])) for w in doc.get("warnings") or ()),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"result misses or mistypes a field: {exc}") from None


def _result_label(value: Any) -> Label:
    """A label as results spell it, the word alone (a result is written by the consumer, never by hand)."""
    try:
        return Label(value)
    except ValueError:
        raise ValueError(f"unknown label {value!r}") from None


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"a token count must be a non-negative integer, got {value!r}")
    return value


def _shadow(doc: Any) -> ShadowVerdict | None:
    if doc is None:
        return None
    return ShadowVerdict(str(doc["model_version"]), _result_label(doc["label"]), float(doc["p_negative"]))


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


def header_value(
    headers: Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None, name: str
) -> str | None:
    """The last value of header ``name`` as text (dead-letter readers use it; they pass what the Kafka client gives)."""
    found = None
    for key, value in headers.items() if isinstance(headers, Mapping) else headers or []:
        if key == name:
            found = value.decode("utf-8", "replace") if isinstance(value, bytes) else value or ""
    return found
