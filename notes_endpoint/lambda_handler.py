"""AWS Lambda entry point: the same WSGI app behind a function URL or API Gateway.

Settings come from the environment, read once per container:

- ``CHARTSEAL_NOTES_SITE``   the published site, ``https://…`` (required)
- ``CHARTSEAL_NOTES_INBOX``  the private inbox, ``s3://bucket/prefix`` (required)
- ``CHARTSEAL_NOTES_ORIGIN`` the portal's origin for CORS (optional)

Handler: ``notes_endpoint.lambda_handler.handler``. Replay memory lives per container; the
inbox's conditional put and the clinic's note ids cover the rest (docs/FORMAT.md 9).
"""
from __future__ import annotations

import base64
import io
import os
import sys
from typing import Any

from .app import NotesApp, make_app

_APP: NotesApp | None = None


def _app() -> NotesApp:
    global _APP
    if _APP is None:
        site = os.environ.get("CHARTSEAL_NOTES_SITE", "")
        inbox = os.environ.get("CHARTSEAL_NOTES_INBOX", "")
        if not site or not inbox:
            raise RuntimeError("set CHARTSEAL_NOTES_SITE and CHARTSEAL_NOTES_INBOX")
        _APP = make_app(site, inbox, os.environ.get("CHARTSEAL_NOTES_ORIGIN") or None)
    return _APP


def environ_from_event(event: dict[str, Any]) -> dict[str, Any]:
    """A WSGI environ from a payload-2.0 (function URL, HTTP API) or 1.0 (REST API) event."""
    http = event.get("requestContext", {}).get("http", {})
    method = http.get("method") or event.get("httpMethod") or "GET"
    path = event.get("rawPath") or event.get("path") or "/"
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method.upper(), "SCRIPT_NAME": "", "PATH_INFO": path,
        "QUERY_STRING": event.get("rawQueryString", ""), "SERVER_NAME": headers.get("host", "lambda"),
        "SERVER_PORT": "443", "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_LENGTH": str(len(raw)),
        "CONTENT_TYPE": headers.get("content-type", ""), "wsgi.input": io.BytesIO(raw),
        "wsgi.errors": sys.stderr, "wsgi.url_scheme": "https", "wsgi.version": (1, 0),
        "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    for name, value in headers.items():
        if name not in ("content-type", "content-length"):
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def handler(event: dict[str, Any], context: Any = None, app: Any = None) -> dict[str, Any]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(headers)

    chunks = (app or _app())(environ_from_event(event), start_response)
    body = b"".join(chunks)
    return {"statusCode": answer["status"], "headers": answer["headers"],
            "body": body.decode("utf-8"), "isBase64Encoded": False}
