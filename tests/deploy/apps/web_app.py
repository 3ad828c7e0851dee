"""A small WSGI web app that calls the gateway: what a team runs under gunicorn with several worker processes.

Run by the Collector end-to-end test as ``opentelemetry-instrument gunicorn --workers 2 web_app:app``, with no
OpenTelemetry code. ``GET /round?n=N`` makes one round of varied gateway calls (traffic.Traffic) and answers with the
worker's pid and the tokens the gateway reported in that round; ``GET /health`` answers ok.

Environment: GATEWAY_URL (required), APP_TAG (an x-app-tag header on every gateway request)."""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from traffic import Traffic

_traffic: Traffic | None = None


def _clients() -> Traffic:
    global _traffic  # one set of clients per worker process, made after the fork
    if _traffic is None:
        _traffic = Traffic(os.environ["GATEWAY_URL"], os.environ.get("APP_TAG", ""))
    return _traffic


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path == "/health":
        body = b"ok"
    elif path == "/round":
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        tokens = _clients().one_round(int(query.get("n", ["0"])[0]))
        body = json.dumps({"pid": os.getpid(), "tokens": dict(tokens)}).encode()
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
