"""The message contract: decoding never raises, every reason is reachable, outputs round-trip."""

from __future__ import annotations

import calendar
import json
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common import contract
from common.contract import Rejection, Result, Review, ShadowVerdict, Source
from common.labels import Label

SRC = Source("reviews", 2, 41)


def decode(value: bytes | None, key: bytes | None = None, max_text_bytes: int = 1000) -> Review | Rejection:
    return contract.decode_review(key, value, SRC, max_text_bytes)


def test_producer_encoding_round_trips() -> None:
    review = Review(id="r1", text="Great blender", title="Wow", true_label=Label.NEGATIVE, event_time=1_700_000_000.5)
    assert json.loads(contract.encode_review(review)) == {
        "id": "r1",
        "text": "Great blender",
        "title": "Wow",
        "label": "negative",
        "ts": 1_700_000_000.5,
    }
    assert decode(contract.encode_review(review)) == review


def test_a_review_without_id_or_anything_optional_encodes_its_text_alone() -> None:
    assert json.loads(contract.encode_review(Review(id="", text="Fine"))) == {"text": "Fine"}
    assert decode(contract.encode_review(Review(id="", text="Fine")), key=b"k3") == Review(id="k3", text="Fine")


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
        (b'{"text": "unterminated', contract.NOT_JSON),
        (b'\xef\xbb\xbf {"text": "ok",}', contract.NOT_JSON),
        (b"{}", contract.NO_TEXT),
        (b"[1, 2]", contract.NOT_OBJECT),
        (b" 42 ", contract.NOT_OBJECT),
        (b"-1.5e3", contract.NOT_OBJECT),
        (b"true", contract.NOT_OBJECT),
        (b"null", contract.NOT_OBJECT),
        (b'{"title": "no text"}', contract.NO_TEXT),
        (b'{"text": 5}', contract.NO_TEXT),
        (None, contract.NO_TEXT),
        (b'{"text": " \\n\\t "}', contract.EMPTY_TEXT),
        (b"   ", contract.EMPTY_TEXT),
        (json.dumps({"text": "x" * 1001}).encode(), contract.TEXT_TOO_LONG),
        (b"y" * 100_000, contract.TEXT_TOO_LONG),
        (b'{"text": "\\ud800"}', contract.NOT_UTF8),
        (b'"\\ud800 in a string literal"', contract.NOT_UTF8),
    ],
)
def test_every_reason(value: bytes | None, reason: str) -> None:
    result = decode(value)
    assert isinstance(result, Rejection) and result.code == reason and result.message


# Reviews from the Kaggle files that open with a quote, a bracket or a brace: text, not broken JSON.
PLAIN_REVIEWS = [
    '"Gentlemen, start your screaming!": Danny DeVito makes the most of it',
    "[aweful]: This is probably the most ill-formed book I have read",
    "[Update] Broke after a month",
    "{sigh} another dud.",
    '{ sigh } "quoted" and {"braces"} later',
    "  \t[1, 2] is how the box counts, apparently",
    "12 hours of battery, as promised",
    "true to size",
    '"unbalanced quote at the start',
]


@pytest.mark.parametrize("text", PLAIN_REVIEWS)
def test_text_that_only_looks_like_json_is_plain_text(text: str) -> None:
    assert decode(text.encode(), key=b"k") == Review(id="k", text=text)


def test_json_after_a_byte_order_mark_and_whitespace_is_an_object() -> None:
    review = Review(id="r7", text="Fine kettle", true_label=Label.POSITIVE, event_time=1_700_000_000)
    assert decode(b"\xef\xbb\xbf \n" + contract.encode_review(review)) == review


def test_a_byte_order_mark_is_not_part_of_plain_text() -> None:
    assert decode("\ufeffGreat kettle".encode()) == Review(id="reviews:2:41", text="Great kettle")


def test_a_whole_json_string_literal_is_its_content() -> None:
    assert decode(b' "He said \\"wow\\"" ') == Review(id="reviews:2:41", text='He said "wow"')


