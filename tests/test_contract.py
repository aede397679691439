"""The message contract: decoding never raises, every reason is reachable, outputs round-trip."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from common import contract
from common.contract import Rejection, Review, Source

SRC = Source("reviews", 2, 41)


def decode(value: bytes | None, key: bytes | None = None, max_text_bytes: int = 1000) -> Review | Rejection:
    return contract.decode_review(key, value, SRC, max_text_bytes)


def test_producer_encoding_round_trips() -> None:
    review = decode(contract.encode_review("Great blender", id="r1", title="Wow", label="1", ts=1_700_000_000.5))
    assert review == Review(id="r1", text="Great blender", title="Wow", true_label="negative", event_time=1_700_000_000.5)


def test_plain_text_and_json_string_are_the_text_and_the_key_or_source_is_the_id() -> None:
    assert decode("déjà vu, good".encode(), key=b"k9") == Review(id="k9", text="déjà vu, good")
    assert decode(b'"quoted review"') == Review(id="reviews:2:41", text="quoted review")


def test_milliseconds_event_time_becomes_seconds() -> None:
    review = decode(b'{"text": "ok", "ts": 1700000000123}')
    assert isinstance(review, Review) and review.event_time == pytest.approx(1_700_000_000.123)


@pytest.mark.parametrize(
    "value, reason",
    [
        (b"\xff\xfe broken", contract.NOT_UTF8),
        (b"{not json", contract.NOT_JSON),
        (b"[1, 2]", contract.NOT_OBJECT),
        (b'{"title": "no text"}', contract.NO_TEXT),
        (b'{"text": 5}', contract.NO_TEXT),
        (None, contract.NO_TEXT),
        (b'{"text": " \\n\\t "}', contract.EMPTY_TEXT),
        (b"   ", contract.EMPTY_TEXT),
        (json.dumps({"text": "x" * 1001}).encode(), contract.TEXT_TOO_LONG),
        (b"y" * 100_000, contract.TEXT_TOO_LONG),
        (b'{"text": "ok", "label": "maybe"}', contract.BAD_LABEL),
        (b'{"text": "ok", "label": true}', contract.BAD_LABEL),
        (b'{"text": "ok", "ts": "yesterday"}', contract.BAD_FIELD),
        (b'{"text": "ok", "id": [1]}', contract.BAD_FIELD),
        (b'{"text": "ok", "id": true}', contract.BAD_FIELD),
        (b'{"text": "\\ud800"}', contract.NOT_UTF8),
        # JSON that Python's json reads and orjson refuses: judged by the fields, as ever
        (b'{"text": "ok", "ts": NaN}', contract.BAD_FIELD),
        (b'{"text": "ok", "ts": 1' + b"0" * 400 + b"}", contract.BAD_FIELD),
    ],
)
def test_every_reason(value: bytes | None, reason: str) -> None:
    result = decode(value)
    assert isinstance(result, Rejection) and result.code == reason and result.message


@given(st.binary(max_size=300), st.one_of(st.none(), st.binary(max_size=20)))
def test_decoding_never_raises_on_arbitrary_bytes(value: bytes, key: bytes | None) -> None:
    assert isinstance(decode(value, key), (Review, Rejection))


@given(st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["text", "id", "label", "ts", "title"]), inner, max_size=5),
                    max_leaves=10))
def test_decoding_never_raises_on_arbitrary_json(doc: object) -> None:
    assert isinstance(decode(json.dumps(doc).encode()), (Review, Rejection))


def test_result_round_trips_with_true_label_and_times() -> None:
    review = Review(id="7", text="t" * 500, true_label="positive", event_time=12.5)
    result = contract.decode_result(contract.encode_result(review, "negative", 0.87654321, "v3", 99.0))
    assert (result.id, result.label, result.model_version, result.true_label, result.event_time, result.scored_at) == (
        "7", "negative", "v3", "positive", 12.5, 99.0)
    assert result.p_negative == pytest.approx(0.8765432) and len(result.text or "") == 280


@pytest.mark.parametrize("value", [b"[]", b'{"id": "1"}', b'{"id": "1", "label": "meh", "p_negative": 0.1, "model_version": "v", "scored_at": 1}'])
def test_decode_result_rejects_values_off_contract(value: bytes) -> None:
    with pytest.raises(ValueError):
        contract.decode_result(value)


def test_dead_letter_headers_keep_the_originals_and_say_why_and_where() -> None:
    headers = contract.dead_letter_headers(Rejection(contract.NOT_JSON, "bad"), SRC, [("trace", b"abc"), ("empty", None)])
    assert headers[:2] == [("trace", b"abc"), ("empty", b"")]
    assert contract.header_value(headers, contract.H_ERROR_CODE) == "not_json"
    assert contract.header_value(headers, contract.H_SOURCE_TOPIC) == "reviews"
    assert contract.header_value(headers, contract.H_SOURCE_PARTITION) == "2"
    assert contract.header_value(headers, contract.H_SOURCE_OFFSET) == "41"
    assert contract.header_value(headers, "absent") is None


@pytest.mark.parametrize("spelling, label", [("negative", "negative"), (" Positive ", "positive"), (1, "negative"),
                                             (0, "positive"), ("__label__2", "positive"), ([1], None), (True, None),
                                             # the readers' and training's spellings (common/labels.py)
                                             ("neg", "negative"), (" POS ", "positive"), (1.0, "negative"),
                                             ("0.0", "positive"), ("", None), (2, None), ("meh", None)])
def test_label_spellings(spelling: object, label: str | None) -> None:
    assert contract.normalise_label(spelling) == label
