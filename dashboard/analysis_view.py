"""What the Analyse tab shows, as pure functions of a result or a job's state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dash import html

from dashboard import figures
from dashboard.analysis import SingleResult
from dashboard.jobs import FAILED, QUEUED, RUNNING, Job

PREVIEW_ROWS = 20
PREVIEW_TEXT_CHARS = 200


def single_result(result: SingleResult | None, error: str | None = None) -> html.Div:
    """The verdict on one review: the label in its colour and p(negative) as a bar."""
    if error:
        return html.Div(error, className="message error", id="review-error")
    if result is None:
        return html.Div()
    share = max(0.0, min(1.0, result.p_negative))
    return html.Div(
        [
            html.Span(result.label, className=f"verdict {result.label}", id="review-label"),
            html.Span(["p(negative) = ", html.B(f"{result.p_negative:.3f}", id="review-p-negative")], className="verdict-p"),
            html.Div(html.Div(className="meter-fill", style={"width": f"{share:.1%}"}), className="meter", title="probability of negative"),
        ],
        className="verdict-row",
    )


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
    can_download: bool
    finished: bool


def job_view(job: Job | None, job_id: str | None = None) -> JobView:
    """The CSV card for a job that is queued, running, done, failed or expired (``job_id`` known, job gone)."""
    empty = figures.empty_figure("upload a CSV to see its sentiment", height=260)
    if job is None:
        status = "These results have expired; upload the file again." if job_id else ""
        return JobView(status, "info", 0.0, False, empty, empty, [], [], False, True)
    if job.state in (QUEUED, RUNNING):
        fraction = job.scored / job.to_score if job.to_score else 0.0
        status = (
            f"Waiting for the previous file to finish… ({job.filename})"
            if job.state == QUEUED
            else f"Scoring {job.filename}: {job.scored:,} of {job.to_score or job.rows:,} rows ({fraction:.0%})"
        )
        return JobView(status, "info", fraction, True, empty, empty, [], [], False, False)
    if job.state == FAILED or job.result is None:
        return JobView(job.error or "The analysis failed.", "error", 0.0, False, empty, empty, [], [], False, True)
    table = job.result
    counts = table.counts()
    marked = counts["not scored"]
    status = f"{job.filename}: {job.rows:,} rows, {counts['positive']:,} positive, {counts['negative']:,} negative"
    if marked:
        status += f", {marked:,} not scored (marked in the {table.status_column!r} column)"
    shown = [table.text_column, table.label_column, table.prob_column, table.status_column]
    preview = table.frame[shown].head(PREVIEW_ROWS).copy()
    preview[table.text_column] = preview[table.text_column].map(_snippet)
    rows = preview.astype(object).where(preview.notna(), "").to_dict("records")
    return JobView(
        status,
        "ok",
        1.0,
        False,
        figures.bar_figure(counts, height=260, revision=job.id),
        figures.pie_figure(counts, height=260, revision=job.id),
        [{"name": c, "id": c} for c in shown],
        rows,
        True,
        True,
    )


def _snippet(text: str) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= PREVIEW_TEXT_CHARS else flat[: PREVIEW_TEXT_CHARS - 1] + "…"
