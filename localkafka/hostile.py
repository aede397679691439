"""Messages a stranger may put on the input topic: the named attacks the decoder's security tests check one by one
(tests/security/test_hostile_input.py) and bench/bench_hostile_input.py times."""

from __future__ import annotations

import json
import sys

from common import contract

MB = 1 << 20
# Where the decoder is told a hostile message came from (it only names it in dead letters).
SOURCE = contract.Source("reviews", 3, 42)


def _nested(depth: int, open_: bytes = b"[", close: bytes = b"]") -> bytes:
    return open_ * depth + close * depth


# (value, key, headers, expected reason or "review"/"either")
HOSTILE: dict[str, tuple[bytes | None, bytes | None, list, str]] = {
    "8 MB of plain text": (b"a" * (8 * MB), None, [], contract.TEXT_TOO_LONG),
    "8 MB text inside JSON": (b'{"text":"' + b"a" * (8 * MB) + b'"}', None, [], contract.TEXT_TOO_LONG),
    "text one byte over the limit in 2-byte characters": (
        json.dumps({"text": "é" * 50_001}, ensure_ascii=False).encode(),
        None,
        [],
        contract.TEXT_TOO_LONG,
    ),
    "600 kB just under the pre-parse cut, all title": (
        json.dumps({"text": "ok", "title": "t" * 600_000}).encode(),
        None,
        [],
        "review",
    ),
    "300,000 nested arrays": (_nested(300_000), None, [], contract.TEXT_TOO_LONG),  # no JSON value: plain text
    "1,000,000 nested arrays (over the pre-parse cut)": (_nested(1_000_000), None, [], contract.TEXT_TOO_LONG),
    "50,000 nested objects in the label": (
        b'{"text":"ok","label":' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}",
        None,
        [],
        contract.NOT_JSON,
    ),
    "nesting just under the recursion limit in the label": (
        b'{"text":"ok","label":' + _nested(sys.getrecursionlimit() - 50) + b"}",
        None,
        [],
        "review",
    ),
    "UTF-8-encoded surrogate bytes": (b'{"text":"\xed\xa0\x80"}', None, [], contract.NOT_UTF8),
    "invalid UTF-8 continuation bytes": (b"\xc3\x28 caf\xe9", None, [], contract.NOT_UTF8),
    "lone surrogate escape in the text": (b'{"text":"ok \\ud800"}', None, [], contract.NOT_UTF8),
    "lone surrogate escape in the id": (b'{"text":"ok","id":"\\udfff"}', None, [], "review"),
    "lone surrogate escape in the title": (b'{"text":"ok","title":"\\ud83d"}', None, [], "review"),
    "integer ts too large for a float": (b'{"text":"ok","ts":1' + b"0" * 400 + b"}", None, [], "review"),
    "negative integer ts too large for a float": (b'{"text":"ok","ts":-1' + b"0" * 400 + b"}", None, [], "review"),
    "integer over Python's digit limit": (b'{"text":"ok","ts":' + b"9" * 5000 + b"}", None, [], contract.NOT_JSON),
    "NaN ts": (b'{"text":"ok","ts":NaN}', None, [], "review"),
    "Infinity ts": (b'{"text":"ok","ts":-Infinity}', None, [], "review"),
    "1e400 ts": (b'{"text":"ok","ts":1e400}', None, [], "review"),
    "only NUL bytes": (b"\x00" * 1000, None, [], "either"),
    "NUL bytes inside the JSON text": (b'{"text":"good\\u0000 product\\u0000"}', None, [], "review"),
    "byte-order mark before JSON": (b'\xef\xbb\xbf{"text":"fine"}', None, [], "review"),
    "tombstone (no value)": (None, b"k", [], contract.NO_TEXT),
    "empty value": (b"", None, [], contract.EMPTY_TEXT),
    "1 MB key": (b"nice", b"k" * MB, [], "review"),
    "invalid UTF-8 key": (b"nice", b"\xff\xfe", [], "review"),
    "1 MB header on a bad message": (b"[1]", None, [("huge", b"h" * MB)], contract.NOT_OBJECT),
    "10,000 headers on a bad message": (b"[1]", None, [(f"h{i}", b"v") for i in range(10_000)], contract.NOT_OBJECT),
    "JSON array instead of an object": (b'[{"text":"ok"}]', None, [], contract.NOT_OBJECT),
    "text of the wrong type": (b'{"text":{"$gt":""}}', None, [], contract.NO_TEXT),
    "label of the wrong type": (b'{"text":"ok","label":{"a":1}}', None, [], "review"),
    "boolean id": (b'{"text":"ok","id":true}', None, [], "review"),
    "1,000-character id": (json.dumps({"text": "ok", "id": "i" * 1000}).encode(), None, [], "review"),
}
