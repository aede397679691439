"""``sentiment-producer``: send reviews to the input topic from a file, stdin or --text."""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

from common import cli, config, logs
from common.broker_check import check_client_config
from model.data import FORMATS, MalformedInput
from producer.send import ProducerError, producer_config, send_reviews
from producer.sources import FileSource, TextSource, check_readable, reviews, shuffled

OPTIONS = ("bootstrap_servers", "input_topic")

EPILOG = """\
examples:
  sentiment-producer data/amazon_polarity/test.sample.ft.txt.bz2 --with-labels --rate 50
  sentiment-producer reviews.csv --text-column review --label-column stars_polarity --id-column review_id
  cat reviews.txt | sentiment-producer - --format text
  sentiment-producer --text "Great blender, crushes ice in seconds." --text "Broke after a week."

ids: each review is keyed by its id: the --id-column value, else its line (row) number in the file,
prefixed by --id-prefix; with --loop the pass number is added (<prefix><pass>:<id>) so ids stay unique.
--shuffle mixes within a buffer of --shuffle-buffer reviews (bounded memory): a review moves at most
that far; a file sorted by label needs a buffer larger than its runs.
speed: bz2 decompression runs in this process; to replay a .bz2 faster, decompress it once (bunzip2 -k)
or let another process do it: bzcat FILE.bz2 | sentiment-producer - --format fasttext
exit status: 0 all sent; 1 broker unreachable, topic missing, malformed input or reviews not
delivered; 2 bad options or a missing file.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentiment-producer",
        description="Send reviews to the input topic (idempotent, lz4-compressed, every delivery confirmed) "
        "from a Kaggle .ft.txt/.bz2 file, a CSV or JSONL file, stdin ('-') or --text.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", nargs="?", help="review file (.ft.txt, .bz2, .gz, .csv, .jsonl) or - for stdin")
    parser.add_argument("--text", action="append", default=[], metavar="TEXT",
                        help="a review to send instead of a file (repeatable)")
    parser.add_argument("--format", choices=FORMATS, default="auto", dest="fmt",
                        help="file format [auto: from the name, else the first line]")
    parser.add_argument("--text-column", default="text", help="CSV/JSONL column holding the review [text]")
    parser.add_argument("--label-column", default="label",
                        help="CSV/JSONL column holding the true label (1/0, negative/positive) [label]")
    parser.add_argument("--id-column", default=None, metavar="COL",
                        help="CSV/JSONL column holding the review id used as message key and id [line number]")
    parser.add_argument("--with-labels", action="store_true",
                        help="carry the true label in each message (the dashboard shows live accuracy)")
    parser.add_argument("--rate", type=_non_negative_float, default=0.0,
                        help="reviews per second, steadily paced [0 = as fast as possible]")
    parser.add_argument("--limit", type=_positive_int, default=None, help="send at most this many reviews")
    parser.add_argument("--loop", action="store_true", help="replay the file until --limit or Ctrl-C")
    parser.add_argument("--shuffle", action="store_true", help="shuffle within a bounded buffer (see below)")
    parser.add_argument("--shuffle-buffer", type=_positive_int, default=10_000, help="reviews held for --shuffle [10000]")
    parser.add_argument("--seed", type=int, default=None, help="random seed of --shuffle")
    parser.add_argument("--id-prefix", default="", help="prefix of every review id")
    parser.add_argument("--connect-timeout", type=_positive_float, default=10.0,
                        help="seconds to wait for the broker before giving up [10]")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar with rate [on a terminal only]")
    config.add_options(parser, OPTIONS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.source is None) == (not args.text):
        parser.error("give either a SOURCE file (or - for stdin) or --text, not both or neither")
    if args.loop and args.source == "-":
        parser.error("--loop needs a file or --text: stdin cannot be read twice")
    if args.id_column is not None and args.text:
        parser.error("--id-column needs a CSV or JSONL file, not --text")
    settings = config.resolve(OPTIONS, args)
    check_client_config(producer_config(settings.kafka_config()), "producer", settings.kafka_sources)
    logs.setup()
    if args.source is not None:
        try:
            check_readable(args.source)
        except FileNotFoundError as exc:
            raise config.ConfigError(str(exc)) from None
        source = FileSource(args.source, args.fmt, args.text_column, args.label_column, args.id_column)
    else:
        source = TextSource(args.text)
    stream = reviews(source, loop=args.loop, id_prefix=args.id_prefix)
    if args.shuffle:
        stream = shuffled(stream, args.shuffle_buffer, args.seed)
    try:
        first = _first_review(stream)
        if first is None:
            print("error: no reviews to send: the input is empty", file=sys.stderr)
            return 1
        with _stop_on_signals() as stop:
            summary = send_reviews(
                settings.kafka_config(), settings.input_topic, itertools.chain([first], stream),
                rate=args.rate or None, with_labels=args.with_labels, limit=args.limit,
                progress=args.progress, connect_timeout=args.connect_timeout, stop=stop,
            )
    except (MalformedInput, ProducerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary.line())
    if summary.failed:
        print(f"error: {summary.failed} reviews were not delivered: " + "; ".join(summary.first_errors), file=sys.stderr)
        return 1
    return 0


def _first_review(stream: Iterator[dict]) -> dict | None:
    """Read the first review before connecting: a missing column or a wholly malformed file fails here
    (MalformedInput), and so does an option the input cannot honour, such as --id-column on fastText."""
    try:
        return next(stream, None)
    except MalformedInput:
        raise
    except ValueError as exc:  # read_records' argument errors
        raise config.ConfigError(str(exc)) from None


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """Ctrl-C and SIGTERM end the send cleanly: what was queued is flushed and the summary printed."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be zero or a positive number")
    return value


def entry() -> None:
    cli.run(main)
