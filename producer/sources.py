"""Where the producer's reviews come from: files (read by ``common.readers``), stdin or ``--text``, looped and shuffled.

Everything streams: a file is re-read on each ``--loop`` pass rather than held,
and ``--shuffle`` mixes within a bounded buffer, so a 3.6M-line download
replays in constant memory.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from common.readers import ErrorCounter, Reading, Record, Tolerance, read_records

STDIN = "-"
_SKIPPED_SHOWN = 3  # malformed lines the summary names (the error, when there is one, names more)


@dataclass(frozen=True)
class FileSource:
    """A review file (fastText/.bz2, CSV, JSONL, plain text) or ``-`` for stdin.

    Every read (``records``) appends its own ErrorCounter to ``passes``, so the summary can say what each
    pass skipped and why. A missing label never rejects a review: it is sent without a label (counted).
    """

    path: str
    fmt: str = "auto"
    text_column: str = "text"
    label_column: str | None = "label"
    id_column: str | None = None
    reading: Reading = Reading()
    tolerance: Tolerance = Tolerance()
    passes: list[ErrorCounter] = field(default_factory=list, compare=False, repr=False)

    def records(self) -> Iterator[Record]:
        # A fresh counter per pass: the malformed tolerance applies to each read of the file.
        errors = self.tolerance.counter()
        self.passes.append(errors)
        return read_records(
            self.path,
            fmt=self.fmt,
            text_column=self.text_column,
            label_column=self.label_column,
            errors=errors,
            id_column=self.id_column,
            keep_unlabelled=True,
            **self.reading.options(),
        )

    @property
    def rereadable(self) -> bool:
        return self.path != STDIN


@dataclass(frozen=True)
class TextSource:
    """Reviews given on the command line; their position (1, 2, ...) is their line."""

    texts: Sequence[str]

    def records(self) -> Iterator[Record]:
        return (Record(text, None, number) for number, text in enumerate(self.texts, start=1))

    @property
    def rereadable(self) -> bool:
        return True


def reviews(source: FileSource | TextSource, *, loop: bool = False, id_prefix: str = "") -> Iterator[dict]:
    """Contract-ready dicts with ids from the file's id column, else its position: ``<prefix><id or line>``,
    or ``<prefix><pass>:<id or line>`` when looping, so every message of a replay keeps a unique id."""
    if loop and not source.rereadable:
        raise ValueError("--loop needs a file or --text: stdin cannot be read twice")
    passes = itertools.count(1) if loop else [None]
    for pass_number in passes:
        prefix = id_prefix if pass_number is None else f"{id_prefix}{pass_number}:"
        empty = True
        for record in source.records():
            empty = False
            review_id = record.line if record.id is None else record.id
            yield {"text": record.text, "id": f"{prefix}{review_id}", "label": record.label, "line": record.line}
        if empty:  # looping over nothing would spin forever
            return


def shuffled(items: Iterable[dict], buffer_size: int, seed: int | None = None) -> Iterator[dict]:
    """Shuffle within a buffer of ``buffer_size`` items (each new item swaps out a random buffered one).

    Memory stays bounded; an item can move at most ``buffer_size`` positions
    earlier, so a file sorted by label comes out mixed only when the buffer is
    larger than its runs of one label.
    """
    if buffer_size <= 0:
        raise ValueError("the shuffle buffer must hold at least one review")
    rng = random.Random(seed)
    buffer: list[dict] = []
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        index = rng.randrange(buffer_size)
        yield buffer[index]
        buffer[index] = item
    rng.shuffle(buffer)
    yield from buffer


def skipped_lines(passes: Sequence[ErrorCounter]) -> list[str]:
    """What the reads of a file left out or changed, for the summary: malformed lines (first ones by number),
    reviews dropped on purpose and reviews sent without a label. Each pass of --loop counts again."""
    described = []
    malformed = sum(errors.malformed for errors in passes)
    if malformed:
        described.append(
            f"skipped {malformed:,} malformed line{'s' if malformed != 1 else ''} (not sent), first: "
            + passes[0].describe_examples(_SKIPPED_SHOWN)
        )
    dropped: Counter[str] = sum((errors.dropped for errors in passes), Counter())
    described.extend(
        f"dropped {count:,} review{'s' if count != 1 else ''} {reason}" for reason, count in dropped.items()
    )
    unlabelled = sum(errors.unlabelled for errors in passes)
    if unlabelled:
        described.append(f"{unlabelled:,} review{'s' if unlabelled != 1 else ''} had no label: read without one")
    return described


def check_readable(path: str) -> None:
    """Fail before any connection when the file is not there (read_records would only fail lazily)."""
    if path != STDIN and not Path(path).is_file():
        raise FileNotFoundError(f"no such data file: {path}")
