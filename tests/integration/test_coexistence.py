"""Next to the generic OpenTelemetry httpx instrumentation: both spans, correctly nested, in either order."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import httpx2
import pytest
from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor, HTTPXClientInstrumentor

from otel_holysheep.simulator import GatewaySimulator
from tests.support import instrumented, providers

MODULES = [
    pytest.param(httpx, HTTPXClientInstrumentor, id="httpx"),
    pytest.param(httpx2, HTTPX2ClientInstrumentor, id="httpx2"),
]


@contextmanager
def generic(instrumentor_cls: Any, tracer_provider: Any, meter_provider: Any) -> Iterator[None]:
    instrumentor = instrumentor_cls()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        yield
    finally:
        instrumentor.uninstrument()


@pytest.mark.parametrize(("module", "instrumentor_cls"), MODULES)
@pytest.mark.parametrize("generic_first", [True, False], ids=["generic-first", "holysheep-first"])
def test_both_spans_nested(module: Any, instrumentor_cls: Any, generic_first: bool, gateway: GatewaySimulator) -> None:
    def call() -> None:
        with module.Client(base_url=gateway.base_url, headers={"Authorization": "Bearer sk-test"}) as client:
            client.post("/chat/completions", json={"model": "gpt-4.1", "messages": []})

    cap = providers()
    if generic_first:
        with (
            generic(instrumentor_cls, cap.tracer_provider, cap.meter_provider),
            instrumented(cap, base_urls=[gateway.base_url]),
        ):
            call()
            holysheep_requests = cap.value("holysheep.requests")
    else:
        with (
            instrumented(cap, base_urls=[gateway.base_url]),
            generic(instrumentor_cls, cap.tracer_provider, cap.meter_provider),
        ):
            call()
            holysheep_requests = cap.value("holysheep.requests")
    spans = cap.spans()
    assert holysheep_requests == 1
    ours = [s for s in spans if s.name == "chat gpt-4.1"]
    http = [s for s in spans if s.name == "POST"]
    assert len(ours) == 1, [s.name for s in spans]
    assert len(http) == 1, [s.name for s in spans]
    assert http[0].parent is not None
    assert http[0].parent.span_id == ours[0].context.span_id
    assert http[0].context.trace_id == ours[0].context.trace_id
