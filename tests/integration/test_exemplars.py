"""Exemplars: latency histogram samples point at the attempt's own GenAI span, whatever span is current when the body
ends (the app's own span around reading a stream, or none at all)."""

from __future__ import annotations

from typing import Any

import httpx
import httpx2
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from otel_holysheep.simulator import GatewaySimulator
from tests.support import Captured, instrumented, providers

MODULES = [pytest.param(httpx, id="httpx"), pytest.param(httpx2, id="httpx2")]
HEADERS = {"Authorization": "Bearer sk-test", "x-sim-scenario": "chunks=4,ttft_ms=5"}
BODY = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}], "stream": True}
LATENCY_METRICS = (
    "holysheep.request.duration",
    "holysheep.time_to_headers",
    "holysheep.time_to_first_token",
    "gen_ai.client.operation.duration",
    "gen_ai.client.operation.time_to_first_chunk",
)


@pytest.fixture(autouse=True)
def every_latency_histogram(monkeypatch: pytest.MonkeyPatch) -> None:
    """The opt-in gen_ai.* and detail histograms too: they carry exemplars the same way."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS", "true")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS", "true")


def latency_points(captured: Captured) -> dict[str, list[Any]]:
    """One collection (the SDK hands each exemplar out once): every latency histogram's data points."""
    data = captured.reader.get_metrics_data()
    found: dict[str, list[Any]] = {name: [] for name in LATENCY_METRICS}
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name in found:
                    found[metric.name].extend(metric.data.data_points)
    return found


def stream_inside_another_span(module: Any, gateway: GatewaySimulator, tracer: trace.Tracer) -> None:
    """Open the stream, then read it to the end inside an unrelated span: the body ends while that span is current."""
    with (
        module.Client(base_url=gateway.base_url, headers=HEADERS) as client,
        client.stream("POST", "/chat/completions", json=BODY) as response,
        tracer.start_as_current_span("app.read_body"),
    ):
        for _ in response.iter_bytes():
            pass


@pytest.mark.parametrize("module", MODULES)
def test_latency_exemplars_point_at_the_attempts_own_span(module: Any, gateway: GatewaySimulator) -> None:
    with instrumented(base_urls=[gateway.base_url]) as captured:
        tracer = captured.tracer_provider.get_tracer("app")
        stream_inside_another_span(module, gateway, tracer)
        spans = {s.name: s for s in captured.spans()}
        ours = spans["chat gpt-4.1"].context
        other = spans["app.read_body"].context
        for name, points in latency_points(captured).items():
            assert {(e.trace_id, e.span_id) for p in points for e in p.exemplars} == {(ours.trace_id, ours.span_id)}, (
                name
            )
        assert other.span_id != ours.span_id


@pytest.mark.parametrize("module", MODULES)
def test_an_unsampled_attempt_gets_no_exemplar_not_someone_elses(module: Any, gateway: GatewaySimulator) -> None:
    cap = providers()
    cap.tracer_provider = TracerProvider(sampler=ALWAYS_OFF)
    app_tracer = providers().tracer_provider.get_tracer("app")  # a sampled span of the app, current at the end
    with instrumented(cap, base_urls=[gateway.base_url]) as captured:
        stream_inside_another_span(module, gateway, app_tracer)
        for name, points in latency_points(captured).items():
            assert points, name
            assert all(not p.exemplars for p in points), name
