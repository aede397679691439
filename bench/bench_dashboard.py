"""Benchmark of the dashboard: can it keep up with the stream, and how fast are its pages?

Measured in one run on this machine (medians of ``--repeats`` where repeated):

- live reader ingest: results/s the StreamReader decodes and aggregates, reading a topic of
  ``--results`` results from the beginning on the real local broker;
- one live refresh with a full hour of per-second buckets: snapshot + figures + JSON, in ms,
  and the size of the JSON the page receives each second;
- CSV analysis: parsing a ``--csv-mb`` MB upload (encoding check + read_table), and scoring rows/s
  with the default model (onnxruntime) through score_table.

``--write`` replaces the ``## dashboard`` section of bench/RESULTS.md with the table and the
exact command. Needs the broker (``sentiment-kafka start``) and the default model.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import plotly
from tqdm import tqdm

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bench.results import replace_section
from common.config import DEFAULT_MODEL_DIR
from common.contract import SNIPPET_CHARS, Result, Review, encode_result, scored
from common.labels import Label
from common.paths import TEST_SAMPLE
from common.readers import read_records
from dashboard import live_view
from dashboard.aggregates import LiveStats
from dashboard.analysis import Limits, detect_encoding, read_table, score_table
from dashboard.stream import StartPosition, StreamReader

SECTION = "## dashboard"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--results", type=int, default=100_000, help="results on the topic the reader ingests [100000]")
    parser.add_argument("--repeats", type=int, default=200, help="live refreshes timed [200]")
    parser.add_argument("--csv-mb", type=float, default=50.0, help="size of the CSV upload parsed [50]")
    parser.add_argument("--score-rows", type=int, default=5000, help="CSV rows scored with the default model [5000]")
    parser.add_argument("--write", action="store_true", help=f"replace the '{SECTION}' section of bench/RESULTS.md")
    return parser.parse_args(argv)


def texts(limit: int) -> list[str]:
    return [r.text for r in read_records(TEST_SAMPLE, limit=limit)]


def reader_ingest(bootstrap: str, count: int, sample: list[str]) -> float:
    """Results/s from the first record to the last, reading a topic that already holds them all."""
    from common import kafka
    from localkafka import scratch_topics

    topic = f"bench-dashboard-{uuid.uuid4().hex[:8]}"
    with scratch_topics({"bootstrap.servers": bootstrap}, [topic], 4):
        producer = kafka.make_producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "lz4"})
        now = time.time()
        for i in tqdm(range(count), desc="producing results", unit="result"):
            review = Review(
                id=str(i),
                text=sample[i % len(sample)],
                true_label=Label.NEGATIVE if i % 3 else Label.POSITIVE,
                event_time=now,
            )
            verdict = (Label.NEGATIVE if i % 2 else Label.POSITIVE, 0.7)
            kafka.produce(producer, topic, encode_result(scored(review, verdict, "bench", now + 0.01)))
            producer.poll(0)
        producer.flush(60)
        stats = LiveStats()
        started = time.perf_counter()
        reader = StreamReader(
            {"bootstrap.servers": bootstrap}, topic, stats, StartPosition("beginning"), check_interval_s=1.0
        ).start()
        with tqdm(total=count, desc="reading", unit="result") as bar:
            while (read := stats.snapshot().records_read) < count:
                bar.update(read - bar.n)
                time.sleep(0.05)
            bar.update(read - bar.n)
        seconds = time.perf_counter() - started
        reader.stop()
    return count / seconds


def full_hour_stats(sample: list[str]) -> LiveStats:
    """An hour of traffic at 50 results/s: every per-second bucket filled, the rings full."""
    now = time.time()
    stats = LiveStats()
    for i in range(3600 * 50):
        second = now - 3599 + i / 50
        stats.add(
            Result(
                id=str(i),
                label=Label.NEGATIVE if i % 3 == 0 else Label.POSITIVE,
                p_negative=0.4,
                model_version="bench",
                scored_at=second,
                event_time=second - 0.2,
                true_label=Label.POSITIVE,
                text=sample[i % len(sample)][:SNIPPET_CHARS],
            )
        )
    return stats


def live_refresh(stats: LiveStats, repeats: int, graph_objects: bool) -> tuple[float, int]:
    """Median ms of one refresh of the live tab (what its callback does) and the JSON bytes it returns.

    ``graph_objects``: also pass each figure through ``plotly.graph_objects.Figure`` (the usual way
    of building figures, and this dashboard's first version) to measure what plain dicts save.
    """
    import plotly.graph_objects as go

    timings, size = [], 0
    for _ in tqdm(
        range(repeats), desc="live refreshes" + (" (graph_objects)" if graph_objects else ""), unit="refresh"
    ):
        started = time.perf_counter()
        view = live_view.render(stats.snapshot(), "all")
        charts = [view.bar, view.pie, view.series, view.confusion]
        if graph_objects:
            charts = [go.Figure(chart) for chart in charts]
        payload = json.dumps(
            [*charts, view.latest, [k.__dict__ for k in view.kpis]], cls=plotly.utils.PlotlyJSONEncoder
        )
        timings.append(time.perf_counter() - started)
        size = len(payload)
    return statistics.median(timings) * 1000, size


def csv_parse(megabytes: float, sample: list[str]) -> tuple[float, int]:
    """Seconds to check the encoding of and parse an upload of ``megabytes`` MB, and its rows."""
    frame = pd.DataFrame({"id": range(len(sample)), "text": sample})
    one = frame.to_csv(index=False).encode()
    body = one.split(b"\n", 1)[1]
    data = one.split(b"\n", 1)[0] + b"\n" + body * max(1, int(megabytes * 1024 * 1024 / len(body)))
    limits = Limits(max_bytes=len(data) + 1, max_rows=10_000_000)
    started = time.perf_counter()
    table = read_table(data, "bench.csv", limits, detect_encoding(data, "bench.csv"))
    return time.perf_counter() - started, len(table)


def csv_scoring(rows: int, sample: list[str]) -> float:
    from model.predictor import Predictor

    predictor = Predictor.load(DEFAULT_MODEL_DIR)
    frame = pd.DataFrame({"text": [sample[i % len(sample)] for i in range(rows)]})
    started = time.perf_counter()
    score_table(predictor, frame, "text")
    return rows / (time.perf_counter() - started)


def write_section(lines: list[str], command: str) -> None:
    replace_section(SECTION, f"Command: `{command}`\n\n" + "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load = os.getloadavg()[0]
    sample = texts(2000)
    ingest = reader_ingest(args.bootstrap_servers, args.results, sample)
    hour = full_hour_stats(sample)
    refresh_ms, refresh_bytes = live_refresh(hour, args.repeats, graph_objects=False)
    objects_ms, _ = live_refresh(hour, args.repeats, graph_objects=True)
    parse_s, parse_rows = csv_parse(args.csv_mb, sample)
    score_rate = csv_scoring(args.score_rows, sample)
    lines = [
        "| measure | result |",
        "|---|---|",
        f"| live reader ingest, {args.results:,} results from the beginning "
        f"(4 partitions, real broker) | {ingest:,.0f} results/s |",
        f"| one live refresh, a full hour of buckets (snapshot + figures "
        f"+ JSON), median of {args.repeats} | {refresh_ms:.1f} ms |",
        f"| the same through plotly.graph_objects (baseline) | "
        f"{objects_ms:.1f} ms ({objects_ms / refresh_ms:.1f}x slower) |",
        f"| JSON the page receives per refresh | {refresh_bytes / 1024:.0f} KB |",
        f"| CSV upload of {args.csv_mb:g} MB ({parse_rows:,} rows): encoding check + parse | {parse_s:.2f} s |",
        f"| CSV scoring with the default model (onnxruntime), {args.score_rows:,} rows | {score_rate:,.0f} rows/s |",
    ]
    lines.append("")
    lines.append(
        f"Machine: {os.cpu_count()} cores shared with the other engineers' jobs; "
        f"load average {load:.1f} when the run began."
    )
    print("\n".join(lines))
    if args.write:
        write_section(
            lines, "python bench/bench_dashboard.py " + shlex.join(argv if argv is not None else sys.argv[1:])
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