def _iso(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return float(calendar.timegm((year, month, day, hour, minute, second)))


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"label": "neg"}, {"true_label": Label.NEGATIVE}),
        ({"label": "0.0"}, {"true_label": Label.POSITIVE}),
        ({"id": 12}, {"id": "12"}),
        ({"id": 12.0}, {"id": "12"}),
        ({"id": 12.5}, {"id": "12.5"}),
        ({"ts": "2024-01-02T03:04:05Z"}, {"event_time": _iso(2024, 1, 2, 3, 4, 5)}),
        ({"ts": "2024-01-02T05:04:05+02:00"}, {"event_time": _iso(2024, 1, 2, 3, 4, 5)}),
        ({"ts": "2024-01-02 03:04:05"}, {"event_time": _iso(2024, 1, 2, 3, 4, 5)}),  # no offset: UTC
        ({"ts": 1_700_000_000_123}, {"event_time": 1_700_000_000.123}),  # milliseconds
        ({"ts": 0}, {"event_time": 0.0}),
    ],
)
def test_optional_fields_in_every_accepted_form(fields: dict, expected: dict) -> None:
    review = decode(json.dumps({"text": "ok", **fields}).encode(), key=b"k")
    assert isinstance(review, Review) and review.warnings == ()
    assert {name: getattr(review, name) for name in expected} == pytest.approx(expected)


@pytest.mark.parametrize(
    "field, value",
    [
        ("label", ""),
        ("label", "maybe"),
        ("label", True),
        ("label", 2),
        ("label", {"a": 1}),
        ("id", ""),
        ("id", "   "),
        ("id", True),
        ("id", [1]),
        ("id", "i" * 513),
        ("id", "\ud800"),
        ("title", ""),
        ("title", 5),
        ("title", "\udfff"),
        ("ts", ""),
        ("ts", "yesterday"),
        ("ts", -5),
        ("ts", "1969-12-31T23:59:59Z"),
        ("ts", "2200-01-01T00:00:00Z"),
        ("ts", 10**400),
        ("ts", True),
        ("ts", [1]),
    ],
)
def test_an_empty_or_malformed_optional_field_is_dropped_with_a_warning(field: str, value: object) -> None:
    review = decode(json.dumps({"text": "ok", field: value}).encode(), key=b"key-id")
    assert isinstance(review, Review), review
    assert review == Review(id="key-id", text="ok", warnings=review.warnings)  # the field left out, the rest kept
    assert [name for name, _ in review.warnings] == [field] and review.warnings[0][1]


def test_special_floats_json_reads_and_orjson_refuses_are_dropped_too() -> None:
    for ts in (b"NaN", b"-Infinity", b"1e400"):
        review = decode(b'{"text": "ok", "ts": ' + ts + b"}")
        assert isinstance(review, Review) and review.event_time is None and review.warnings[0][0] == "ts"


def test_a_ts_a_little_ahead_of_this_clock_is_kept() -> None:
    ahead = time.time() + contract.MAX_FUTURE_TS_SECONDS / 2
    review = decode(json.dumps({"text": "ok", "ts": ahead}).encode())
    assert isinstance(review, Review) and review.event_time == ahead and review.warnings == ()


def test_the_output_lists_the_dropped_fields() -> None:
    review = decode(b'{"text": "ok", "label": "", "id": 7, "ts": -5, "title": "T"}')
    assert isinstance(review, Review) and review.id == "7" and review.title == "T"
    doc = json.loads(contract.encode_result(contract.scored(review, (Label.NEGATIVE, 0.9), "v1", 1.0)))
    assert [w["field"] for w in doc["warnings"]] == ["label", "ts"] and all(w["problem"] for w in doc["warnings"])
    assert "warnings" not in json.loads(
        contract.encode_result(contract.scored(Review("1", "ok"), (Label.NEGATIVE, 0.9), "v1", 1.0))
    )


