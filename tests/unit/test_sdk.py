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
