"""What the Analyse tab shows, as pure functions of a result or a job's state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from dash import html

from dashboard import figures
from dashboard.analysis import SingleResult, plural
from dashboard.explanation_view import explanation_panel
from dashboard.jobs import FAILED, QUEUED, RUNNING, Job

PREVIEW_TEXT_CHARS = 200
EXPIRED = "These results have expired; upload the file again."


def single_result(result: SingleResult | None, error: str | None = None, text: str = "") -> html.Div:
    """The verdict on one review: the label in its colour, p(negative) as a bar, and the words that carried it."""
    if error:
        return html.Div(error, className="message error", id="review-error")
    if result is None:
        return html.Div()
    share = max(0.0, min(1.0, result.p_negative))
    verdict = html.Div(
        [
            html.Span(result.label, className=f"verdict {result.label}", id="review-label"),
            html.Span(
                ["p(negative) = ", html.B(f"{result.p_negative:.3f}", id="review-p-negative")], className="verdict-p"
            ),
            html.Div(
                html.Div(className="meter-fill", style={"width": f"{share:.1%}"}),
                className="meter",
                title="probability of negative",
            ),
        ],
        className="verdict-row",
    )
    if result.explanation is None:
        return verdict
    return html.Div([verdict, explanation_panel(text, result.explanation)])


@dataclass(frozen=True)
class JobView:
    status: str
    status_kind: str  # "info" | "error" | "ok"
    progress: float  # 0..1
    show_progress: bool
    bar: figures.Figure
    pie: figures.Figure
    preview_columns: list[dict[str, str]]
    preview_rows: list[dict[str, Any]]
    preview_note: str
    can_download: bool
    finished: bool


def job_view(job: Job | None, job_id: str | None = None) -> JobView:
    """The CSV card for a job that is queued, running, done, failed or expired (``job_id`` known, job gone)."""
    empty = figures.empty_figure("upload a CSV to see its sentiment", height=260)
    if job is None:
        return JobView(EXPIRED if job_id else "", "info", 0.0, False, empty, empty, [], [], "", False, True)
    if job.state == QUEUED:
        return JobView(queued_status(job), "info", 0.0, True, empty, empty, [], [], "", False, False)
    if job.state == RUNNING:
        fraction = job.scored / job.to_score if job.to_score else 0.0
        status = f"Scoring {job.filename}: {job.scored:,} of {plural(job.to_score or job.rows, 'row')} ({fraction:.0%})"
        return JobView(status, "info", fraction, True, empty, empty, [], [], "", False, False)
    if job.state == FAILED or job.result is None:
        return JobView(job.error or "The analysis failed.", "error", 0.0, False, empty, empty, [], [], "", False, True)
    result = job.result
    counts = result.counts
    marked = counts["not scored"]
    read_as = "" if job.encoding.startswith("utf-8") else f" (read as {job.encoding}, not UTF-8)"
    status = (
        f"{job.filename}{read_as}: {plural(job.rows, 'row')}, "
        f"{counts['positive']:,} positive, {counts['negative']:,} negative"
    )
    if marked:
        status += f", {marked:,} not scored (marked in the {result.status_column!r} column)"
    preview = result.preview.copy()
    preview[result.text_column] = preview[result.text_column].map(_snippet)
    rows = cast(
        list[dict[str, Any]], preview.astype(object).where(preview.notna(), "").to_dict("records")
    )  # CSV header names
    return JobView(
        status,
        "ok",
        1.0,
        False,
        figures.bar_figure(counts, height=260, revision=job.id),
        figures.pie_figure(counts, height=260, revision=job.id),
        [{"name": c, "id": c} for c in preview.columns],
        rows,
        preview_note(len(rows), job.rows),
        True,
        True,
    )


def queued_status(job: Job) -> str:
    """A waiting file's place in line and estimate, naming only the user's own file."""
    status = f"{job.filename} is waiting: {plural(job.ahead, 'file')} ahead of it"
    if job.wait_s is None:
        return status + "; an estimate follows once a file has been scored."
    return status + f"; it should start in about {_duration(job.wait_s)}."


def preview_note(shown: int, rows: int) -> str:
    """What the preview table holds of the file."""
    if shown >= rows:
        return f"All {plural(rows, 'row')}." if rows != 1 else "The only row."
    return f"First {shown:,} of {plural(rows, 'row')}; the download has them all."


def _duration(seconds: float) -> str:
    if seconds < 60:
        return plural(max(5, round(seconds / 5) * 5), "second")
    return plural(round(seconds / 60), "minute")


def _snippet(text: str) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= PREVIEW_TEXT_CHARS else flat[: PREVIEW_TEXT_CHARS - 1] + "…"
