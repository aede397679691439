"""CSV analyses run in the background so the page can show progress on long files.

One worker scores one file at a time (the model already uses the cores);
later uploads wait in line and say so. Only the newest few finished jobs are
kept, and none for longer than ``ttl_s`` (a 50 MB file's results are a few
hundred MB), so memory stays bounded however many files are uploaded. Job ids
are random, so one user cannot fetch another's results by guessing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import pandas as pd

from dashboard.analysis import InputError, Limits, ScoredTable, Scorer, score_table

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


@dataclass(frozen=True)
class Job:
    """The state of one CSV analysis, as the page shows it."""

    id: str
    filename: str
    rows: int
    state: str = QUEUED
    scored: int = 0
    to_score: int = 0
    result: ScoredTable | None = None
    error: str | None = None
    created: float = 0.0
    finished: float | None = None


class CsvJobs:
    """Submit uploaded tables for scoring; poll their progress by id."""

    def __init__(self, scorer: Scorer, limits: Limits = Limits(), keep: int = 4, ttl_s: float = 1800.0) -> None:
        self._scorer = scorer
        self._limits = limits
        self._keep = keep
        self._ttl = ttl_s
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-analysis")

    def submit(self, frame: pd.DataFrame, column: str, filename: str) -> str:
        job = Job(id=uuid.uuid4().hex, filename=filename, rows=len(frame), created=time.time())
        with self._lock:
            self._jobs[job.id] = job
            self._evict()
        self._pool.submit(self._run, job.id, frame, column)
        return job.id

    def get(self, job_id: str | None) -> Job | None:
        with self._lock:
            self._evict()
            return self._jobs.get(job_id or "")

    def _update(self, job_id: str, **changes: object) -> None:
        with self._lock:
            if job_id in self._jobs:
                self._jobs[job_id] = replace(self._jobs[job_id], **changes)

    def _run(self, job_id: str, frame: pd.DataFrame, column: str) -> None:
        self._update(job_id, state=RUNNING)
        try:
            result = score_table(
                self._scorer,
                frame,
                column,
                self._limits,
                progress=lambda done, total: self._update(job_id, scored=done, to_score=total),
            )
        except InputError as exc:
            self._update(job_id, state=FAILED, error=str(exc), finished=time.time())
        except Exception:  # noqa: BLE001 - the user gets a plain message, the log gets the traceback
            log.exception("CSV analysis failed", extra={"job": job_id})
            self._update(job_id, state=FAILED, error="The analysis failed unexpectedly; the server log has the details.", finished=time.time())
        else:
            self._update(job_id, state=DONE, result=result, finished=time.time())

    def _evict(self) -> None:
        """Forget finished jobs older than ``ttl_s``, and the oldest beyond ``keep``."""
        now = time.time()
        finished = sorted((j for j in self._jobs.values() if j.state in (DONE, FAILED)), key=lambda j: j.created)
        for index, job in enumerate(finished):
            if index < len(finished) - self._keep or now - (job.finished or now) > self._ttl:
                del self._jobs[job.id]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
