"""CSV analyses run in the background so the page can show progress on long files.

One worker scores one file at a time (the model already uses the cores);
later uploads wait in line and see their place and an estimate. Memory is
bounded by admission, not by forgetting: at most ``max_parsing`` uploads are
read at once and ``max_waiting`` files wait or run, anything beyond is told
the dashboard is busy. A finished job's labelled CSV goes to disk and only its
summary stays in memory, so results are kept their promised ``ttl_s`` however
large; the disk they take is bounded by ``max_result_bytes``, again by
refusing new files while it is full. Job ids are random, so one user cannot
fetch another's results by guessing.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pandas as pd

from dashboard.analysis import InputError, Limits, ScoredTable, score_table, to_safe_csv
from model.predictor import Judge

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
PREVIEW_ROWS = 20
DEFAULT_TTL_S = 1800.0
DEFAULT_MAX_RESULT_MB = 2048
DEFAULT_MAX_WAITING = 3  # one scoring, two in line: each holds its table in memory
DEFAULT_MAX_PARSING = 2  # uploads decoded and parsed at once
BUSY = "The dashboard is busy with other files; try again in a minute."
FULL = "The dashboard's space for results is full until older ones expire; try again in a few minutes."
# What a labelled CSV adds to its upload: quotes around text cells, and label, p_negative and status per row.
_RESULT_GROWTH = 1.2
_RESULT_BYTES_PER_ROW = 48
_WRITE_ROWS = 5000
_RATE_WEIGHT = 0.5  # of the newest finished job in the scoring rate estimate


class Busy(InputError):
    """No room for another upload now; the message says so and when to try again."""


@dataclass(frozen=True)
class JobResult:
    """What stays in memory of a finished job: its counts and preview; the labelled CSV is on disk."""

    path: Path
    size: int
    counts: dict[str, int]
    text_column: str
    label_column: str
    prob_column: str
    status_column: str
    preview: pd.DataFrame  # the first PREVIEW_ROWS rows of those four columns

    @classmethod
    def write(cls, table: ScoredTable, path: Path) -> JobResult:
        """Write the labelled CSV a slice of rows at a time (the
        whole text at once was a copy of the table and more).
        """
        frame = table.frame
        header = to_safe_csv(frame.iloc[:0], table.text_column)
        with path.open("w", encoding="utf-8", newline="") as out:
            out.write("\ufeff")  # a byte-order mark lets spreadsheets open the UTF-8 text with its accents intact
            out.write(header)
            for start in range(0, len(frame), _WRITE_ROWS):
                out.write(to_safe_csv(frame.iloc[start : start + _WRITE_ROWS], table.text_column)[len(header) :])
        shown = [table.text_column, table.label_column, table.prob_column, table.status_column]
        return cls(
            path,
            path.stat().st_size,
            table.counts(),
            table.text_column,
            table.label_column,
            table.prob_column,
            table.status_column,
            frame[shown].head(PREVIEW_ROWS).copy(),
        )


@dataclass(frozen=True)
class Job:
    """The state of one CSV analysis, as the page shows it."""

    id: str
    filename: str
    rows: int
    encoding: str = "utf-8"
    state: str = QUEUED
    scored: int = 0
    to_score: int = 0
    result: JobResult | None = None
    error: str | None = None
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    reserved: int = 0  # bytes of disk held for the result until it is written
    ahead: int = 0  # files scored or waiting before this one (set by CsvJobs.get)
    wait_s: float | None = None  # estimated seconds until it starts (set by CsvJobs.get; None: no estimate yet)


RESULTS_ROUTE = "/csv-results"
_JOB_ID = re.compile(r"[0-9a-f]{32}")


def results_url(job_id: str) -> str:
    """Where the browser downloads a job's labelled CSV (streamed from disk, not through a callback)."""
    return f"{RESULTS_ROUTE}/{job_id}"


def job_id_from_query(search: str | None) -> str | None:
    """The job id of a page address's ``?job=<id>``; None when absent or not an id."""
    job_id = parse_qs((search or "").lstrip("?")).get("job", [""])[0]
    return job_id if _JOB_ID.fullmatch(job_id) else None


def download_name(filename: str) -> str:
    """``reviews.csv`` -> ``reviews.sentiment.csv``."""
    return f"{filename.rsplit('.', 1)[0] or 'reviews'}.sentiment.csv"


