"""Attribution labels: the setting, value cleaning and bounds, and reading route and baggage from the context."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from otel_holysheep import _attribution
from otel_holysheep._attribution import (
    MAX_VALUE_CHARS,
    Attribution,
    ServerSpans,
    attribution_values,
    clean_value,
    server_spans_for,
)
from otel_holysheep._config import AttributionSource, Settings, attribution_label, parse_attribution

ENV = "OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION"
ROUTE = AttributionSource("route", "http.route", "route")


def test_off_by_default() -> None:
    settings = Settings.from_env({})
    assert settings.attribution == ()
    assert settings.max_attribution_values == 100


def test_setting_parses_in_order(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_holysheep"):
        settings = Settings.from_env(
            {
                ENV: " route , baggage.team,,baggage.feature.flag , Baggage.tenant-id",
                "OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_ATTRIBUTION_VALUES": "20",
            }
        )
    assert settings.attribution == (
        ROUTE,
        AttributionSource("baggage", "team", "team"),
        AttributionSource("baggage", "feature.flag", "feature_flag"),
        AttributionSource("baggage", "tenant-id", "tenant_id"),
    )
    assert settings.max_attribution_values == 20
    assert caplog.records == []


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("path", "expected route or baggage.<key>"),
        ("baggage.", "is not a W3C baggage key"),
        ("baggage.a b", "is not a W3C baggage key"),
        ("baggage.model", "label 'model' collides with a label the metrics already carry"),
        ("baggage.status", "label 'status' collides"),
        ("baggage.job", "label 'job' collides"),
        ("baggage.__name__", "label '__name__' collides"),
        ("baggage.otel_scope_name", "label 'otel_scope_name' collides"),
    ],
)
def test_bad_items_warn_once_each_and_the_rest_stands(item: str, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_holysheep"):
        settings = Settings.from_env({ENV: f"route,{item}"})
    assert settings.attribution == (ROUTE,)
    (record,) = caplog.records
    assert ENV in record.getMessage() and repr(item) in record.getMessage() and reason in record.getMessage()


def test_repeats_and_too_many_labels_are_refused(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_holysheep"):
        sources = parse_attribution("route,baggage.route,baggage.a,baggage.a,baggage.b,baggage.c,baggage.d,baggage.e")
    assert [s.label for s in sources] == ["route", "a", "b", "c", "d"]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert "'baggage.route': label 'route' is already taken" in messages[0]
    assert "'baggage.a': label 'a' is already taken" in messages[1]
    assert "'baggage.e': at most 5 attribution labels" in messages[2]


@pytest.mark.parametrize(
    ("key", "label"), [("team", "team"), ("x.y-z", "x_y_z"), ("9lives", "_9lives"), ("Team", "Team")]
)
def test_label_names(key: str, label: str) -> None:
    assert attribution_label(key) == label


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (None, ""),
        (42, ""),
        ("  ", ""),
        (" search ", "search"),
        ("/users/{user_id}", "/users/{user_id}"),
        ("x" * 500, "x" * MAX_VALUE_CHARS),
        ("line\nbreak", "other"),
        ("https://app.example.com/users/123", "other"),
        ("sk-live-abcdef0123456789", "other"),
        ("Bearer abc.def", "other"),
    ],
)
def test_clean_value(raw: object, value: str) -> None:
    assert clean_value(raw) == value


def test_bounded_values_cap_then_other_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    bound = attribution_values("team", 3)
    with caplog.at_level(logging.WARNING, logger="otel_holysheep"):
        got = [bound.value(f"t{i}")[0] for i in range(10)]
        again = [bound.value(f"t{i}")[0] for i in range(10)]
        empty = bound.value(None)
        secret = bound.value("sk-abc")
    assert got == again == ["t0", "t1", "t2"] + ["other"] * 7
    assert empty == ("", "")
    assert secret == ("other", "other")  # a rejected value never reaches the span either
    assert bound.value("t9") == ("other", "t9")  # the span keeps the real (cleaned) value
    (record,) = caplog.records
    assert "more than 3 distinct values of attribution label 'team'" in record.getMessage()
    assert "OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_ATTRIBUTION_VALUES" in record.getMessage()


def test_bounded_values_flood_keeps_memory_bounded() -> None:
    bound = attribution_values("team", 5)
    for i in range(20_000):
        bound.value(f" team-{i} ")
    assert len(bound._admitted) == 5
    assert len(bound._cache) <= 4 * 5 + 16


def _tracer() -> tuple[TracerProvider, ServerSpans, trace.Tracer]:
    provider = TracerProvider()
    spans = server_spans_for(provider)
    assert spans is not None
    return provider, spans, provider.get_tracer("test")


def test_route_of_the_current_server_span_and_baggage() -> None:
    provider, spans, tracer = _tracer()
    attribution = Attribution([ROUTE, AttributionSource("baggage", "team", "team")], 100, spans)
    ctx = baggage.set_baggage("team", "search")
    token = otel_context.attach(ctx)
    try:
        with tracer.start_as_current_span(
            "GET /users/{id}", kind=SpanKind.SERVER, attributes={"http.route": "/users/{id}"}
        ):
            attributes: dict[str, object] = {}
            assert attribution.capture(attributes) == ("/users/{id}", "search")
            assert attributes == {"holysheep.attribution.route": "/users/{id}", "holysheep.attribution.team": "search"}
    finally:
        otel_context.detach(token)
    provider.shutdown()


def test_route_is_found_under_child_spans_and_forgotten_when_the_server_span_ends() -> None:
    provider, spans, tracer = _tracer()
    attribution = Attribution([ROUTE], 100, spans)
    with tracer.start_as_current_span("GET /a", kind=SpanKind.SERVER, attributes={"http.route": "/a"}) as server:
        with tracer.start_as_current_span("work"), tracer.start_as_current_span("POST", kind=SpanKind.CLIENT):
            assert attribution.capture({}) == ("/a",)
        assert spans.by_trace_id == {server.get_span_context().trace_id: [server]}  # only server spans are kept
        with tracer.start_as_current_span("job", context=otel_context.Context()):  # a new trace: not a descendant
            assert attribution.capture({}) == ("",)
    # work that goes on in the trace after the request ended is not the route's any more
    with tracer.start_as_current_span("late", context=trace.set_span_in_context(server)):
        assert attribution.capture({}) == ("",)
    spans.sweep()
    assert spans.by_trace_id == {}
    provider.shutdown()


def test_nested_server_spans_of_one_trace_give_the_innermost_open_route() -> None:
    """An app calling itself: the inner request's server span is in the same trace; children see the most recent
    open one, and the outer one's again once the inner ended."""
    provider, spans, tracer = _tracer()
    attribution = Attribution([ROUTE], 100, spans)
    outer = tracer.start_as_current_span("GET /outer", kind=SpanKind.SERVER, attributes={"http.route": "/outer"})
    inner = tracer.start_as_current_span("GET /inner", kind=SpanKind.SERVER, attributes={"http.route": "/inner"})
    with outer, tracer.start_as_current_span("call", kind=SpanKind.CLIENT):
        with inner, tracer.start_as_current_span("work"):
            assert attribution.capture({}) == ("/inner",)
        assert attribution.capture({}) == ("/outer",)
    spans.sweep()
    assert spans.by_trace_id == {}
    provider.shutdown()


