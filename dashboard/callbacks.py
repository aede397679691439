"""Wiring of the page: each callback reads its inputs, calls a pure function, returns its parts.

The pure functions live in live_view, analysis, analysis_view and model_page,
so everything here is thin and the numbers are tested without a browser.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from dash import ClientsideFunction, Dash, Input, Output, State, html, no_update

from dashboard import analysis_view, figures, layout, live_view, models_view, uploads
from dashboard.aggregates import LiveStats
from dashboard.analysis import InputError, Limits, analyse_text
from dashboard.jobs import CsvJobs, job_id_from_query, results_url
from model.predictor import Judge

log = logging.getLogger(__name__)

_UNEXPECTED = "Something went wrong; the server log has the details."
LIVE_CHARTS = ("live-bar", "live-pie", "live-series", "live-confusion")
CSV_CHARTS = ("csv-bar", "csv-pie")


@dataclass(frozen=True)
class Context:
    """What the callbacks work with; built once by dashboard.app."""

    stats: LiveStats
    topic: str
    start: str
    scorer: Judge | None
    jobs: CsvJobs | None
    limits: Limits

    @property
    def references(self) -> dict[str, Any]:
        """The training reference of the model this dashboard loaded, by its version (the Models tab's baseline)."""
        reference = getattr(self.scorer, "metadata", {}).get("reference") if self.scorer is not None else None
        return {self.scorer.version: reference} if self.scorer is not None and reference else {}


def kpi_children(kpis: list[live_view.Kpi]) -> list[html.Div]:
    return [
        html.Div(
            [
                html.Div(k.title, className="kpi-title"),
                html.Div(k.value, className="kpi-value", id=f"kpi-{k.title.lower().split()[0]}"),
                html.Div(k.detail, className="kpi-detail"),
            ],
            className=f"kpi {k.tone}".strip(),
        )
        for k in kpis
    ]


def header_parts(banner: live_view.Banner | None, rate: float) -> tuple[Any, str, str]:
    """The banner element and the header's short state (the banner's, else the live rate)."""
    if banner is None:
        return None, f"live · {rate:,.1f}/s", "pill ok"
    return (
        html.Div(banner.text, className=f"banner {banner.kind}", id="banner-text"),
        banner.pill,
        f"pill {banner.kind}",
    )


def chart_labels(graph_figures: dict[str, Any]) -> list[str]:
    """Each chart's text alternative (its aria-label), for the figures this refresh sends."""
    return [figures.describe(figure, layout.CHART_TITLES[graph_id]) for graph_id, figure in graph_figures.items()]


def register(app: Dash, ctx: Context) -> None:
    """Attach every callback of the page to ``app``: the tab bar's, then each tab's (the Model tab has none: its
    page is rendered once, when the app is built)."""
    register_tab_bar(app)
    register_live(app, ctx)
    register_analyse(app, ctx)
    register_models(app, ctx)


def register_tab_bar(app: Dash) -> None:
    """Choosing a tab runs in the browser, so a tab opens at once however busy the server is."""
    app.clientside_callback(
        ClientsideFunction(namespace="tabs", function_name="select"),
        Output("tabs", "data"),
        *[Output(f"tab-{value}", "aria-selected") for value in layout.TABS],
        *[Output(f"tab-{value}", "className") for value in layout.TABS],
        *[Output(f"panel-{value}", "hidden") for value in layout.TABS],
        *[Input(f"tab-{value}", "n_clicks") for value in layout.TABS],
        Input("tab-request", "data"),
        prevent_initial_call=True,
    )


def register_live(app: Dash, ctx: Context) -> None:
    """The window picker (in the browser) and the refresh of the header and the Live tab's charts."""
    app.clientside_callback(
        ClientsideFunction(namespace="window", function_name="select"),
        Output("live-window", "data"),
        *[Output(layout.window_id(value), "aria-pressed") for value in live_view.WINDOWS],
        *[Output(layout.window_id(value), "className") for value in live_view.WINDOWS],
        *[Input(layout.window_id(value), "n_clicks") for value in live_view.WINDOWS],
        prevent_initial_call=True,
    )

    @app.callback(
        Output("live-banner", "children"),
        Output("status-pill", "children"),
        Output("status-pill", "className"),
        Output("live-kpis", "children"),
        Output("live-bar", "figure"),
        Output("live-pie", "figure"),
        Output("live-series", "figure"),
        Output("live-latest", "data"),
        Output("live-accuracy", "children"),
        Output("live-confusion", "figure"),
        *[Output(layout.alt_id(graph_id), "aria-label") for graph_id in LIVE_CHARTS],
        Input("live-tick", "n_intervals"),
        Input("live-window", "data"),
        Input("tabs", "data"),
    )
    def refresh_live(_: int | None, window: str | None, tab: str | None) -> tuple[Any, ...]:
        snap = ctx.stats.snapshot()
        header = header_parts(live_view.banner(snap, ctx.topic, ctx.start), live_view.throughput(snap))
        if tab != "live":  # the header stays live on every tab; the charts only where they are seen
            return (*header, *[no_update] * (7 + len(LIVE_CHARTS)))
        view = live_view.render(snap, window)
        return (
            *header,
            kpi_children(view.kpis),
            view.bar,
            view.pie,
            view.series,
            view.latest,
            view.accuracy,
            view.confusion,
            *chart_labels(dict(zip(LIVE_CHARTS, (view.bar, view.pie, view.series, view.confusion), strict=True))),
        )


def register_models(app: Dash, ctx: Context) -> None:
    """The served model beside its shadow, refreshed while the Models tab is open."""

    @app.callback(
        Output("models-summary", "children"),
        Output("models-accuracy", "data"),
        Output("models-drift", "data"),
        Output("models-agreement", "figure"),
        Output(layout.alt_id("models-agreement"), "aria-label"),
        Output("models-disagreements", "data"),
        Input("live-tick", "n_intervals"),
        Input("tabs", "data"),
    )
    def refresh_models(_: int | None, tab: str | None) -> tuple[Any, ...]:
        if tab != "models":
            return (no_update,) * 6
        view = models_view.render(ctx.stats.snapshot().models, ctx.references)
        label = figures.describe(view.agreement, layout.CHART_TITLES["models-agreement"])
        return view.summary, view.accuracy, view.drift, view.agreement, label, view.disagreements


def register_analyse(app: Dash, ctx: Context) -> None:
    """The Analyse tab's two cards: one review, and a CSV file from upload to download."""
    _register_one_review(app, ctx)
    _register_csv_upload(app, ctx)
    _register_csv_results(app, ctx)


def _register_one_review(app: Dash, ctx: Context) -> None:
    @app.callback(
        Output("review-result", "children"),
        Input("review-button", "n_clicks"),
        State("review-text", "value"),
        prevent_initial_call=True,
    )
    def analyse_one(_: int, text: str | None) -> html.Div:
        if ctx.scorer is None:
            return analysis_view.single_result(None, "No model is loaded; start the dashboard with --model-dir.")
        try:
            return analysis_view.single_result(analyse_text(ctx.scorer, text, ctx.limits), text=text or "")
        except InputError as exc:
            return analysis_view.single_result(None, str(exc))
        except Exception:  # users see a plain message, the log the traceback
            log.exception("single review analysis failed")
            return analysis_view.single_result(None, _UNEXPECTED)


def _register_csv_upload(app: Dash, ctx: Context) -> None:
    """The file goes up from the browser (assets/upload.js) to uploads.receive; the server's reply starts a job,
    whose id the page's address keeps so that a reload finds it again."""
    app.clientside_callback(
        ClientsideFunction(namespace="upload", function_name="explainToggle"),
        Output("csv-explain", "aria-pressed"),
        Output("csv-explain", "className"),
        Input("csv-explain", "n_clicks"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace="upload", function_name="send"),
        Output("csv-reply", "data"),
        Output("csv-column", "options"),
        Output("csv-column", "value"),
        Input("csv-upload", "contents"),
        Input("csv-column", "value"),
        State("csv-upload", "filename"),
        State("csv-max-bytes", "data"),
        State("csv-column-choice", "data"),
        State("csv-explain", "n_clicks"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("csv-job", "data"),
        Output("csv-column-choice", "data"),
        Output("csv-message", "children"),
        Output("csv-poll", "disabled", allow_duplicate=True),
        Output("url", "search"),
        Input("csv-reply", "data"),
        prevent_initial_call=True,
    )
    def show_upload(reply: dict | None) -> tuple[Any, ...]:
        """The server's answer to an upload (uploads.receive), or the browser's refusal of a file over the limit."""
        if not reply:
            return (no_update,) * 5
        remembered = reply.get("picked") or no_update  # the user's own pick, offered to later files without `text`
        if "too_large" in reply:
            error: str | None = uploads.too_large(
                str(reply.get("filename") or "the file"), float(reply["too_large"]), ctx.limits
            )
        else:
            error = reply.get("error")
        if error or not reply.get("job"):
            return None, remembered, html.Div(error or _UNEXPECTED, className="message error", id="csv-error"), True, ""
        return reply["job"], remembered, None, False, f"?job={reply['job']}"

    @app.callback(
        Output("csv-job", "data", allow_duplicate=True),
        Output("tab-request", "data"),
        Input("url", "search"),
        State("csv-job", "data"),
        prevent_initial_call="initial_duplicate",
    )
    def restore_job(search: str | None, current: str | None) -> tuple[Any, Any]:
        """A page opened (or reloaded) with ?job=<id> picks that job up again on the Analyse tab."""
        job_id = job_id_from_query(search)
        if job_id is None or job_id == current:
            return no_update, no_update
        return job_id, "analyse"


def _register_csv_results(app: Dash, ctx: Context) -> None:
    """A job's progress, charts and preview, polled while it runs; then the labelled CSV's download."""

    @app.callback(
        Output("csv-status", "children"),
        Output("csv-status", "className"),
        Output("csv-status", "aria-busy"),
        Output("csv-progress", "style"),
        Output("csv-progress-bar", "aria-valuenow"),
        Output("csv-progress-box", "style"),
        Output("csv-results", "style"),
        Output("csv-bar", "figure"),
        Output("csv-pie", "figure"),
        Output("csv-preview", "columns"),
        Output("csv-preview", "data"),
        Output("csv-preview-note", "children"),
        Output("csv-download-button", "disabled"),
        Output("csv-poll", "disabled"),
        *[Output(layout.alt_id(graph_id), "aria-label") for graph_id in CSV_CHARTS],
        Input("csv-poll", "n_intervals"),
        Input("csv-job", "data"),
    )
    def poll_csv(_: int | None, job_id: str | None) -> tuple[Any, ...]:
        job = ctx.jobs.get(job_id) if ctx.jobs else None
        view = analysis_view.job_view(job, job_id)
        return (
            view.status,
            f"message {view.status_kind}",
            "true" if view.show_progress else "false",
            {"width": f"{view.progress:.1%}"},
            str(round(view.progress * 100)),
            {"display": "block" if view.show_progress else "none"},
            {"display": "block" if view.can_download else "none"},
            view.bar,
            view.pie,
            view.preview_columns,
            view.preview_rows,
            view.preview_note,
            not view.can_download,
            view.finished,
            *chart_labels(dict(zip(CSV_CHARTS, (view.bar, view.pie), strict=True))),
        )

    @app.callback(
        Output("csv-download-url", "data"),
        Output("csv-status", "children", allow_duplicate=True),
        Output("csv-status", "className", allow_duplicate=True),
        Output("csv-download-button", "disabled", allow_duplicate=True),
        Input("csv-download-button", "n_clicks"),
        State("csv-job", "data"),
        prevent_initial_call=True,
    )
    def download_csv(clicks: int, job_id: str | None) -> tuple[Any, ...]:
        """The labelled CSV's address (the browser fetches it from disk), or why there is none any more."""
        job = ctx.jobs.get(job_id) if ctx.jobs else None
        if job is None or job.result is None:
            return no_update, analysis_view.EXPIRED, "message error", True
        return f"{results_url(job.id)}?click={clicks}", no_update, no_update, no_update

    app.clientside_callback(
        ClientsideFunction(namespace="upload", function_name="download"),
        Output("csv-download-link", "href"),
        Input("csv-download-url", "data"),
        prevent_initial_call=True,
    )
