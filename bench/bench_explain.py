"""Predictor.explain: latency of one review by length, and reviews explained per second on typical reviews.

    .venv/bin/python bench/bench_explain.py [--write]

Goals: a 100-word review explained in under 30 ms at the median on the 2 cores; at least 100 typical reviews
explained per second (what a CSV with explanations costs). Lengths are counted in the words the model reads.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd

from bench.results import replace_section
from common.paths import DEFAULT_MODEL_DIR, TEST_SAMPLE
from common.readers import read_records
from dashboard.analysis import score_table
from model.predictor import Predictor

LENGTHS = (10, 25, 50, 100, 166)
SECTION = "## explanations"


def closest(texts: list[str], counts: list[int], target: int) -> tuple[str, int]:
    index = min(range(len(texts)), key=lambda i: (abs(counts[i] - target), i))
    return texts[index], counts[index]


def latency_ms(predictor: Predictor, text: str, repeats: int) -> float:
    predictor.explain(text)  # warm
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        predictor.explain(text)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="explanations per length [30]")
    parser.add_argument("--typical", type=int, default=500, help="test-sample reviews for the rate [500]")
    parser.add_argument("--write", action="store_true", help=f"replace the '{SECTION}' section of bench/RESULTS.md")
    args = parser.parse_args(argv)

    predictor = Predictor.load(DEFAULT_MODEL_DIR)
    texts = [r.text for r in read_records(TEST_SAMPLE)]
    counts = [len(s) for s in predictor.tokenizer.texts_to_sequences(texts)]
    rows = []
    for target in (*LENGTHS, max(counts)):
        text, count = closest(texts, counts, target)
        rows.append((count, min(count, predictor.max_len), latency_ms(predictor, text, args.repeats)))
    typical = texts[: args.typical]
    started = time.perf_counter()
    for text in typical:
        predictor.explain(text)
    rate = len(typical) / (time.perf_counter() - started)
    # What a CSV with explanations costs: the dashboard's own path (judge, then explain_many in chunks).
    frame = pd.DataFrame({"text": typical})
    started = time.perf_counter()
    score_table(predictor, frame, "text", explain=True)
    csv_rate = len(typical) / (time.perf_counter() - started)

    lines = [
        f"Command: `.venv/bin/python bench/bench_explain.py --repeats {args.repeats} --typical {args.typical}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, backend {predictor.backend}, "
        f"{predictor.max_len}-token window. Goals: 100 words < 30 ms (p50); typical reviews >= 100/s.",
        "",
        "| words in the review | words read | p50 latency |",
        "| ---: | ---: | ---: |",
        *(f"| {count} | {read} | {ms:.1f} ms |" for count, read, ms in rows),
        "",
        f"Typical reviews (the first {len(typical)} of the test sample, mean "
        f"{statistics.mean(counts[: args.typical]):.0f} words): **{rate:.0f} explained per second** one at a time "
        f"(Predictor.explain); **{csv_rate:.0f} per second as a CSV with explanations** (the dashboard's "
        "score_table: explain_many over 32 reviews per engine call, three words each way).",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        replace_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