def test_route_set_after_the_server_span_started_is_read() -> None:
    """Django's instrumentation sets http.route in process_view, after the span started: it is read at call time."""
    provider, spans, tracer = _tracer()
    attribution = Attribution([ROUTE], 100, spans)
    with tracer.start_as_current_span("GET", kind=SpanKind.SERVER) as server, tracer.start_as_current_span("view"):
        server.set_attribute("http.route", "users/<int:pk>/")
        assert attribution.capture({}) == ("users/<int:pk>/",)
    provider.shutdown()


def test_no_server_span_no_route() -> None:
    provider, spans, tracer = _tracer()
    attribution = Attribution([ROUTE], 100, spans)
    assert attribution.capture({}) == ("",)
    with tracer.start_as_current_span("job", kind=SpanKind.INTERNAL), tracer.start_as_current_span("c"):
        assert attribution.capture({}) == ("",)
    with tracer.start_as_current_span("GET", kind=SpanKind.SERVER):  # a server span without a route
        attributes: dict[str, object] = {}
        assert attribution.capture(attributes) == ("",)
        assert attributes == {}
    provider.shutdown()


def test_server_span_without_the_processor_still_gives_its_own_route() -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("test")
    attribution = Attribution([ROUTE], 100, None)
    with tracer.start_as_current_span("GET /a", kind=SpanKind.SERVER, attributes={"http.route": "/a"}):
        assert attribution.capture({}) == ("/a",)
        with tracer.start_as_current_span("child"):
            assert attribution.capture({}) == ("",)  # documented: children need the processor
    provider.shutdown()


def test_processor_is_added_once_per_provider_and_only_to_sdk_providers() -> None:
    provider = TracerProvider()
    first = server_spans_for(provider)
    assert first is not None and server_spans_for(provider) is first
    assert server_spans_for(trace.NoOpTracerProvider()) is None
    provider.shutdown()


