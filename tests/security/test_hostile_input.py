"""Whatever a stranger puts in a message, the decoder answers with a Review or a Rejection, in bounded memory.

Property tests generate any bytes, near-valid JSON (wrong types, lone
surrogates, huge numbers, nesting) and headers; named cases cover the known
attacks one by one. The invariants are shared with the atheris fuzz target.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common import contract
from localkafka.hostile import HOSTILE, MB, SOURCE
from tests.conftest import require
from tests.security.fuzz_decode import check_decoded, seeds, split_input

# SENTIMENT_HYPOTHESIS_EXAMPLES raises the examples per property for a longer campaign (bench/RESULTS.md).
EXAMPLES = int(os.environ.get("SENTIMENT_HYPOTHESIS_EXAMPLES", "200"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The platforms pyproject.toml installs atheris on (it publishes wheels for no other).
ATHERIS_PLATFORM = platform.system() == "Linux" and platform.machine() == "x86_64"

lone_surrogate = st.integers(0xD800, 0xDFFF).map(chr)
any_text = st.text(alphabet=st.one_of(st.characters(), lone_surrogate), max_size=40)
huge_int = st.sampled_from([10**400, -(10**400), 10**4299, 2**63, -(2**63) - 1])  # 4300+ digits: a named case
scalar = st.one_of(st.none(), st.booleans(), st.integers(), huge_int, st.floats(), any_text)
json_value = st.recursive(
    scalar, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4), max_leaves=12
)
labels = st.sampled_from(["negative", "positive", " NEGATIVE ", "1", "0", 1, 0, 1.0, "__label__1", "__label__2", True])
good_text = st.text(min_size=1).filter(str.strip)
review_docs = st.fixed_dictionaries(
    {},
    optional={
        "text": st.one_of(good_text, good_text, any_text, json_value),
        "id": st.one_of(any_text, st.integers(), huge_int, json_value),
        "title": st.one_of(any_text, json_value),
        "label": st.one_of(labels, json_value),
        "ts": st.one_of(st.floats(), st.integers(), huge_int, json_value),
    },
)
headers = st.lists(
    st.tuples(any_text.map(lambda t: t.encode("utf-8", "replace").decode()), st.none() | st.binary(max_size=64)),
    max_size=4,
)
keys = st.none() | st.binary(max_size=40) | any_text.map(lambda t: t.encode("utf-8", "surrogatepass"))


@PROPERTY
@given(key=keys, value=st.none() | st.binary(max_size=2000), hdrs=headers)
def test_any_bytes_decode_to_a_review_or_a_rejection(key, value, hdrs):
    check_decoded(key, value, hdrs)


@PROPERTY
@given(doc=review_docs | json_value, ascii_only=st.booleans(), key=keys, hdrs=headers)
def test_any_json_document_decodes_to_a_review_or_a_rejection(doc, ascii_only, key, hdrs):
    value = json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")  # lone surrogates: invalid UTF-8
    check_decoded(key, value, hdrs)


@PROPERTY
@given(
    text=good_text,
    field=st.sampled_from(["id", "title", "label", "ts"]),
    hostile=st.one_of(any_text, huge_int, st.floats(), json_value),
    ascii_only=st.booleans(),
)
def test_a_valid_review_with_one_hostile_field_is_scored_or_dead_lettered(text, field, hostile, ascii_only):
    value = json.dumps({"text": text, field: hostile}, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    check_decoded(None, value, [])


@PROPERTY
@given(text=any_text, limit=st.integers(1, 48), as_json=st.booleans())
def test_the_text_limit_holds_for_any_characters(text, limit, as_json):
    value = json.dumps({"text": text}).encode() if as_json else text.encode("utf-8", "surrogatepass")
    decoded = check_decoded(None, value, [], max_text_bytes=limit)
    if isinstance(decoded, contract.Review):
        assert len(decoded.text.encode("utf-8")) <= limit


@PROPERTY
@given(
    data=st.binary(max_size=600)
    | st.sampled_from(seeds()).flatmap(
        lambda seed: st.binary(max_size=40).map(lambda noise: seed[: len(noise) * 3] + noise)
    )
)
def test_the_fuzz_target_layout_holds_under_hypothesis(data):
    check_decoded(*split_input(data), max_text_bytes=1000)


@pytest.mark.parametrize("attack", HOSTILE)
def test_hostile_message_is_scored_or_dead_lettered_in_bounded_memory(attack):
    value, key, hdrs, expected = HOSTILE[attack]
    tracemalloc.start()
    try:
        decoded = check_decoded(key, value, hdrs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if expected == "review":
        assert isinstance(decoded, contract.Review), decoded
    elif expected != "either":
        assert isinstance(decoded, contract.Rejection) and decoded.code == expected, decoded
    # Memory: a message too large to be valid is refused before parsing, and only its dead letter's cut copy is
    # made, whatever its size; others cost a few times their size.
    size = len(value or b"") + len(key or b"") + sum(len(v or b"") for _, v in hdrs)
    budget = contract.DEAD_LETTER_MAX_VALUE_BYTES + 64 * 1024 if len(value or b"") > 1 * MB else 12 * size + 2 * MB
    assert peak <= budget, f"{attack}: peak {peak / MB:.1f} MB for a {size / MB:.1f} MB message"


def test_a_dead_letter_keeps_the_original_headers_and_says_why():
    rejection = contract.decode_review(None, b"[1]", SOURCE)
    assert isinstance(rejection, contract.Rejection), rejection
    out = contract.dead_letter_headers(rejection, SOURCE, [("trace", b"\xff\x00"), ("empty", None)])
    assert out[:2] == [("trace", b"\xff\x00"), ("empty", b"")]
    assert contract.header_value(out, contract.H_SOURCE_OFFSET) == str(SOURCE.offset)


@pytest.mark.skipif(not ATHERIS_PLATFORM, reason="atheris ships wheels for Linux x86_64 only")
def test_a_bounded_atheris_run_finds_no_crash(tmp_path):
    """Coverage-guided fuzzing, bounded by run count; a broken invariant exits non-zero with the input."""
    require(importlib.util.find_spec("atheris"), "atheris is not installed (pip install atheris)")
    script = Path(__file__).with_name("fuzz_decode.py")
    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, str(script), "--write-seeds", str(corpus)], check=True)
    runs = 20_000
    proc = subprocess.run(
        [
            sys.executable,
            str(script),
            str(corpus),
            f"-runs={runs}",
            "-max_len=4096",
            "-seed=1",
            f"-dict={script.with_name('decode.dict')}",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"Done {runs} runs" in proc.stderr
