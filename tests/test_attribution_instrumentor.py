"""Attribution through the instrumentor (httpx2 MockTransport, in-memory providers): which instruments get the labels,
what spans carry, failures that lose only the attribution, and re-instrumentation with other labels."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest
from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.trace import SpanKind

from otel_holysheep import HolySheepInstrumentor, _attribution
from otel_holysheep._state import ACTIVE
from tests.support import Captured, instrumented

BASE = "https://api.holysheep.ai/v1"
ENV = "OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION"
CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4.1",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}],
    "usage": {"prompt_tokens": 1000, "completion_tokens": 500},
}
COST = 1000 * 2e-6 + 500 * 8e-6


def handler(request: Any) -> Any:
    return httpx2.Response(500, json={"error": {}}) if b'"fail"' in request.content else httpx2.Response(200, json=CHAT)


@contextmanager
def in_request(cap: Captured, route: str | None, team: str | None) -> Iterator[None]:
    """Inside a web request: a SERVER span (with http.route if given) and baggage team (if given)."""
    token = otel_context.attach(baggage.set_baggage("team", team)) if team is not None else None
    tracer = cap.tracer_provider.get_tracer("app")
    attributes = {"http.route": route} if route is not None else {}
    try:
        with tracer.start_as_current_span("POST", kind=SpanKind.SERVER, attributes=attributes):
            yield
    finally:
        if token is not None:
            otel_context.detach(token)


def post(client: httpx2.Client, model: str = "gpt-4.1") -> None:
    client.post(f"{BASE}/chat/completions", json={"model": model, "messages": []})


def test_counters_get_the_labels_histograms_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "route,baggage.team")
    with instrumented() as cap, httpx2.Client(transport=httpx2.MockTransport(handler)) as client:
        with in_request(cap, "/chat/{thread_id}", "search"):
            post(client)
            post(client, "fail")
        with in_request(cap, None, "ads"):
            post(client)
        post(client)  # no server span, no baggage
        who = {"route": "/chat/{thread_id}", "team": "search"}
        assert cap.value("holysheep.requests", status="success", **who) == 1
        assert cap.value("holysheep.requests", status="failure", **who) == 1
        assert cap.value("holysheep.errors", error_type="http_500", **who) == 1
        assert cap.value("holysheep.tokens", token_type="prompt", **who) == 1000
        assert cap.value("holysheep.cost.usd", **who) == pytest.approx(COST)
        assert cap.value("holysheep.finishes", model="gpt-4.1", finish_reason="stop", **who) == 1
        assert cap.value("holysheep.requests", route="", team="ads") == 1
        assert cap.value("holysheep.cost.usd", route="", team="") == pytest.approx(COST)
        for name in ("holysheep.requests", "holysheep.errors", "holysheep.tokens", "holysheep.finishes",
                     "holysheep.cost.usd"):  # fmt: skip
            assert all({"route", "team"} <= set(labels) for labels in cap.label_sets(name)), name
        for name in ("holysheep.request.duration", "holysheep.active_requests", "holysheep.usage_missing"):
            assert all(not {"route", "team"} & set(labels) for labels in cap.label_sets(name)), name
        assert cap.label_sets("holysheep.request.duration") == [
            {"model": "gpt-4.1", "endpoint": "chat/completions"},
            {"model": "fail", "endpoint": "chat/completions"},
        ]
        spans = {
            (s.attributes or {}).get("holysheep.attribution.team"): s for s in cap.spans() if s.kind.name == "CLIENT"
        }
        assert spans["search"].attributes["holysheep.attribution.route"] == "/chat/{thread_id}"
        assert "holysheep.attribution.route" not in spans["ads"].attributes
        assert None in spans  # the call outside a request carries no attribution attribute


def test_span_keeps_the_value_past_the_label_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "baggage.team")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_ATTRIBUTION_VALUES", "1")
    with instrumented() as cap, httpx2.Client(transport=httpx2.MockTransport(handler)) as client:
        for team in ("a", "b", "sk-secret-key"):
            with in_request(cap, None, team):
                post(client)
        assert {labels["team"] for labels in cap.label_sets("holysheep.requests")} == {"a", "other"}
        assert sorted(s.attributes["holysheep.attribution.team"] for s in cap.spans() if s.kind.name == "CLIENT") == [
            "a",
            "b",
            "other",  # a credential-looking value never reaches the span either
        ]


def test_a_failing_read_loses_only_the_attribution(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(ENV, "route,baggage.team")

    def broken(self: Any, raw: Any) -> object:
        raise RuntimeError("label lookup failed")

    monkeypatch.setattr(_attribution.Attribution, "_resolve", broken)
    with (
        caplog.at_level(logging.DEBUG, logger="otel_holysheep"),
        instrumented() as cap,
        httpx2.Client(transport=httpx2.MockTransport(handler)) as client,
    ):
        with in_request(cap, "/x", "search"):
            response = client.post(f"{BASE}/chat/completions", json={"model": "gpt-4.1", "messages": []})
        assert response.json() == CHAT
        assert cap.label_sets("holysheep.requests") == [
            {"model": "gpt-4.1", "endpoint": "chat/completions", "status": "success", "route": "", "team": ""}
        ]
        assert cap.value("holysheep.cost.usd", route="", team="") == pytest.approx(COST)
    assert "Attribution.capture failed; the application is unaffected" in caplog.text


def test_a_failing_span_processor_step_never_reaches_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "route")
    with instrumented() as cap, httpx2.Client(transport=httpx2.MockTransport(handler)) as client:
        assert ACTIVE.session is not None
        processor = ACTIVE.session.server_spans
        assert processor is not None

        class BrokenIndex(dict):  # type: ignore[type-arg]
            def __bool__(self) -> bool:
                return True

            def __contains__(self, key: object) -> bool:
                raise RuntimeError("index step failed")

            def get(self, *args: Any) -> Any:
                raise RuntimeError("index step failed")

        # every server span start and end now fails inside the processor
        monkeypatch.setattr(processor, "by_trace_id", BrokenIndex())
        with in_request(cap, "/x", None):
            post(client)
        assert cap.value("holysheep.requests", route="/x") == 1  # the server span itself was current


def test_off_means_no_labels_and_no_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with instrumented() as cap, httpx2.Client(transport=httpx2.MockTransport(handler)) as client:
        with in_request(cap, "/x", "search"):
            post(client)
        assert cap.label_sets("holysheep.requests") == [
            {"model": "gpt-4.1", "endpoint": "chat/completions", "status": "success"}
        ]
        assert ACTIVE.session is not None and ACTIVE.session.server_spans is None
        assert all(not any(k.startswith("holysheep.attribution") for k in s.attributes or {}) for s in cap.spans())


def test_uninstrument_switches_the_processor_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "route")
    with instrumented():
        session = ACTIVE.session
        assert session is not None
        processor = session.server_spans
        assert processor is not None and processor.enabled
    assert not processor.enabled and processor.by_trace_id == {}
    assert ACTIVE.session is None and session.server_spans is None


def test_reinstrument_with_other_labels_on_the_same_meter(monkeypatch: pytest.MonkeyPatch) -> None:
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    client = httpx2.Client(transport=httpx2.MockTransport(handler))
    for setting in ("baggage.team", "route,baggage.team", ""):
        monkeypatch.setenv(ENV, setting)
        HolySheepInstrumentor().instrument(meter_provider=meter_provider)
        token = otel_context.attach(baggage.set_baggage("team", "search"))
        post(client)
        otel_context.detach(token)
        HolySheepInstrumentor().uninstrument()
    data = reader.get_metrics_data()
    points = [
        dict(p.attributes)
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "holysheep.requests"
        for p in m.data.data_points
    ]
    # the last labels stand; series of other label sets ended when the labels changed (no mixed label sets)
    assert points == [{"model": "gpt-4.1", "endpoint": "chat/completions", "status": "success"}]
    client.close()
    meter_provider.shutdown()