def test_tracked_traces_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_attribution, "MAX_TRACKED_TRACES", 20)
    provider, spans, tracer = _tracer()
    never_ended = [tracer.start_span("GET", kind=SpanKind.SERVER, context=otel_context.Context()) for _ in range(50)]
    assert len(spans.by_trace_id) == 20
    for span in never_ended:
        span.end()
    spans.sweep()
    assert spans.by_trace_id == {}
    provider.shutdown()


def test_ended_server_spans_are_swept_as_requests_go_on() -> None:
    """Ended server spans are dropped by sweeps at later starts: the index stays within about twice the open server
    spans (at least SWEEP_AT_LEAST), whatever the number of requests."""
    provider, spans, tracer = _tracer()
    long_lived = [tracer.start_span("WS", kind=SpanKind.SERVER, context=otel_context.Context()) for _ in range(100)]
    largest = 0
    for _ in range(5_000):
        tracer.start_span("GET", kind=SpanKind.SERVER, context=otel_context.Context()).end()
        largest = max(largest, len(spans.by_trace_id))
    assert largest <= 2 * (100 + 1) + 1
    assert all(spans.by_trace_id.get(span.get_span_context().trace_id) == [span] for span in long_lived)
    for span in long_lived:
        span.end()
    for _ in range(300):  # the index reaches twice its size after the last sweep: swept down to the requests'
        tracer.start_span("GET", kind=SpanKind.SERVER, context=otel_context.Context()).end()
    assert len(spans.by_trace_id) <= 2 * _attribution.SWEEP_AT_LEAST
    provider.shutdown()


class _OddSpan:
    """A SERVER span as a broken or foreign SDK might hand one to a processor: no span context at all."""

    kind = SpanKind.SERVER
    context = None


def test_processor_never_raises_into_the_apps_span_starts_and_ends(caplog: pytest.LogCaptureFixture) -> None:
    provider, spans, tracer = _tracer()
    with caplog.at_level(logging.DEBUG, logger="otel_holysheep"):
        spans.on_start(_OddSpan())
        spans.on_end(_OddSpan())
        spans._on_ending(_OddSpan())
        assert "telemetry step ServerSpans._follow_public failed" in caplog.text
        caplog.clear()
        spans.by_trace_id[1] = [_OddSpan()]  # an entry whose span is odd: the sweep fails, the start does not
        spans.sweep_at = 1
        with tracer.start_as_current_span("GET", kind=SpanKind.SERVER, attributes={"http.route": "/a"}):
            assert Attribution([ROUTE], 100, spans).capture({}) == ("/a",)
    assert "telemetry step ServerSpans._follow failed" in caplog.text
    provider.shutdown()


