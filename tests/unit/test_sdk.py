"""Canaries for ``_sdk``: the OpenTelemetry API and SDK fields otel-holysheep reads directly. An upgrade that drops
or reshapes one fails here, loudly (the fallbacks keep attribution working, only slower: tests/unit/test_attribution.py
runs them)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind

from otel_holysheep import _attribution, _sdk


def test_an_sdk_span_has_the_fields_the_hot_paths_read() -> None:
    provider = TracerProvider()
    span = provider.get_tracer("t").start_span("GET", kind=SpanKind.SERVER, attributes={"http.route": "/a"})
    assert span._kind is SpanKind.SERVER  # type: ignore[attr-defined]
    assert span._context[0] == span.get_span_context().trace_id  # type: ignore[attr-defined]
    assert span._attributes._dict == {"http.route": "/a"}  # type: ignore[attr-defined]
    assert span._end_time is None  # type: ignore[attr-defined]
    assert not _sdk.ended(span) and _sdk.attribute(span, "http.route") == "/a"
    span.end()
    assert span._end_time is not None  # type: ignore[attr-defined]
    assert _sdk.ended(span)
    provider.shutdown()


def test_the_context_keys_are_the_ones_the_api_uses() -> None:
    span = trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)
    context = baggage.set_baggage("team", "search", trace.set_span_in_context(span))
    assert _sdk.CURRENT_SPAN_KEY is not None and context.get(_sdk.CURRENT_SPAN_KEY) is span
    assert _sdk.BAGGAGE_KEY is not None and context.get(_sdk.BAGGAGE_KEY) == {"team": "search"}
    # the names attribution's hot path reads are these very ones
    assert (_attribution.CURRENT_SPAN_KEY, _attribution.BAGGAGE_KEY) == (_sdk.CURRENT_SPAN_KEY, _sdk.BAGGAGE_KEY)


def test_the_runtime_context_is_a_context_variable() -> None:
    variable = otel_context._RUNTIME_CONTEXT._current_context  # type: ignore[attr-defined]
    assert isinstance(variable, ContextVar)
    read = _sdk.current_context_reader()
    assert read != otel_context.get_current  # the variable's own get
    token = otel_context.attach(otel_context.set_value("k", "v"))
    try:
        assert read() is otel_context.get_current()
    finally:
        otel_context.detach(token)


def test_the_sdk_calls_the_processor_hooks_the_server_span_follower_replaces() -> None:
    """``ServerSpans`` replaces ``on_end`` and ``_on_ending`` with builtins; the SDK must still call only these."""
    calls: list[str] = []

    class Probe(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            calls.append("start")

        def _on_ending(self, span: Any) -> None:
            calls.append("ending")

        def on_end(self, span: ReadableSpan) -> None:
            calls.append("end")

    provider = TracerProvider()
    provider.add_span_processor(Probe())
    provider.get_tracer("t").start_span("x").end()
    assert calls == ["start", "ending", "end"]
    provider.shutdown()


class _Public:
    """A span with only the public API (another SDK)."""

    kind = SpanKind.SERVER
    attributes = {"http.route": "/p"}

    def __init__(self, recording: bool) -> None:
        self._recording = recording

    def is_recording(self) -> bool:
        return self._recording

    def get_span_context(self) -> Any:
        return trace.INVALID_SPAN_CONTEXT


def test_the_public_fallbacks() -> None:
    assert not _sdk.ended(_Public(recording=True)) and _sdk.ended(_Public(recording=False))
    assert _sdk.span_context(_Public(True)) is trace.INVALID_SPAN_CONTEXT
    assert _sdk.attribute(_Public(True), "http.route") == "/p"
    assert _sdk.attribute(object(), "http.route") is None


# --- set_attributes: the recorder's end-of-call attributes --------------------------------------------------------
_END = {"http.response.status_code": 200, "gen_ai.response.finish_reasons": ("stop",), "holysheep.cost_usd": 0.5}


def _exported(limits: Any = None, end_first: bool = False, extra: int = 0) -> tuple[dict[str, Any], int]:
    """The attributes and dropped count an exporter sees of a span given ``_END`` through ``_sdk.set_attributes``."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits) if limits is not None else TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    start = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4.1-mini-with-a-long-name"}
    start.update({f"extra.{i}": i for i in range(extra)})
    span = provider.get_tracer("t").start_span("chat", attributes=start)
    if end_first:
        span.end()
    _sdk.set_attributes(span, dict(_END))
    if not end_first:
        span.end()
    (finished,) = exporter.get_finished_spans()
    provider.shutdown()
    return dict(finished.attributes or {}), finished.dropped_attributes


def test_set_attributes_writes_an_sdk_spans_dict_as_set_attributes_would() -> None:
    provider = TracerProvider()
    span = provider.get_tracer("t").start_span("chat", attributes={"a": "1"})
    _sdk.set_attributes(span, dict(_END))
    # the direct write (the fast path): the span's dict holds the very objects given, no copy made by validation
    assert span._attributes._dict["gen_ai.response.finish_reasons"] is _END["gen_ai.response.finish_reasons"]  # type: ignore[attr-defined]
    assert span._attributes.dropped == 0  # type: ignore[attr-defined]
    span.end()
    provider.shutdown()
    attributes, dropped = _exported()
    model = "gpt-4.1-mini-with-a-long-name"
    assert attributes == {"gen_ai.operation.name": "chat", "gen_ai.request.model": model, **_END}
    assert dropped == 0


def test_set_attributes_leaves_to_the_sdk_what_the_sdk_would_change() -> None:
    from opentelemetry.sdk.trace import SpanLimits

    # a value-length limit: the SDK truncates (the start attributes too)
    attributes, _ = _exported(SpanLimits(max_span_attribute_length=8))
    assert attributes["gen_ai.request.model"] == "gpt-4.1-"
    assert attributes["http.response.status_code"] == 200
    # a count limit that the end attributes would exceed: the SDK drops the oldest and counts them
    attributes, dropped = _exported(SpanLimits(max_span_attributes=4))
    assert len(attributes) == 4 and dropped == 1 and "gen_ai.operation.name" not in attributes
    # room enough under the limit: written as given
    attributes, dropped = _exported(SpanLimits(max_span_attributes=5))
    assert len(attributes) == 5 and dropped == 0
    # an ended span: nothing is written (the SDK warns)
    attributes, _ = _exported(end_first=True)
    assert "http.response.status_code" not in attributes


def test_set_attributes_on_a_span_of_another_sdk_uses_its_public_method() -> None:
    class Other:
        def __init__(self) -> None:
            self.given: dict[str, Any] = {}

        def set_attributes(self, attributes: dict[str, Any]) -> None:
            self.given.update(attributes)

    other = Other()
    _sdk.set_attributes(other, dict(_END))
    assert other.given == _END
    _sdk.set_attributes(trace.INVALID_SPAN, dict(_END))  # a non-recording span: nothing, no error
