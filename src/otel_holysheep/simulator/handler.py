"""HTTP request handling: routing, auth, directives, failures and timing, rate limits, error responses."""

from __future__ import annotations

import contextlib
import json
import math
import socket
import sys
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from . import wire
from .endpoints import write_response
from .records import RecordedRequest
from .scenario import SCENARIO_HEADER, Scenario
from .transport import compress_body, cut_connection

if TYPE_CHECKING:
    from .server import GatewaySimulator, _Server

__all__ = ["Plan", "SimulatorHandler"]

_POST_ROUTES = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
    "/v1/responses": "responses",
}
_STREAMABLE = {"chat", "completions", "responses"}
_DEFAULT_CHUNKS = 8


@dataclass
class Plan:
    """Everything decided about one request before its body is written."""

    endpoint: str
    body: dict[str, Any]
    scenario: Scenario
    model: Any
    stream: bool = False
    n_words: int = 0
    finish: str = "stop"
    tokens: wire.Tokens = field(default_factory=lambda: wire.Tokens(0, 0))
    ttft: float = 0.0
    chunk_delay: float = 0.0
    cut: bool = False
    cut_after: int | None = None
    stall_after: int | None = None
    encoding: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _route(method: str, path: str) -> str | None:
    if method == "POST":
        return _POST_ROUTES.get(path)
    if method == "GET" and path == "/v1/models":
        return "models"
    if method == "GET" and path.startswith("/v1/models/") and len(path) > len("/v1/models/"):
        return "model"
    return None


def _cost(raw: str | None) -> float | None:
    """The ``gateway_cost`` directive: a finite number, else not sent."""
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _prompt_tokens(endpoint: str, body: dict[str, Any]) -> int:
    if endpoint == "chat":
        return wire.chat_prompt_tokens(body)
    if endpoint == "completions":
        return wire.text_prompt_tokens(body.get("prompt", ""))
    if endpoint == "embeddings":
        return wire.text_prompt_tokens(body.get("input", ""))
    if endpoint == "responses":
        return wire.responses_input_tokens(body)
    return 0


