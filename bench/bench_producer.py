"""Producer throughput to the local Kafka broker, rate unlimited (goal: >= 50,000 reviews/s).

Each path runs --repeats times (round-robin) into a fresh topic; medians reported:

- ``memory``: ``send_reviews`` over the train sample's records held in memory and
  looped (the producer's own cost: encoding, producing, delivery reports);
- ``file``: what ``sentiment-producer FILE --loop`` does, re-reading the file on
  every pass (reader and producer together): the .bz2 sample as shipped, and the
  same sample decompressed once to a plain file.

Usage:  .venv/bin/python bench/bench_producer.py [--reviews 200000] [--repeats 3] [--write]
``--write`` replaces the ``## producer`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import bz2
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import replace_section
from common.paths import TRAIN_SAMPLE
from common.readers import read_records
from localkafka import LocalKafka, scratch_topics
from producer.send import SEND_DEFAULTS, send_reviews
from producer.sources import FileSource, reviews

GOAL = 50_000


def in_memory(path: Path, count: int) -> Callable[[], Iterable[dict]]:
    records = list(read_records(path))
    looped = [
        {"text": r.text, "id": f"{n}:{r.line}", "label": r.label}
        for n, r in zip(range(count), itertools.cycle(records))
    ]
    return lambda: looped


def decompressed(path: Path, folder: Path) -> tuple[Path, float]:
    """The file decompressed into ``folder``, and the lines per CPU-second bz2 decompression alone allows."""
    plain = folder / path.name.removesuffix(".bz2")
    cpu = time.process_time()
    with bz2.open(path, "rb") as source, open(plain, "wb") as target:
        shutil.copyfileobj(source, target)
    cpu = time.process_time() - cpu
    with open(plain, "rb") as lines:
        return plain, sum(1 for _ in lines) / cpu


def from_file(path: Path) -> Callable[[], Iterable[dict]]:
    return lambda: reviews(FileSource(str(path)), loop=True)


def measure(bootstrap: str, stream: Callable[[], Iterable[dict]], count: int) -> tuple[float, float, float]:
    """Reviews per wall-clock second, per CPU-second of the process (all threads) and of the sending thread."""
    topic = f"bench-producer-{uuid.uuid4().hex[:8]}"
    with scratch_topics({"bootstrap.servers": bootstrap}, [topic], 4):
        process_cpu, thread_cpu = time.process_time(), time.thread_time()
        summary = send_reviews({"bootstrap.servers": bootstrap}, topic, stream(), with_labels=True, limit=count)
        process_cpu, thread_cpu = time.process_time() - process_cpu, time.thread_time() - thread_cpu
    if summary.sent != count or summary.failed:
        raise SystemExit(f"bench run lost reviews: {summary.line()}")
    print(
        f"  {summary.line()}; per CPU-second: {count / process_cpu:,.0f} (process), "
        f"{count / thread_cpu:,.0f} (sending thread)",
        file=sys.stderr,
    )
    return summary.rate, count / process_cpu, count / thread_cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reviews", type=int, default=200_000, help="reviews per run [200000]")
    parser.add_argument("--repeats", type=int, default=3, help="runs per path [3]")
    parser.add_argument("--data", type=Path, default=TRAIN_SAMPLE, help=f"review file [{TRAIN_SAMPLE}]")
    parser.add_argument("--write", action="store_true", help="replace the '## producer' section of bench/RESULTS.md")
    args = parser.parse_args()
    broker = LocalKafka()
    broker.start()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-producer-") as folder:
        plain, bz2_ceiling = decompressed(args.data, Path(folder))
        paths = {
            "memory: send_reviews over records held in memory": in_memory(args.data, args.reviews),
            "file: plain .ft.txt, re-read each pass": from_file(plain),
            "file: .bz2 as shipped, re-read (decompressed) each pass": from_file(args.data),
        }
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in paths}
        for repeat in range(args.repeats):  # round-robin, so drifting load on the shared machine hits every path alike
            for name, stream in paths.items():
                print(f"{name} (run {repeat + 1})", file=sys.stderr)
                runs[name].append(measure(broker.bootstrap, stream, args.reviews))
    for name, results in runs.items():
        rates, process, thread = zip(*results, strict=True)
        median = statistics.median(rates)
        rows.append(
            f"| {name} | {median:,.0f} | {min(rates):,.0f} - {max(rates):,.0f} | {median / GOAL:.2f} "
            f"| {statistics.median(process):,.0f} | {statistics.median(thread):,.0f} |"
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    section = "\n".join(
        [
            f"`.venv/bin/python bench/bench_producer.py --reviews {args.reviews} --repeats {args.repeats}` "
            f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores shared with other work, "
            f"load average {load} at the end; Kafka on 127.0.0.1:9092; "
            f"{SEND_DEFAULTS['compression.type']}, idempotent, labels carried, every delivery outcome counted)",
            "",
            f"Reviews acknowledged per second (the whole call, flush included), {args.reviews:,} reviews from "
            f"`{args.data.name}` looped; goal {GOAL:,}/s. The machine "
            f"is shared, so the wall-clock rate depends on what "
            "else runs; the last two columns divide by CPU time instead: of the whole process (Python and librdkafka's "
            "threads), and of the Python thread that reads, encodes "
            "and produces. That thread is the bottleneck (librdkafka "
            "compresses and sends on its own threads), so its column is what one free core would sustain.",
            "",
            "| path | median reviews/s | range | median / goal | per "
            "CPU-second: process | per CPU-second: sending thread |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            f"Decompressing the sample in one go takes as much CPU as "
            f"{bz2_ceiling:,.0f} reviews/s, before a single message "
            "is encoded or produced: on one core a .bz2 replay cannot "
            "reach the goal whatever the producer does, so the "
            "goal is met from the plain file. Line by line, decompression "
            "costs more still and dominates the .bz2 row (a "
            "1 MiB buffer in front of the decompressor took 14% off "
            "it). Before orjson wrote the messages (json.dumps took "
            "7.7 of the 17 us per message), the same benchmark gave "
            "58,933 (memory), 42,615 (plain file) and 11,869 (.bz2) "
            "reviews/s (02:02 UTC). A background reader thread was tried and "
            "dropped: it was slower (3,589 vs 5,799 and 5,930 vs 8,041 reviews/s in paired runs at "
            "00:46 UTC), since `bz2` releases the GIL only for each 8 KB chunk and the thread then "
            "waits for the GIL behind the sending thread. To replay "
            "a .bz2 faster, decompress it once (`bunzip2 -k`) or "
            "`bzcat FILE.bz2 | sentiment-producer - --format fasttext` "
            "(another process, on the other core, decompresses).",
            "",
        ]
    )
    print(section)
    if args.write:
        replace_section("## producer", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
