"""The CSV upload and the results download as plain HTTP, beside Dash's callbacks.

The page posts the file's bytes to ``/csv-upload`` (assets/upload.js) instead of
sending them as base64 inside a callback's JSON: Dash keeps the request body
and its parsed JSON for the whole callback, two copies of a third more than the
file, before a byte is decoded. Here the body is read once, as bytes. The
labelled CSV comes back from ``/csv-results/<job>``, streamed from disk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request, send_file

from dashboard.analysis import InputError, Limits, UploadRefused, human_size, open_upload
from dashboard.analysis_view import EXPIRED
from dashboard.jobs import RESULTS_ROUTE, CsvJobs, download_name

UPLOAD_ROUTE = "/csv-upload"
NO_MODEL = "No model is loaded; start the dashboard with --model-dir."


def too_large(filename: str, size: float, limits: Limits) -> str:
    return f"{filename} is {human_size(size)}; the limit is {human_size(limits.max_bytes)}."


def receive(
    jobs: CsvJobs | None,
    limits: Limits,
    filename: str,
    column: str | None,
    last_choice: str | None,
    size: int | None,
    read: Callable[[], bytes],
    explain: bool = False,
) -> dict[str, Any]:
    """Open an upload and queue it: ``{"job", "columns", "column"}``, or ``{"error", "columns"}`` for the page.

    ``read()`` returns the body; it is called only once the size and a free slot are known,
    so a refused upload is never read into memory.
    """
    if size is not None and size > limits.max_bytes:
        return {"error": too_large(filename, size, limits), "columns": None}
    if jobs is None:
        return {"error": NO_MODEL, "columns": None}
    try:
        with jobs.admit():
            upload = open_upload(read(), filename, column, limits, last_choice)
            job_id = jobs.submit(upload.frame, upload.column, upload.filename, upload.encoding, upload.size, explain)
    except UploadRefused as exc:
        return {"error": str(exc), "columns": exc.columns}
    except InputError as exc:  # busy: the line, the upload slots or the results' space is full
        return {"error": str(exc), "columns": None}
    return {"job": job_id, "columns": list(upload.frame.columns), "column": upload.column}


def install(server: Flask, jobs: CsvJobs | None, limits: Limits) -> None:
    """Add the upload and download routes to ``server``."""

    @server.post(UPLOAD_ROUTE)
    def csv_upload() -> Response:
        args = request.args
        reply = receive(
            jobs,
            limits,
            args.get("name") or "the file",
            args.get("column") or None,
            args.get("last") or None,
            request.content_length,
            lambda: request.get_data(cache=False),
            explain=args.get("explain") == "1",
        )
        return jsonify(reply)

    @server.get(f"{RESULTS_ROUTE}/<job_id>")
    def csv_results(job_id: str) -> Response:
        """A finished job's labelled CSV, streamed from disk."""
        job = jobs.get(job_id) if jobs else None
        if job is None or job.result is None:
            return Response(EXPIRED + "\n", status=404, mimetype="text/plain")
        return send_file(
            job.result.path,
            mimetype="text/csv",
            as_attachment=True,
            download_name=download_name(job.filename),
            max_age=0,
        )