def test_concurrent_requests_each_get_their_own_route() -> None:
    """No lock: threads starting, ending and sweeping server spans at once still find each request's own route."""
    provider, spans, tracer = _tracer()
    attribution = Attribution([ROUTE], 100, spans)
    wrong: list[object] = []

    def serve(worker: int) -> None:
        for i in range(300):
            route = f"/w{worker}/{i % 7}"
            with (
                tracer.start_as_current_span("GET", kind=SpanKind.SERVER, attributes={"http.route": route}),
                tracer.start_as_current_span("work"),
            ):
                got = attribution.capture({})
                if got != (route,):
                    wrong.append(got)

    threads = [threading.Thread(target=serve, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    provider.shutdown()


class _PublicSpan(trace.Span):
    """An SDK span seen only through the public span API (no SDK fields): the fallback of every fast read."""

    def __init__(self, span: Any) -> None:
        self._wrapped = span

    kind = property(lambda self: self._wrapped.kind)
    attributes = property(lambda self: self._wrapped.attributes)

    def get_span_context(self) -> Any:
        return self._wrapped.get_span_context()

    def is_recording(self) -> bool:
        return bool(self._wrapped.is_recording())

    def end(self, end_time: int | None = None) -> None:
        self._wrapped.end(end_time)

    def set_attributes(self, attributes: Any) -> None:
        self._wrapped.set_attributes(attributes)

    def set_attribute(self, key: str, value: Any) -> None:
        self._wrapped.set_attribute(key, value)

    def add_event(self, name: str, attributes: Any = None, timestamp: int | None = None) -> None:
        del name, attributes, timestamp

    def update_name(self, name: str) -> None:
        del name

    def set_status(self, status: Any, description: str | None = None) -> None:
        del status, description

    def record_exception(self, exception: BaseException, *args: Any, **kwargs: Any) -> None:
        del exception, args, kwargs


def test_spans_without_sdk_fields_go_through_the_public_api() -> None:
    provider, spans, tracer = _tracer()
    attribution = Attribution([ROUTE], 100, spans)
    server = tracer.start_span("GET /a", kind=SpanKind.SERVER, attributes={"http.route": "/a"})
    public = _PublicSpan(server)
    token = otel_context.attach(trace.set_span_in_context(public))
    try:
        assert attribution.capture({}) == ("/a",)  # a server span read through the public API
        with tracer.start_as_current_span("child"):
            assert attribution.capture({}) == ("/a",)
        spans.by_trace_id.clear()
        spans.on_start(public)  # followed through the public API
        assert spans.by_trace_id == {server.get_span_context().trace_id: [public]}
        child = tracer.start_span("child", context=trace.set_span_in_context(public))
        with trace.use_span(_PublicSpan(child)):
            assert attribution.capture({}) == ("/a",)
        server.end()
        spans.sweep()  # ended, seen through is_recording()
        assert spans.by_trace_id == {}
    finally:
        otel_context.detach(token)
    provider.shutdown()


def test_route_without_the_context_key_falls_back_to_get_current_span(monkeypatch: pytest.MonkeyPatch) -> None:
    """An API release without ``trace.propagation._SPAN_KEY``: the current span comes from get_current_span."""
    monkeypatch.setattr(_attribution, "CURRENT_SPAN_KEY", None)
    provider, spans, tracer = _tracer()
    attribution = Attribution([ROUTE], 100, spans)
    assert attribution.capture({}) == ("",)  # no span at all: INVALID_SPAN, no route
    with tracer.start_as_current_span("GET /a", kind=SpanKind.SERVER, attributes={"http.route": "/a"}):
        assert attribution.capture({}) == ("/a",)
        with tracer.start_as_current_span("child"):
            assert attribution.capture({}) == ("/a",)
    provider.shutdown()


def test_baggage_without_the_context_key_falls_back_to_get_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_attribution, "BAGGAGE_KEY", None)
    attribution = Attribution(
        [AttributionSource("baggage", "team", "team"), AttributionSource("baggage", "feature", "feature")], 100
    )
    assert attribution.capture({}) == ("", "")
    token = otel_context.attach(baggage.set_baggage("feature", "chat", baggage.set_baggage("team", "search")))
    try:
        assert attribution.capture({}) == ("search", "chat")
    finally:
        otel_context.detach(token)


def test_another_runtime_context_is_read_through_get_current(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_PYTHON_CONTEXT can select a runtime context without the contextvars variable: the public call then."""

    class OtherRuntimeContext:
        pass

    monkeypatch.setattr(otel_context, "_RUNTIME_CONTEXT", OtherRuntimeContext())
    assert _attribution.current_context_reader() is otel_context.get_current


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_label_order_follows_the_setting_for_any_number_of_baggage_keys(count: int) -> None:
    keys = [f"k{i}" for i in range(count)]
    sources = [AttributionSource("baggage", key, key) for key in keys]
    sources.insert(count // 2, ROUTE)  # the route among them
    provider, spans, tracer = _tracer()
    attribution = Attribution(sources, 100, spans)
    context = otel_context.get_current()
    for i, key in enumerate(keys):
        if i != 1:  # one key absent
            context = baggage.set_baggage(key, f"v{i}", context)
    token = otel_context.attach(context)
    try:
        with tracer.start_as_current_span("GET", kind=SpanKind.SERVER, attributes={"http.route": "/r"}):
            attributes: dict[str, object] = {}
            got = attribution.capture(attributes)
    finally:
        otel_context.detach(token)
    expected = ["" if i == 1 else f"v{i}" for i in range(count)]
    expected.insert(count // 2, "/r")
    assert got == tuple(expected)
    assert attributes["holysheep.attribution.route"] == "/r"
    assert ("holysheep.attribution.k1" in attributes) is False
    provider.shutdown()


def test_a_baggage_flood_past_the_cap_is_not_remembered() -> None:
    """Combinations with a value over the cap are resolved each time, never cached: a flood cannot fill the cache."""
    attribution = Attribution([AttributionSource("baggage", "team", "team")], 3)
    for i in range(50):
        token = otel_context.attach(baggage.set_baggage("team", f"t{i}"))
        try:
            assert attribution.capture({}) == ((f"t{i}",) if i < 3 else ("other",))
        finally:
            otel_context.detach(token)
    assert len(attribution._cache) == 3
