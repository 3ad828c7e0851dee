"""Internal failure injection: each telemetry step raises in turn; the application must not notice.

For every step the application's bytes and parsed result are compared with an uninstrumented run, and a DEBUG log
line on the ``otel_holysheep`` logger must record the failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx2
import pytest
import requests
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_holysheep import (
    _aiohttp,
    _attributes,
    _call,
    _hook,
    _instruments,
    _parsing,
    _pricing,
    _recorder,
    _requests,
    _tally,
)
from otel_holysheep.simulator import GatewaySimulator
from tests.support import instrumented, providers

AUTH = {"Authorization": "Bearer sk-test"}


class Injected(RuntimeError):
    pass


def boom(*args: Any, **kwargs: Any) -> Any:
    raise Injected("injected telemetry failure")


JSON_SCENARIO = {"x-sim-scenario": "prompt_tokens=3,completion_tokens=2"}
STREAM_BODY = {"model": "gpt-4.1", "messages": [], "stream": True, "stream_options": {"include_usage": True}}


def workload(base_url: str) -> list[Any]:
    """JSON and streamed calls, with and without usage, and an HTTP error: what the application observes."""
    seen: list[Any] = []
    with httpx2.Client(base_url=base_url, headers=AUTH) as client:
        seen.append(
            client.post("/chat/completions", json={"model": "gpt-4.1", "messages": []}, headers=JSON_SCENARIO).json()[
                "usage"
            ]
        )
        with client.stream(
            "POST", "/chat/completions", json=STREAM_BODY, headers={"x-sim-scenario": "chunks=4"}
        ) as response:
            seen.append([line for line in response.iter_lines() if line.startswith("data")][-3:])
        failed = client.post("/chat/completions", json={"model": "gpt-4.1"}, headers={"x-sim-scenario": "status=500"})
        seen.append((failed.status_code, failed.json()["error"]["type"]))
    return [_strip_ids(item) for item in seen]


def requests_workload(base_url: str) -> list[Any]:
    """The same three calls through requests, and a stream the application closes after its first line (its
    connection release is what finishes that call)."""
    seen: list[Any] = []
    url = f"{base_url}/chat/completions"
    with requests.Session() as session:
        session.headers.update(AUTH)
        seen.append(session.post(url, json={"model": "gpt-4.1", "messages": []}, headers=JSON_SCENARIO).json()["usage"])
        with session.post(url, json=STREAM_BODY, headers={"x-sim-scenario": "chunks=4"}, stream=True) as response:
            lines = [line.decode() for line in response.iter_lines()]
            seen.append([line for line in lines if line.startswith("data")][-3:])
        with session.post(url, json=STREAM_BODY, headers={"x-sim-scenario": "chunks=4"}, stream=True) as response:
            seen.append([next(response.iter_lines()).decode()])
        failed = session.post(url, json={"model": "gpt-4.1"}, headers={"x-sim-scenario": "status=500"})
        seen.append((failed.status_code, failed.json()["error"]["type"]))
    return [_strip_ids(item) for item in seen]


def aiohttp_workload(base_url: str) -> list[Any]:
    """The same three calls through aiohttp."""

    async def run() -> list[Any]:
        seen: list[Any] = []
        url = f"{base_url}/chat/completions"
        async with aiohttp.ClientSession(headers=AUTH) as session:
            async with session.post(url, json={"model": "gpt-4.1", "messages": []}, headers=JSON_SCENARIO) as r:
                seen.append((await r.json())["usage"])
            async with session.post(url, json=STREAM_BODY, headers={"x-sim-scenario": "chunks=4"}) as r:
                lines = [line.decode().rstrip("\n") async for line in r.content]
                seen.append([line for line in lines if line.startswith("data")][-3:])
            async with session.post(url, json={"model": "gpt-4.1"}, headers={"x-sim-scenario": "status=500"}) as r:
                seen.append((r.status, (await r.json())["error"]["type"]))
        return seen

    return [_strip_ids(item) for item in asyncio.run(run())]


WORKLOADS: dict[str, Callable[[str], list[Any]]] = {
    "httpx2": workload,
    "requests": requests_workload,
    "aiohttp": aiohttp_workload,
}


def _strip_ids(item: Any) -> Any:
    if isinstance(item, list):
        return [line.split('"choices"', 1)[-1] if isinstance(line, str) else line for line in item]
    return item


ALL = ("httpx2", "requests", "aiohttp")
# (where, what, id, the clients whose path runs that step)
STEPS = [
    (_hook, "parse_request", "request-parsing", ALL),
    (_parsing.SseScanner, "feed", "sse-parsing", ALL),
    (_parsing.JsonScanner, "finish", "json-parsing", ALL),
    (_parsing.ResponseInfo, "add_finish", "finish-reason-parsing", ALL),
    (_attributes, "finish_reason", "finish-reason-label", ALL),
    (_pricing.PriceBook, "lookup", "pricing", ALL),
    (_pricing.PriceBook, "cost", "cost", ALL),
    (_recorder.Recorder, "_genai_attributes", "attribute-building", ALL),
    (_tally.Tally, "add", "counter-recording", ALL),
    (_recorder.Recorder, "headers", "rate-limit-headers", ALL),
    (_call, "parse_response_headers", "header-parsing", ALL),
    (_recorder.Recorder, "_record", "metric-recording", ALL),
    (_recorder.Recorder, "_end_span", "span-end", ALL),
    (_call.Call, "on_headers", "response-observation", ALL),
    (_call.Call, "on_chunk", "body-chunk", ALL),
    (_call.Call, "on_eof", "body-end", ALL),
    (_hook.Hook, "begin", "request-start", ALL),
    (_hook, "attempt_of", "request-fields", ALL),
    (_hook.Hook, "route", "routing", ("httpx2",)),
    (_hook.Hook, "route_text", "routing-text", ("requests", "aiohttp")),
    (_requests, "_observe", "requests-observation", ("requests",)),
    (_requests, "_observed", "requests-body-read", ("requests",)),
    (_requests, "_released", "requests-release", ("requests",)),
    (_aiohttp, "_observe", "aiohttp-observation", ("aiohttp",)),
]
CASES = [
    pytest.param(target, name, client, id=f"{step}-{client}")
    for target, name, step, clients in STEPS
    for client in clients
]


@pytest.fixture(scope="module")
def expected(gateway: GatewaySimulator) -> dict[str, list[Any]]:
    return {name: run(gateway.base_url) for name, run in WORKLOADS.items()}


@pytest.mark.parametrize(("target", "name", "client"), CASES)
def test_a_failing_step_is_invisible_to_the_app(
    target: Any,
    name: str,
    client: str,
    expected: dict[str, list[Any]],
    gateway: GatewaySimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Every optional step on too (the gen_ai.* attributes are built only when those metrics are switched on).
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS", "true")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS", "all")
    with instrumented(base_urls=[gateway.base_url]) as cap, caplog.at_level(logging.DEBUG, "otel_holysheep"):
        monkeypatch.setattr(target, name, boom)
        assert WORKLOADS[client](gateway.base_url) == expected[client]
        monkeypatch.undo()
        debug = [r for r in caplog.records if r.name == "otel_holysheep" and r.levelno == logging.DEBUG and r.exc_info]
        assert debug, "the failure must be logged at DEBUG"
        assert any(isinstance(r.exc_info[1], Injected) for r in debug if r.exc_info)
        # The gauge itself is a tally. The requests release hook is the only thing that finishes a body the app
        # closed before its end: with that hook broken, that one call stays open (and the app is still unaffected).
        still_open = 1 if name == "_released" else 0
        assert cap.value("holysheep.active_requests") == still_open or name == "add"


def test_a_failing_histogram_record(
    gateway: GatewaySimulator, expected: dict[str, list[Any]], caplog: pytest.LogCaptureFixture
) -> None:
    with instrumented(base_urls=[gateway.base_url]) as cap, caplog.at_level(logging.DEBUG, "otel_holysheep"):
        telemetry = _instruments.create_telemetry(cap.meter_provider.get_meter("otel_holysheep", _version(), _schema()))
        original = telemetry.duration
        telemetry.duration = _Raising()  # type: ignore[assignment]
        try:
            assert workload(gateway.base_url) == expected["httpx2"]
        finally:
            telemetry.duration = original
        assert cap.value("holysheep.active_requests") == 0
        assert len(cap.spans()) == 3  # spans still end even though metric recording failed
    assert "injected telemetry failure" in caplog.text


class _Raising:
    def record(self, *args: Any, **kwargs: Any) -> None:
        raise Injected("injected telemetry failure")


def _version() -> str:
    from otel_holysheep.version import __version__

    return __version__


def _schema() -> str:
    from otel_holysheep import _instrumentor

    return _instrumentor._SCHEMA_URL


class RaisingProcessor(SpanProcessor):
    def __init__(self, on: str) -> None:
        self.on = on

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.on == "start":
            raise Injected("injected telemetry failure")

    def on_end(self, span: Any) -> None:
        if self.on == "end":
            raise Injected("injected telemetry failure")


class RaisingExporter(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        raise Injected("exporter down")


@pytest.mark.parametrize("client", list(WORKLOADS))
@pytest.mark.parametrize("on", ["start", "end"])
def test_span_processor_failures(
    on: str, client: str, gateway: GatewaySimulator, expected: dict[str, list[Any]]
) -> None:
    cap = providers()
    cap.tracer_provider.add_span_processor(RaisingProcessor(on))
    with instrumented(cap, base_urls=[gateway.base_url]):
        assert WORKLOADS[client](gateway.base_url) == expected[client]
        assert cap.value("holysheep.requests") == len(expected[client])  # one item seen per call
        assert cap.value("holysheep.active_requests") == 0


@pytest.mark.parametrize("client", list(WORKLOADS))
def test_exporter_failure(client: str, gateway: GatewaySimulator, expected: dict[str, list[Any]]) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    cap = providers()
    cap.tracer_provider.add_span_processor(SimpleSpanProcessor(RaisingExporter()))
    with instrumented(cap, base_urls=[gateway.base_url]):
        assert WORKLOADS[client](gateway.base_url) == expected[client]
        assert cap.value("holysheep.requests") == len(expected[client])  # one item seen per call