@pytest.mark.parametrize(
    "text, kind",
    [
        ("42", "a number"),
        (" -0.5 ", "a number"),
        ("true", "JSON true"),
        ("null", "JSON null"),
        ("[1, 2]", "a JSON array"),
        ("4,5", None),
        ('"42"', None),
        ("N/A", None),
        ("[Update] ok", None),
        ("", None),
    ],
)
def test_not_review_kind_names_bare_json_values(text: str, kind: str | None) -> None:
    assert contract.not_review_kind(text) == kind


# The contract's rules, restated here so the properties do not lean on the code under test.
OBJECT_OPENING = re.compile(r'[ \t\r\n\ufeff]*\{[ \t\r\n]*["}]')


def _whole_json_value(text: str) -> bool:
    try:
        json.loads(text.strip(" \t\r\n\ufeff"))
    except ValueError:
        return False
    return True


@given(
    st.text(max_size=200).filter(
        lambda t: t.strip() and not t.startswith("\ufeff") and not OBJECT_OPENING.match(t) and not _whole_json_value(t)
    ),
    st.sampled_from(["", "{", "[", '"', "{sigh} ", "[x] ", '"A": ', "  ", "42 ", "true "]),
)
def test_text_not_opening_as_an_object_nor_wholly_json_round_trips_as_plain_text(text: str, prefix: str) -> None:
    text = prefix + text
    if OBJECT_OPENING.match(text) or _whole_json_value(text):
        return
    assert decode(text.encode("utf-8"), key=b"k", max_text_bytes=10_000) == Review(id="k", text=text)


@given(st.text(max_size=200).filter(str.strip))
def test_a_json_string_literal_is_its_text(text: str) -> None:
    assert decode(json.dumps(text).encode(), key=b"k", max_text_bytes=10_000) == Review(id="k", text=text)


N, P = Label.NEGATIVE, Label.POSITIVE
SPELLINGS = {"negative": N, "positive": P, "NEG": N, "pos": P, 1: N, 0: P, "1": N, "0.0": P, "__label__2": P}
word_text = st.text(min_size=1, max_size=100).filter(str.strip)


@given(
    text=word_text,
    review_id=st.none() | word_text | st.integers(-(10**12), 10**12),
    title=st.none() | word_text,
    label=st.none() | st.sampled_from([*sorted(SPELLINGS, key=str), 1.0]),  # 1.0 is the key 1 in SPELLINGS
    ts=st.none() | st.floats(0, 1.7e9) | st.integers(0, 1_700_000_000),
    lead=st.sampled_from(["", " ", "\ufeff", "\n\t"]),
    ascii_only=st.booleans(),
)
def test_every_valid_review_object_round_trips(text, review_id, title, label, ts, lead, ascii_only) -> None:
    doc = {
        name: v
        for name, v in {"text": text, "id": review_id, "title": title, "label": label, "ts": ts}.items()
        if v is not None
    }
    value = (lead + json.dumps(doc, ensure_ascii=ascii_only)).encode("utf-8")
    expected = Review(
        id="k" if review_id is None else str(review_id),
        text=text,
        title=title,
        true_label=None if label is None else SPELLINGS[label],
        event_time=None if ts is None else float(ts),
    )
    assert decode(value, key=b"k", max_text_bytes=10_000) == expected


@given(st.binary(max_size=300), st.one_of(st.none(), st.binary(max_size=20)))
def test_decoding_never_raises_on_arbitrary_bytes(value: bytes, key: bytes | None) -> None:
    assert isinstance(decode(value, key), (Review, Rejection))


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(["text", "id", "label", "ts", "title"]), inner, max_size=5)
        ),
        max_leaves=10,
    )
)
def test_decoding_never_raises_on_arbitrary_json(doc: object) -> None:
    assert isinstance(decode(json.dumps(doc).encode()), (Review, Rejection))


