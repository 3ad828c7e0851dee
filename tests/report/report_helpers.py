"""Test helpers for the report: loopback HTTP servers (127.0.0.1, port 0) serving /metrics or a fake Prometheus API."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).parent
FIXTURE_TEXT = (HERE / "fixtures" / "metrics.txt").read_text()
EXPOSITION_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Answer:
    status: int = 200
    content_type: str = "text/plain"
    body: str = ""
    delay: float = 0.0


@dataclass
class Seen:
    """What the server was asked: (path, query parameters) per request."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


Handler = Callable[[str, dict[str, str]], Answer]


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:  # clients that time out hang up early
        pass


def start_server(handler: Handler, seen: Seen) -> tuple[LoopbackServer, str]:
    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(parts.query))
            seen.requests.append((parts.path, params))
            answer = handler(parts.path, params)
            if answer.delay:
                time.sleep(answer.delay)
            body = answer.body.encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = LoopbackServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def metrics_page(text: str = FIXTURE_TEXT) -> Handler:
    return lambda path, params: Answer(200, EXPOSITION_TYPE, text)


def fake_prometheus(canned: dict[str, list[dict[str, object]]]) -> Handler:
    """Answers /api/v1/query with the canned vector for the exact PromQL asked, a Prometheus-style 400 otherwise."""

    def handle(path: str, params: dict[str, str]) -> Answer:
        if path != "/api/v1/query":
            return Answer(404, "text/plain; charset=utf-8", "404 page not found\n")
        promql = params.get("query", "")
        if promql not in canned:
            error = {"status": "error", "errorType": "bad_data", "error": f"unexpected query: {promql}"}
            return Answer(400, "application/json", json.dumps(error))
        at = float(params["time"])
        result = [{"metric": sample["metric"], "value": [at, str(sample["value"])]} for sample in canned[promql]]
        body = {"status": "success", "data": {"resultType": "vector", "result": result}}
        return Answer(200, "application/json", json.dumps(body))

    return handle
