"""Next to the generic OpenTelemetry httpx, requests and aiohttp-client instrumentations: both spans, correctly nested,
in either order, counted once, originals restored."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
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


def _original(cls: type, name: str) -> Any:
    return cls.__dict__[name]


@contextmanager
def both(instrumentor_cls: Any, cap: Any, base_url: str, generic_first: bool) -> Iterator[None]:
    """The generic instrumentation and ours, in the given order (uninstrumented in reverse)."""
    setups = [
        lambda: generic(instrumentor_cls, cap.tracer_provider, cap.meter_provider),
        lambda: instrumented(cap, base_urls=[base_url]),
    ]
    if not generic_first:
        setups.reverse()
    with setups[0](), setups[1]():
        yield


def assert_nested(cap: Any, parent: str, child: str) -> None:
    """Exactly one span of ours ("chat gpt-4.1") and one generic HTTP span ("POST"), ``child`` under ``parent``."""
    spans = cap.spans()
    by_name = {name: [s for s in spans if s.name == name] for name in ("chat gpt-4.1", "POST")}
    assert [len(found) for found in by_name.values()] == [1, 1], [s.name for s in spans]
    (child_span,), (parent_span,) = by_name[child], by_name[parent]
    assert child_span.parent is not None
    assert child_span.parent.span_id == parent_span.context.span_id


@pytest.mark.parametrize("generic_first", [True, False], ids=["generic-first", "holysheep-first"])
def test_next_to_the_generic_requests_instrumentation(generic_first: bool, gateway: GatewaySimulator) -> None:
    """The generic requests span (at Session.send) is the parent of ours (at HTTPAdapter.send), in either order."""
    import requests
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    originals = (_original(requests.Session, "send"), _original(requests.adapters.HTTPAdapter, "send"))
    cap = providers()
    with both(RequestsInstrumentor, cap, gateway.base_url, generic_first):
        response = requests.post(
            f"{gateway.base_url}/chat/completions",
            json={"model": "gpt-4.1", "messages": []},
            headers={"Authorization": "Bearer sk-test", "x-sim-scenario": "prompt_tokens=4"},
        )
        assert response.json()["usage"]["prompt_tokens"] == 4
        assert cap.value("holysheep.requests") == 1
        assert cap.value("holysheep.tokens", token_type="prompt") == 4
    assert_nested(cap, parent="POST", child="chat gpt-4.1")
    assert (_original(requests.Session, "send"), _original(requests.adapters.HTTPAdapter, "send")) == originals


def _aiohttp_client_instrumentor() -> Any:
    """The generic aiohttp-client instrumentation from the peers directory (see requirements/bench.txt)."""
    peers = Path(__file__).resolve().parents[2] / ".cache" / "bench-peers"
    if not (peers / "opentelemetry" / "instrumentation" / "aiohttp_client").is_dir():
        pytest.skip(f"the generic aiohttp-client instrumentation is not installed in {peers}: run `make test`")
    sys.path.append(str(peers))
    try:
        from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    finally:
        sys.path.remove(str(peers))
    return AioHttpClientInstrumentor


@pytest.mark.parametrize("generic_first", [True, False], ids=["generic-first", "holysheep-first"])
def test_next_to_the_generic_aiohttp_client_instrumentation(generic_first: bool, gateway: GatewaySimulator) -> None:
    """The generic aiohttp-client span (trace signals inside ClientSession._request) nests under ours."""
    import asyncio

    import aiohttp

    instrumentor_cls = _aiohttp_client_instrumentor()
    originals = (_original(aiohttp.ClientSession, "__init__"), _original(aiohttp.ClientSession, "_request"))
    cap = providers()

    async def call() -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{gateway.base_url}/chat/completions",
                json={"model": "gpt-4.1", "messages": [], "stream": True, "stream_options": {"include_usage": True}},
                headers={"Authorization": "Bearer sk-test", "x-sim-scenario": "chunks=3"},
            ) as response,
        ):
            return [line async for line in response.content]

    with both(instrumentor_cls, cap, gateway.base_url, generic_first):
        assert asyncio.run(call())[-2] == b"data: [DONE]\n"
        assert cap.value("holysheep.requests") == 1
        assert cap.value("holysheep.stream_outcomes", outcome="completed") == 1
        assert cap.value("holysheep.tokens", token_type="completion") == 3
    assert_nested(cap, parent="chat gpt-4.1", child="POST")
    assert (_original(aiohttp.ClientSession, "__init__"), _original(aiohttp.ClientSession, "_request")) == originals