class CsvJobs:
    """Submit uploaded tables for scoring; poll their progress by id."""

    def __init__(
        self,
        scorer: Judge,
        limits: Limits = Limits(),
        ttl_s: float = DEFAULT_TTL_S,
        max_result_bytes: int = DEFAULT_MAX_RESULT_MB * 1024 * 1024,
        max_waiting: int = DEFAULT_MAX_WAITING,
        max_parsing: int = DEFAULT_MAX_PARSING,
        results_dir: Path | None = None,
    ) -> None:
        self._scorer = scorer
        self._limits = limits
        self._ttl = ttl_s
        self._max_result_bytes = max_result_bytes
        self._max_waiting = max_waiting
        self._parsing = threading.BoundedSemaphore(max_parsing)
        self._dir = Path(tempfile.mkdtemp(prefix="sentiment-results-", dir=results_dir))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, ignore_errors=True)
        self._rows_per_s: float | None = None
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-analysis")

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one of the upload slots while a file is decoded, parsed and submitted; Busy when none is free."""
        if self._waiting() >= self._max_waiting or not self._parsing.acquire(blocking=False):
            raise Busy(BUSY)
        try:
            yield
        finally:
            self._parsing.release()

    def submit(
        self,
        frame: pd.DataFrame,
        column: str,
        filename: str,
        encoding: str = "utf-8",
        size: int = 0,
        explain: bool = False,
    ) -> str:
        """Queue ``frame`` (now owned by the job) for scoring; Busy when the line or the results' space is full.

        ``size``: the upload's bytes, from which the space its labelled CSV needs is reserved.
        """
        reserved = int(size * _RESULT_GROWTH) + len(frame) * _RESULT_BYTES_PER_ROW
        job = Job(
            id=uuid.uuid4().hex,
            filename=filename,
            rows=len(frame),
            encoding=encoding,
            created=time.time(),
            reserved=reserved,
        )
        with self._lock:
            self._evict()
            if sum(1 for j in self._jobs.values() if j.state in (QUEUED, RUNNING)) >= self._max_waiting:
                raise Busy(BUSY)
            if self._disk_held() + reserved > self._max_result_bytes:
                raise Busy(FULL)
            self._jobs[job.id] = job
        self._pool.submit(self._run, job.id, frame, column, explain)
        return job.id

    def get(self, job_id: str | None) -> Job | None:
        """The job as it stands, with its place in line; None when unknown or expired."""
        with self._lock:
            self._evict()
            job = self._jobs.get(job_id or "")
            if job is None or job.state != QUEUED:
                return job
            before = [j for j in self._jobs.values() if j.state in (QUEUED, RUNNING) and j.created < job.created]
            return replace(job, ahead=len(before), wait_s=self._seconds_for(before))

    def _seconds_for(self, jobs: list[Job]) -> float | None:
        if self._rows_per_s is None:
            return None
        return sum(j.rows - j.scored for j in jobs) / self._rows_per_s

    def _waiting(self) -> int:
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.state in (QUEUED, RUNNING))

    def _disk_held(self) -> int:
        return sum(j.result.size if j.result else j.reserved for j in self._jobs.values() if j.state != FAILED)

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            if job_id in self._jobs:
                self._jobs[job_id] = replace(self._jobs[job_id], **changes)

    def _run(self, job_id: str, frame: pd.DataFrame, column: str, explain: bool = False) -> None:
        started = time.time()
        self._update(job_id, state=RUNNING, started=started)
        try:
            table = score_table(
                self._scorer,
                frame,
                column,
                self._limits,
                progress=lambda done, total: self._update(job_id, scored=done, to_score=total),
                explain=explain,
            )
            result = JobResult.write(table, self._dir / f"{job_id}.csv")
        except InputError as exc:
            self._update(job_id, state=FAILED, error=str(exc), finished=time.time())
        except Exception:  # the user gets a plain message, the log gets the traceback
            log.exception("CSV analysis failed", extra={"job": job_id})
            self._update(
                job_id,
                state=FAILED,
                error="The analysis failed unexpectedly; the server log has the details.",
                finished=time.time(),
            )
        else:
            finished = time.time()
            self._learn_rate(len(frame), finished - started)
            self._update(job_id, state=DONE, result=result, finished=finished)

    def _learn_rate(self, rows: int, seconds: float) -> None:
        """Rows per second of whole jobs (scoring and writing), for the estimate queued users see."""
        if rows <= 0 or seconds <= 0:
            return
        rate = rows / seconds
        with self._lock:
            self._rows_per_s = (
                rate if self._rows_per_s is None else (1 - _RATE_WEIGHT) * self._rows_per_s + _RATE_WEIGHT * rate
            )

    def _evict(self) -> None:
        """Forget finished jobs older than ``ttl_s`` and delete their files (called with the lock held)."""
        now = time.time()
        for job in [j for j in self._jobs.values() if j.finished is not None and now - j.finished > self._ttl]:
            del self._jobs[job.id]
            if job.result is not None:
                job.result.path.unlink(missing_ok=True)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._cleanup()
