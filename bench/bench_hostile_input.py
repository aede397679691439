"""How long the message decoder spends on each hostile input.

localkafka/hostile.py names the inputs; tests/security bound their memory.

Run: ``.venv/bin/python bench/bench_hostile_input.py [--repeat 5]``; prints a markdown table of the median
and worst seconds per case, and the decoder's rate on random bytes, for bench/RESULTS.md's security section.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import contract
from localkafka.hostile import HOSTILE, SOURCE


def time_case(key: bytes | None, value: bytes | None, repeat: int) -> list[float]:
    """Seconds per decode, ``repeat`` times."""
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        contract.decode_review(key, value, SOURCE)
        seconds.append(time.perf_counter() - began)
    return seconds


def random_rate(count: int, size: int) -> float:
    """Decodes per second of random byte strings (the fuzzer's diet, at full speed)."""
    values = [os.urandom(size) for _ in range(count)]
    began = time.perf_counter()
    for value in values:
        contract.decode_review(None, value, SOURCE)
    return count / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="decodes per case [5]")
    args = parser.parse_args(argv)
    print("| hostile input | size | outcome | median ms | worst ms |")
    print("| --- | ---: | --- | ---: | ---: |")
    for name, (value, key, _headers, _expected) in HOSTILE.items():
        decoded = contract.decode_review(key, value, SOURCE)
        outcome = decoded.code if isinstance(decoded, contract.Rejection) else "scored"
        seconds = time_case(key, value, args.repeat)
        size = len(value or b"") + len(key or b"")
        print(
            f"| {name} | {size:,} B | {outcome} | {statistics.median(seconds) * 1e3:.2f} | {max(seconds) * 1e3:.2f} |"
        )
    print(f"\nrandom 256-byte values: {random_rate(20_000, 256):,.0f} decodes/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
