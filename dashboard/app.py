"""Assemble the Dash app: layout, callbacks, /metrics, /healthz and the web hardening.

``create_app`` takes everything it shows as arguments (the live aggregates,
the model, the limits), so tests build apps around their own topic and
reader, and ``serve`` runs one with a production WSGI server (waitress),
never Flask's debug server.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dash import Dash
from flask import Response

from dashboard import callbacks, layout, metrics, model_page, security, uploads
from dashboard.aggregates import LiveStats
from dashboard.analysis import Limits
from dashboard.jobs import CsvJobs
from model.predictor import Judge

ASSETS = Path(__file__).resolve().parent / "assets"


def create_app(
    stats: LiveStats,
    *,
    topic: str,
    start: str,
    scorer: Judge | None,
    model_dir: str | Path | None,
    limits: Limits = Limits(),
    job_options: Mapping[str, Any] | None = None,
) -> Dash:
    """A ready Dash app; the caller starts the reader that fills ``stats``.

    ``job_options``: keyword arguments of ``CsvJobs`` (time and space its results keep, its line's length).
    """
    app = Dash(
        __name__,
        title="Review sentiment",
        assets_folder=str(ASSETS),
        serve_locally=True,
        update_title=None,  # type: ignore[arg-type]  # None keeps the title as it is (Dash's docs); its annotation says str
        suppress_callback_exceptions=False,
    )
    app.index_string = app.index_string.replace(
        "<html>", '<html lang="en">', 1
    )  # screen readers pick the voice from it
    report = model_page.load_report(model_dir) if model_dir is not None else model_page.ModelReport(folder="(none)")
    app.layout = layout.build(
        topic=topic,
        start=start,
        model_version=scorer.version if scorer is not None else None,
        limits=limits,
        model_content=model_page.render(report),
    )
    jobs = CsvJobs(scorer, limits, **(job_options or {})) if scorer is not None else None
    callbacks.register(
        app, callbacks.Context(stats=stats, topic=topic, start=start, scorer=scorer, jobs=jobs, limits=limits)
    )
    metrics.install(app.server, stats)
    security.install(app.server, limits.max_bytes, app.csp_hashes())
    uploads.install(app.server, jobs, limits)

    @app.server.route("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")

    return app


def serve(app: Dash, host: str, port: int, limits: Limits = Limits(), threads: int = 8) -> None:
    """Serve until interrupted with waitress, a production WSGI server that refuses oversized bodies early."""
    import waitress

    waitress.serve(
        app.server,
        host=host,
        port=port,
        threads=threads,
        ident="sentiment-dashboard",
        max_request_body_size=security.max_request_bytes(limits.max_bytes),
    )