def test_a_scored_review_is_the_result_published_and_read_back() -> None:
    review = Review(id="7", text="t" * 500, true_label=Label.POSITIVE, event_time=12.5, warnings=(("title", "empty"),))
    result = contract.scored(
        review,
        (Label.NEGATIVE, 0.87654321),
        "v3",
        99.0,
        shadow=ShadowVerdict("v4", Label.POSITIVE, 0.123456789),
        reading=(120, 7),
    )
    assert result == Result(
        id="7",
        label=Label.NEGATIVE,
        p_negative=0.8765432,
        model_version="v3",
        scored_at=99.0,
        event_time=12.5,
        true_label=Label.POSITIVE,
        text="t" * 280,
        shadow=ShadowVerdict("v4", Label.POSITIVE, 0.1234568),
        tokens=120,
        oov_tokens=7,
        warnings=(("title", "empty"),),
    )
    assert contract.decode_result(contract.encode_result(result)) == result


def test_a_minimal_result_round_trips_without_its_optional_fields() -> None:
    result = contract.scored(Review(id="r", text="ok"), (Label.POSITIVE, 0.25), "v1", 5.0)
    doc = json.loads(contract.encode_result(result))
    assert doc == {
        "id": "r",
        "label": "positive",
        "p_negative": 0.25,
        "model_version": "v1",
        "scored_at": 5.0,
        "event_time": None,
        "text": "ok",
    }
    assert contract.decode_result(contract.encode_result(result)) == result


@pytest.mark.parametrize(
    "value",
    [
        b"[]",
        b'{"id": "1"}',
        b'{"id": "1", "label": "meh", "p_negative": 0.1, "model_version": "v", "scored_at": 1}',
        b'{"id": "1", "label": "negative", "p_negative": 0.1, "model_version": "v", "scored_at": 1, '
        b'"true_label": "neg"}',
        b'{"id": "1", "label": "negative", "p_negative": 0.1, "model_version": "v", "scored_at": 1, '
        b'"true_label": {"a": 1}}',
        b'{"id": "1", "label": "negative", "p_negative": 0.1, "model_version": "v", "scored_at": 1, "warnings": [3]}',
    ],
)
def test_decode_result_rejects_values_off_contract(value: bytes) -> None:
    with pytest.raises(ValueError):
        contract.decode_result(value)


def test_dead_letter_headers_keep_the_originals_and_say_why_and_where() -> None:
    headers = contract.dead_letter_headers(
        Rejection(contract.NOT_JSON, "bad"), SRC, [("trace", b"abc"), ("empty", None)]
    )
    assert headers[:2] == [("trace", b"abc"), ("empty", b"")]
    assert contract.header_value(headers, contract.H_ERROR_CODE) == "not_json"
    assert contract.header_value(headers, contract.H_SOURCE_TOPIC) == "reviews"
    assert contract.header_value(headers, contract.H_SOURCE_PARTITION) == "2"
    assert contract.header_value(headers, contract.H_SOURCE_OFFSET) == "41"
    assert contract.header_value(headers, "absent") is None


@pytest.mark.parametrize(
    "text, code",
    [
        ("Fine kettle", None),
        ("  \n", contract.EMPTY_TEXT),
        ("", contract.EMPTY_TEXT),
        ("42", contract.NOT_OBJECT),
        ("[1, 2]", contract.NOT_OBJECT),
        ("null", contract.NOT_OBJECT),
        ('"42"', None),
        ("4,5", None),
        ("x" * 1001, contract.TEXT_TOO_LONG),
        ("é" * 501, contract.TEXT_TOO_LONG),
        ("é" * 500, None),
        ("bad \ud800 half", contract.NOT_UTF8),
    ],
)
def test_unscorable_says_why_the_stream_would_not_score_a_plain_text(text: str, code: str | None) -> None:
    rejection = contract.unscorable(text, max_text_bytes=1000)
    assert (rejection.code if rejection else None) == code
    if "\ud800" not in text:  # a lone surrogate cannot be sent at all
        decoded = decode(text.encode("utf-8"), key=b"k")
        assert (decoded.code if isinstance(decoded, Rejection) else None) == code