class SimulatorHandler(BaseHTTPRequestHandler):
    """One connection: HTTP/1.1 keep-alive, every response framed by Content-Length or chunked encoding."""

    protocol_version = "HTTP/1.1"
    server_version = "HolySheepGatewaySimulator/1.0"
    sys_version = ""
    timeout = 300
    server: _Server

    @property
    def sim(self) -> GatewaySimulator:
        return self.server.sim

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        if self.sim.verbose:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    # -- request flow ----------------------------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        self._started = time.monotonic()
        self._encoding: str | None = None
        try:
            self._dispatch(method)
        except OSError:  # the client went away or stop() closed the connection
            self.close_connection = True

    def _dispatch(self, method: str) -> None:
        try:
            raw = self._read_body()
        except ValueError:
            self.close_connection = True
            self._error(400, "Could not read the request body.")
            return
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        headers = {k.lower(): v for k, v in self.headers.items()}
        data: Any = None
        if raw:
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
        self.sim.record(RecordedRequest(method, path, headers, data))
        sc = Scenario.parse(headers.get(SCENARIO_HEADER))
        self._encoding = "gzip" if sc.gzip else "deflate" if sc.deflate else None
        endpoint = _route(method, path)
        body: dict[str, Any] = data if isinstance(data, dict) else {}
        model = body.get("model") if isinstance(body.get("model"), str) else None
        plan = Plan(endpoint or "unknown", body, sc, sc.response_model or model, encoding=self._encoding)
        self._plan_tokens(plan)
        key = self._api_key()

        rate: dict[str, str] = {}
        allowed = True
        if not sc.no_ratelimit:
            rate, allowed = self.sim.limiter.consume(key or "anonymous", plan.tokens.prompt + plan.tokens.completion)
        plan.headers = rate
        if endpoint is None:
            self._error(404, f"Invalid URL ({method} {path})", rate)
            return
        if not key or key == "sk-invalid":
            self._error(401, None, rate)
            return
        if method == "POST" and not isinstance(data, dict):
            self._error(400, "We could not parse the JSON body of your request.", rate)
            return
        if endpoint in _POST_ROUTES.values() and model is None:
            self._error(400, "You must provide a model parameter.", rate)
            return

        mp, latency, outcome = self.sim.draw(model)
        if endpoint in ("models", "model"):
            latency, outcome = 0.0, "ok"
        directed = sc.status is not None or sc.fail_first is not None or sc.cut_after is not None
        if directed or sc.stall_after is not None or sc.stall_headers or sc.malformed or sc.wrong_shape:
            outcome = "ok"
        status: int | None = None
        if sc.status is not None and sc.status >= 400:
            status = sc.status
        elif sc.fail_first is not None and self.sim.count_failure_key(sc.key or "default") <= sc.fail_first:
            status = sc.fail_status or 500
        elif outcome in ("401", "429", "500", "503"):
            status = int(outcome)
        elif not allowed and self.sim.profile.enforce_rate_limits:
            status = 429

        first = latency * mp.ttft_fraction if plan.stream else latency
        header_delay = sc.delay_ms / 1000 if sc.delay_ms is not None else (first / 2 if plan.stream else latency)
        plan.ttft = sc.ttft_ms / 1000 if sc.ttft_ms is not None else (first / 2 if plan.stream else 0.0)
        if sc.chunk_ms is not None:
            plan.chunk_delay = sc.chunk_ms / 1000
        elif plan.stream and plan.n_words:
            plan.chunk_delay = (latency - first) / plan.n_words
        plan.cut_after, plan.stall_after = sc.cut_after, sc.stall_after
        if outcome == "cut_stream":
            if plan.stream:
                plan.cut_after = plan.n_words // 2
            else:
                plan.cut = True

        if sc.stall_headers or outcome == "timeout":
            self.sim.stall(self.connection)
            self._abort()
            return
        if not self.sim.sleep(header_delay):
            self._abort()
            return
        if status is not None:
            if status == 429:
                wait = float(1 if sc.retry_after is None else sc.retry_after)
                if sc.retry_after_ms is not None:
                    wait = sc.retry_after_ms / 1000
                exhausted = self.sim.limiter.exhausted_headers(wait)
                rate = {k: v for k, v in exhausted.items() if k.startswith("retry-after") or not sc.no_ratelimit}
            self._error(status, None, rate)
            return
        write_response(self, plan)

    def _plan_tokens(self, plan: Plan) -> None:
        sc, body = plan.scenario, plan.body
        plan.stream = plan.endpoint in _STREAMABLE and body.get("stream") is True
        prompt = sc.prompt_tokens if sc.prompt_tokens is not None else _prompt_tokens(plan.endpoint, body)
        if plan.endpoint in _STREAMABLE:
            if sc.chunks is not None:
                plan.n_words = sc.chunks
            else:
                n = sc.completion_tokens if sc.completion_tokens is not None else _DEFAULT_CHUNKS
                cap = body.get("max_completion_tokens") or body.get("max_tokens") or body.get("max_output_tokens")
                if isinstance(cap, int) and 0 < cap < n:
                    n, plan.finish = cap, "length"
                plan.n_words = n
        reasoning = sc.reasoning or 0
        if plan.endpoint in _STREAMABLE:
            completion = sc.completion_tokens if sc.completion_tokens is not None else plan.n_words + reasoning
        else:
            completion = 0
        cache_write, cost = sc.cache_write or 0, _cost(sc.gateway_cost)
        plan.tokens = wire.Tokens(prompt, completion, sc.cached or 0, reasoning, cache_write, cost, sc.anthropic_usage)
        if sc.tool_calls and plan.endpoint == "chat":
            plan.finish = "tool_calls"
        if sc.finish is not None:
            plan.finish = sc.finish

    def _api_key(self) -> str:
        auth = self.headers.get("Authorization", "")
        scheme, _, token = auth.strip().partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    # -- writing ---------------------------------------------------------------------------------------------
    def begin(self, status: int, headers: dict[str, str]) -> None:
        """Status line and headers (request id, processing time, rate limits, connection handling)."""
        self.send_response(status)
        self.send_header("x-request-id", wire.new_id("req_", 32))
        self.send_header("openai-version", "2020-10-01")
        self.send_header("openai-processing-ms", str(math.ceil((time.monotonic() - self._started) * 1000)))
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def send_json(self, status: int, payload: Any, headers: dict[str, str], *, cut: bool = False) -> None:
        """A JSON (or raw bytes) body with Content-Length; ``cut`` sends half of it and closes abruptly."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json", **headers}
        if self._encoding:
            data = compress_body(data, self._encoding)
            headers["Content-Encoding"] = self._encoding
        headers["Content-Length"] = str(len(data))
        self.begin(status, headers)
        if cut:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self._abort()
            return
        self.wfile.write(data)
        self.wfile.flush()

    def _error(self, status: int, message: str | None, headers: dict[str, str] | None = None) -> None:
        self.send_json(status, wire.error_body(status, message), dict(headers or {}))

    def _abort(self) -> None:
        self.close_connection = True
        cut_connection(self.connection)
