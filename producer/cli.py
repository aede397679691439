"""``sentiment-producer``: send reviews to the input topic from a file, stdin or --text."""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from common import cli, config, logs
from common.broker_check import check_client_config
from common.readers import FORMATS, MalformedInput
from common.values import non_negative_float, positive_float, positive_int
from producer.send import ProducerError, producer_config, send_reviews
from producer.sources import FileSource, TextSource, check_readable, reviews, shuffled, skipped_lines

OPTIONS = ("bootstrap_servers", "input_topic")
READING = (*config.READING_OPTIONS, "max_malformed", "dry_run")

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
checking: a file is read whole before anything is sent, so one with too many malformed lines
(--max-malformed) sends nothing; stdin is checked as it streams, and a stop says what was already
delivered. The summary counts what was skipped, with the first line numbers. --dry-run only checks.
labels: without --with-labels the label column is not read; with it, a missing label sends the
review without a label (counted). --stars reads star ratings (Amazon's overall, rating) as labels.
exit status: 0 all sent; 1 broker unreachable, topic missing, malformed input or reviews not
delivered; 2 bad options or a missing file; 130 stopped by Ctrl-C (143 by SIGTERM), after the summary.
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
    parser.add_argument(
        "--text", action="append", default=[], metavar="TEXT", help="a review to send instead of a file (repeatable)"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        dest="fmt",
        help="file format [auto: from the name, else the first line]",
    )
    parser.add_argument("--text-column", default="text", help="CSV/JSONL column holding the review [text]")
    parser.add_argument(
        "--label-column",
        default="label",
        help="CSV/JSONL column holding the true label (1/0, negative/positive; star ratings with "
        "--stars), read only with --with-labels [label]",
    )
    parser.add_argument(
        "--id-column",
        default=None,
        metavar="COL",
        help="CSV/JSONL column holding the review id used as message key and id [line number]",
    )
    parser.add_argument(
        "--with-labels",
        action="store_true",
        help="carry the true label in each message (the dashboard shows live accuracy)",
    )
    parser.add_argument(
        "--rate",
        type=non_negative_float,
        default=0.0,
        help="reviews per second, steadily paced [0 = as fast as possible]",
    )
    parser.add_argument("--limit", type=positive_int, default=None, help="send at most this many reviews")
    parser.add_argument("--loop", action="store_true", help="replay the file until --limit or Ctrl-C")
    parser.add_argument("--shuffle", action="store_true", help="shuffle within a bounded buffer (see below)")
    parser.add_argument(
        "--shuffle-buffer", type=positive_int, default=10_000, help="reviews held for --shuffle [10000]"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed of --shuffle")
    parser.add_argument("--id-prefix", default="", help="prefix of every review id")
    parser.add_argument(
        "--connect-timeout",
        type=positive_float,
        default=10.0,
        help="seconds to wait for the broker before giving up [10]",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar with rate [on a terminal only]",
    )
    config.add_options(parser, OPTIONS)
    config.add_options(parser, READING, kafka=False)
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
    settings = config.resolve((*OPTIONS, *READING), args)
    check_client_config(producer_config(settings.kafka_config()), "producer", settings.kafka_sources)
    logs.setup()
    source = _source(args, settings)
    if settings.dry_run or (isinstance(source, FileSource) and source.rereadable):
        checked = _check(source, args.limit, dry_run=settings.dry_run)
        if checked is not None:
            return checked
    return _send(source, args, settings)


def _source(args: argparse.Namespace, settings: config.Settings) -> FileSource | TextSource:
    """The reviews to send; the label column is read only when labels are sent (--with-labels)."""
    if args.source is None:
        return TextSource(args.text)
    try:
        check_readable(args.source)
    except FileNotFoundError as exc:
        raise config.ConfigError(str(exc)) from None
    return FileSource(
        args.source,
        args.fmt,
        args.text_column,
        args.label_column if args.with_labels else None,
        args.id_column,
        reading=config.reading(settings),
        tolerance=settings.max_malformed,
    )


def _check(source: FileSource | TextSource, limit: int | None, dry_run: bool) -> int | None:
    """Read what would be sent (one pass, at most ``limit`` reviews) before any review leaves: the exit status
    when the input has more malformed lines than tolerated or this is a dry run, else None (go on and send)."""
    try:
        with _argument_errors():
            count = sum(1 for _ in itertools.islice(source.records(), limit))
    except MalformedInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(
            "error: nothing was sent: the input is checked before sending (--max-malformed sets the tolerance)",
            file=sys.stderr,
        )
        return 1
    if dry_run:
        print(f"dry run: {count:,} reviews to send, nothing sent", *_skipped(source), sep="\n")
        return 0
    if isinstance(source, FileSource):
        source.passes.clear()  # the summary reports the sending passes
    return None


def _send(source: FileSource | TextSource, args: argparse.Namespace, settings: config.Settings) -> int:
    """Send, print the summary and what was skipped; the exit status (128 + the signal after Ctrl-C or SIGTERM)."""
    reading = _UntilMalformed(reviews(source, loop=args.loop, id_prefix=args.id_prefix))
    stream = shuffled(iter(reading), args.shuffle_buffer, args.seed) if args.shuffle else iter(reading)
    with _argument_errors():  # read before connecting: an option the input cannot honour fails here
        first = next(stream, None)
    if first is None:
        print(
            f"error: {reading.error}" if reading.error else "error: no reviews to send: the input is empty",
            file=sys.stderr,
        )
        return 1
    try:
        with _stop_on_signals() as stop:
            summary = send_reviews(
                settings.kafka_config(),
                settings.input_topic,
                itertools.chain([first], stream),
                rate=args.rate or None,
                with_labels=args.with_labels,
                limit=args.limit,
                progress=args.progress,
                connect_timeout=args.connect_timeout,
                stop=stop.event,
            )
    except ProducerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary.line(), *_skipped(source), sep="\n")
    code = 0
    if reading.error is not None:
        print(f"error: {reading.error}", file=sys.stderr)
        print(
            f"error: reading stopped after line {reading.last_line}: the {summary.sent:,} reviews read up to there "
            "were delivered, so sending the same input again delivers them twice",
            file=sys.stderr,
        )
        code = 1
    if summary.failed:
        print(
            f"error: {summary.failed} reviews were not delivered: " + "; ".join(summary.first_errors), file=sys.stderr
        )
        code = 1
    return 128 + stop.signal if stop.signal is not None else code


@contextmanager
def _argument_errors() -> Iterator[None]:
    """read_records' argument errors (ValueError, such as --id-column on fastText) are bad options: exit 2.
    MalformedInput, also a ValueError, is about the data and passes through."""
    try:
        yield
    except MalformedInput:
        raise
    except ValueError as exc:
        raise config.ConfigError(str(exc)) from None


def _skipped(source: FileSource | TextSource) -> list[str]:
    return skipped_lines(source.passes) if isinstance(source, FileSource) else []


class _UntilMalformed:
    """The reviews as read, ended instead of broken by MalformedInput (stdin is checked as it streams), so the
    send still flushes and the summary can say what was delivered and at which line reading stopped."""

    def __init__(self, stream: Iterator[dict]) -> None:
        self._stream = stream
        self.error: MalformedInput | None = None
        self.last_line: Any = 0

    def __iter__(self) -> Iterator[dict]:
        try:
            for review in self._stream:
                self.last_line = review["line"]
                yield review
        except MalformedInput as exc:
            self.error = exc


@dataclass
class _Stop:
    """Set by Ctrl-C or SIGTERM; remembers which, for the exit status (128 + the signal number)."""

    event: threading.Event = field(default_factory=threading.Event)
    signal: int | None = None

    def __call__(self, signum: int, _frame: Any) -> None:
        self.signal = signum
        self.event.set()


@contextmanager
def _stop_on_signals() -> Iterator[_Stop]:
    """Ctrl-C and SIGTERM end the send cleanly: what was queued is flushed and the summary printed."""
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def entry() -> None:
    cli.run(main)
