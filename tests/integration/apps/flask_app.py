"""A Flask app served by werkzeug's threaded server, with no OpenTelemetry code: run under `opentelemetry-instrument`
(the Flask instrumentation sets http.route on the server span) by tests/integration/test_attribution_frameworks.py.

Two routes call the gateway at $GATEWAY_URL: POST /chat/<thread_id> with requests (whose generic OpenTelemetry
instrumentation, loaded too, makes its own CLIENT span current under the server span) and POST /summarize with
httpx. The query string's prompt / completion set the tokens the simulator reports; each answers with the usage.
"""

from __future__ import annotations

import logging
import os

import httpx
import requests
from flask import Flask, request
from werkzeug.serving import make_server

URL = os.environ["GATEWAY_URL"]
MESSAGES = [{"role": "user", "content": "hello"}]
HEADERS = {"Authorization": "Bearer sk-attribution-test"}

app = Flask(__name__)
session = requests.Session()
client = httpx.Client(timeout=30)


def _scenario() -> dict[str, str]:
    prompt, completion = request.args.get("prompt", "10"), request.args.get("completion", "5")
    return {**HEADERS, "x-sim-scenario": f"prompt_tokens={prompt},completion_tokens={completion},no_ratelimit"}


def _usage(body: dict[str, dict[str, int]]) -> dict[str, int]:
    return {"prompt": body["usage"]["prompt_tokens"], "completion": body["usage"]["completion_tokens"]}


@app.get("/health")
def health() -> dict[str, object]:
    # whether the generic requests instrumentation is active: its CLIENT span is then the current span when the
    # gateway call starts, and the route must come from the server span above it
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    return {"status": "ok", "requests_instrumented": RequestsInstrumentor().is_instrumented_by_opentelemetry}


@app.post("/chat/<thread_id>")
def chat(thread_id: str) -> dict[str, int]:
    payload = {"model": "gpt-4.1", "messages": MESSAGES, "user": thread_id}
    response = session.post(f"{URL}/chat/completions", json=payload, headers=_scenario(), timeout=30)
    response.raise_for_status()
    return _usage(response.json())


@app.post("/summarize")
def summarize() -> dict[str, int]:
    payload = {"model": "deepseek-v3.2", "messages": MESSAGES}
    response = client.post(f"{URL}/chat/completions", json=payload, headers=_scenario())
    response.raise_for_status()
    return _usage(response.json())


if __name__ == "__main__":
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    make_server("127.0.0.1", int(os.environ["APP_PORT"]), app, threaded=True).serve_forever()
