"""Coverage-guided fuzzing (atheris) of the message decoder, and the invariants every decoded message keeps.

Run bounded, e.g. ``python tests/security/fuzz_decode.py CORPUS_DIR -runs=200000 -max_len=4096
-dict=tests/security/decode.dict`` (``--write-seeds CORPUS_DIR`` fills an empty corpus first);
the property tests (test_hostile_input.py) check the same invariants with
hypothesis. An invariant that breaks raises, which atheris reports as a crash
with the input that caused it.
"""

from __future__ import annotations

import inspect
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from common import contract
from common.labels import Label
from localkafka.hostile import SOURCE


def check_decoded(
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]],
    max_text_bytes: int = contract.DEFAULT_MAX_TEXT_BYTES,
) -> contract.Review | contract.Rejection:
    """Decode one message and check it can be scored and published, or dead-lettered with a reason."""
    decoded = contract.decode_review(key, value, SOURCE, max_text_bytes)
    assert len(contract.bounded_key(key) or b"") <= contract.MAX_KEY_BYTES
    if isinstance(decoded, contract.Review):
        assert decoded.text.strip(), "a review with blank text"
        assert len(decoded.text.encode("utf-8")) <= max_text_bytes, "a review over the text limit"
        assert decoded.event_time is None or math.isfinite(decoded.event_time)
        for name in ("id", "title", "true_label"):
            field = getattr(decoded, name)
            assert field is None or isinstance(field, str), f"{name} is a {type(field).__name__}"
            if field is not None:
                field.encode("utf-8")  # raises on lone surrogates: such a field could not be published or logged
        result = contract.scored(decoded, (Label.NEGATIVE, 0.75), "v1", 1.0)
        assert contract.decode_result(contract.encode_result(result)) == result
    else:
        assert isinstance(decoded, contract.Rejection), f"decode_review returned {type(decoded).__name__}"
        assert decoded.code in contract.REASONS, decoded.code
        out = contract.dead_letter_headers(decoded, SOURCE, headers, len(value or b""))
        assert all(isinstance(k, str) and isinstance(v, bytes) for k, v in out)
        # A dead letter must always fit in one publishable record, whatever came in.
        assert sum(len(k.encode()) + len(v) for k, v in out) <= contract.DEAD_LETTER_MAX_HEADER_BYTES + 2048
        assert len(contract.dead_letter_value(value)) <= contract.DEAD_LETTER_MAX_VALUE_BYTES
        assert contract.header_value(out, contract.H_ERROR_CODE) == decoded.code
        assert len(contract.header_value(out, contract.H_ERROR_MESSAGE) or "") <= 1000
        json.dumps({"code": decoded.code, "message": decoded.message}, ensure_ascii=False).encode("utf-8")
    return decoded


def split_input(data: bytes) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]:
    """One fuzz input as (key, value, headers): a flags byte, then a 16-byte key and header if flagged, then the value.

    The value is the rest, unchanged, so seeds and the dictionary (decode.dict) steer it straight into JSON.
    """
    flags, rest = (data[0], data[1:]) if data else (0, b"")
    key = None
    headers: list[tuple[str, bytes | None]] = []
    if flags & 2:
        key, rest = rest[:16], rest[16:]
    if flags & 4:
        headers, rest = [("trace", rest[:16]), ("empty", None)], rest[16:]
    return key, (None if flags & 1 else rest), headers


def seeds() -> list[bytes]:
    """Valid and nearly valid messages the fuzzer starts from."""
    review = contract.encode_review(
        contract.Review("r-1", "Great blender, loud but worth it", "Good", Label.NEGATIVE, 1.7e9)
    )
    return [
        b"\x00" + review,
        b"\x06" + b"k" * 16 + b"h" * 16 + review,
        b"\x00plain text review",
        b'\x00{"text": "a", "ts": 1e400, "label": [1], "id": {"x": null}}',
        b'\x00"just a string"',
    ]


def _one_input(data: bytes) -> None:
    check_decoded(*split_input(data), max_text_bytes=1000)  # a small limit so the fuzzer reaches it


def main() -> None:
    if sys.argv[1:2] == ["--write-seeds"]:
        corpus = Path(sys.argv[2])
        corpus.mkdir(parents=True, exist_ok=True)
        for number, seed in enumerate(seeds()):
            (corpus / f"seed-{number}").write_bytes(seed)
        return
    import atheris

    for function in vars(contract).values():  # coverage feedback from the decoder only: quick to start
        if inspect.isfunction(function) and function.__module__ == contract.__name__:
            atheris.instrument_func(function)
    atheris.Setup(sys.argv, _one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
