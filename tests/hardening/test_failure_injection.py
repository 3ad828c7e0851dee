"""Internal failure injection: each telemetry step raises in turn; the application must not notice.

For every step the application's bytes and parsed result are compared with an uninstrumented run, and a DEBUG log
line on the ``otel_holysheep`` logger must record the failure.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx2
import pytest
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_holysheep import _call, _hook, _instruments, _parsing, _pricing
from otel_holysheep.simulator import GatewaySimulator
from tests.support import instrumented, providers

AUTH = {"Authorization": "Bearer sk-test"}


class Injected(RuntimeError):
    pass


def boom(*args: Any, **kwargs: Any) -> Any:
    raise Injected("injected telemetry failure")


def workload(base_url: str) -> list[Any]:
    """JSON and streamed calls, with and without usage, and an HTTP error: what the application observes."""
    seen: list[Any] = []
    with httpx2.Client(base_url=base_url, headers=AUTH) as client:
        seen.append(
            client.post(
                "/chat/completions",
                json={"model": "gpt-4.1", "messages": []},
                headers={"x-sim-scenario": "prompt_tokens=3,completion_tokens=2"},
            ).json()["usage"]
        )
        with client.stream(
            "POST",
            "/chat/completions",
            json={"model": "gpt-4.1", "messages": [], "stream": True, "stream_options": {"include_usage": True}},
            headers={"x-sim-scenario": "chunks=4"},
        ) as response:
            seen.append([line for line in response.iter_lines() if line.startswith("data")][-3:])
        failed = client.post("/chat/completions", json={"model": "gpt-4.1"}, headers={"x-sim-scenario": "status=500"})
        seen.append((failed.status_code, failed.json()["error"]["type"]))
    return [_strip_ids(item) for item in seen]


def _strip_ids(item: Any) -> Any:
    if isinstance(item, list):
        return [line.split('"choices"', 1)[-1] if isinstance(line, str) else line for line in item]
    return item


STEPS = [
    pytest.param(_hook, "parse_request", id="request-parsing"),
    pytest.param(_parsing.SseScanner, "feed", id="sse-parsing"),
    pytest.param(_parsing.JsonScanner, "finish", id="json-parsing"),
    pytest.param(_pricing.PriceBook, "lookup", id="pricing"),
    pytest.param(_pricing.PriceBook, "cost", id="cost"),
    pytest.param(_call.Call, "_genai_attributes", id="attribute-building"),
    pytest.param(_instruments.Tally, "add", id="counter-recording"),
    pytest.param(_call.Call, "_record_rate_limits", id="rate-limit-headers"),
    pytest.param(_call.Call, "_end_span", id="span-end"),
    pytest.param(_call.Call, "on_headers", id="response-observation"),
    pytest.param(_hook.Hook, "begin", id="request-start"),
    pytest.param(_hook.Hook, "route", id="routing"),
]


@pytest.fixture(scope="module")
def expected(gateway: GatewaySimulator) -> list[Any]:
    return workload(gateway.base_url)


@pytest.mark.parametrize(("target", "name"), STEPS)
def test_a_failing_step_is_invisible_to_the_app(
    target: Any,
    name: str,
    expected: list[Any],
    gateway: GatewaySimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with instrumented(base_urls=[gateway.base_url]) as cap, caplog.at_level(logging.DEBUG, "otel_holysheep"):
        monkeypatch.setattr(target, name, boom)
        assert workload(gateway.base_url) == expected
        monkeypatch.undo()
        assert cap.value("holysheep.active_requests") == 0 or name == "add"  # the gauge itself is a tally
    debug = [r for r in caplog.records if r.name == "otel_holysheep" and r.levelno == logging.DEBUG and r.exc_info]
    assert debug, "the failure must be logged at DEBUG"
    assert any(isinstance(r.exc_info[1], Injected) for r in debug if r.exc_info)


def test_a_failing_histogram_record(
    gateway: GatewaySimulator, expected: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    with instrumented(base_urls=[gateway.base_url]) as cap, caplog.at_level(logging.DEBUG, "otel_holysheep"):
        telemetry = _instruments.create_telemetry(cap.meter_provider.get_meter("otel_holysheep", _version(), _schema()))
        original = telemetry.duration
        telemetry.duration = _Raising()  # type: ignore[assignment]
        try:
            assert workload(gateway.base_url) == expected
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


@pytest.mark.parametrize("on", ["start", "end"])
def test_span_processor_failures(on: str, gateway: GatewaySimulator, expected: list[Any]) -> None:
    cap = providers()
    cap.tracer_provider.add_span_processor(RaisingProcessor(on))
    with instrumented(cap, base_urls=[gateway.base_url]):
        assert workload(gateway.base_url) == expected
        assert cap.value("holysheep.requests") == 3
        assert cap.value("holysheep.active_requests") == 0


def test_exporter_failure(gateway: GatewaySimulator, expected: list[Any]) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    cap = providers()
    cap.tracer_provider.add_span_processor(SimpleSpanProcessor(RaisingExporter()))
    with instrumented(cap, base_urls=[gateway.base_url]):
        assert workload(gateway.base_url) == expected
        assert cap.value("holysheep.requests") == 3
