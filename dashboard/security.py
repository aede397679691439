"""Web hardening of the dashboard's Flask server.

- Request bodies over the limit are refused with 413 from the Content-Length
  header (Werkzeug's MAX_CONTENT_LENGTH), before the body is read: an upload
  is posted as plain bytes (dashboard/uploads.py), so the limit is the file
  limit plus room for the largest callback JSON.
- Security headers on every response: a Content-Security-Policy allowing
  only this server's scripts (plus the hashes of Dash's own inline scripts),
  no framing, no sniffing, no referrer.
- Errors never show a traceback: debug mode is never on, and any unexpected
  exception becomes a plain 500 with the details only in the server log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

JSON_ROOM_BYTES = 1024 * 1024  # callbacks' own JSON (a review of up to 100 kB, the picker's columns)


def max_request_bytes(max_upload_bytes: int) -> int:
    """The largest request body: an upload of ``max_upload_bytes``, with room to spare."""
    return max_upload_bytes + JSON_ROOM_BYTES


def content_security_policy(inline_script_hashes: Sequence[str]) -> str:
    script_src = " ".join(["'self'", *inline_script_hashes])  # Dash's hashes come quoted
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {script_src}",
            "style-src 'self' 'unsafe-inline'",  # Plotly and Dash components set inline styles
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def install(server: Flask, max_upload_bytes: int, inline_script_hashes: Sequence[str]) -> None:
    """Apply the request limit, the headers and the error handling to ``server``."""
    server.config["MAX_CONTENT_LENGTH"] = max_request_bytes(max_upload_bytes)
    server.debug = False
    headers = {
        "Content-Security-Policy": content_security_policy(inline_script_hashes),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }

    @server.after_request
    def add_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    @server.errorhandler(Exception)
    def plain_error(exc: Exception) -> Response | HTTPException:
        if isinstance(exc, HTTPException):
            return exc
        log.exception("request failed")
        return Response("Internal error; the server log has the details.\n", status=500, mimetype="text/plain")
