"""Attribution: who made a gateway call, as bounded label values read from the app's own context.

With ``OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION`` set, ``Hook.begin`` asks :class:`Attribution` for the values of
the configured labels while the application's context is current:

- ``route``: the ``http.route`` attribute of the active SERVER span, the route *template* the web framework's own
  OpenTelemetry instrumentation put there (FastAPI / Starlette: ``/users/{user_id}``; Flask: ``/users/<int:user_id>``;
  Django: ``users/<int:user_id>/``), never the request path. The active server span is the current span when it is a
  SERVER span, else the most recent open SERVER span of the current span's trace in this process, found through
  :class:`ServerSpans` (a span processor that keeps the open server spans by trace id): so the route is found under
  the CLIENT span of ``opentelemetry-instrumentation-requests``, under a GenAI instrumentation's span or under a span
  of the app's own. No server span, or one without ``http.route``: the value is empty.
- ``baggage.<key>``: the W3C baggage entry ``<key>`` of the current context (empty when absent).

Values are bounded: at most ``MAX_VALUE_CHARS`` characters (longer ones are cut), no control characters, nothing
that looks like a credential or a URL (those become ``other``), and at most ``max_values`` distinct values per label
per process; later values become ``other`` (one warning per label).

Cost. This runs for every gateway call and the processor for every span the application starts, and inside a
request each Python-level call costs a few tenths of a microsecond. So the hot path makes almost none: the current
context is read from the API's context variable, the span and baggage from it by their keys, a span's kind, context
and attributes from the SDK span's fields, and one cache lookup keyed by the raw values gives both the label values
and the span attributes. Each of those reads falls back to the public API when the field or key is not there (another
API or SDK release, another runtime context); tests cover both ways.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from otel_holysheep import _names as n
from otel_holysheep._attributes import OTHER, BoundedValues
from otel_holysheep._config import ATTRIBUTION_ROUTE, AttributionSource
from otel_holysheep._registry import PerProvider
from otel_holysheep._safety import call_safely
from otel_holysheep._sdk import BAGGAGE_KEY, CURRENT_SPAN_KEY, current_context_reader, ended
from otel_holysheep._sdk import attribute as _attribute
from otel_holysheep._sdk import span_context as _span_context

MAX_VALUE_CHARS: Final = 128
# Values never put in a label: control characters, a URL (it may carry ids or tokens), or what looks like a credential.
_REJECT: Final = re.compile(r"[\x00-\x1f\x7f]|://|^\s*(?:sk-|bearer\s|basic\s)", re.IGNORECASE)
# Traces with open server spans followed at most: a leak of unended server spans cannot grow it further.
MAX_TRACKED_TRACES: Final = 100_000
# The smallest index of traces that is swept for ended server spans (see ServerSpans).
SWEEP_AT_LEAST: Final = 8
# Distinct raw value combinations remembered with their labels (bounded: cleared when full, a miss only costs time).
MAX_CACHED_COMBINATIONS: Final = 4096
_SERVER: Final = SpanKind.SERVER


def clean_value(raw: object) -> str:
    """A label value from a raw route or baggage value: ``""`` when absent, ``other`` when it must not be shown,
    else the value stripped and cut to ``MAX_VALUE_CHARS``."""
    if not isinstance(raw, str):
        return ""
    value = raw.strip()
    if not value:
        return ""
    if _REJECT.search(value):
        return OTHER
    return value[:MAX_VALUE_CHARS]


def attribution_values(label: str, limit: int) -> BoundedValues:
    """The values of attribution label ``label`` in a process: at most ``limit`` distinct ones."""
    return BoundedValues(
        limit,
        clean_value,
        f"otel-holysheep: more than {limit} distinct values of attribution label {label!r}; further values are "
        f"labelled {OTHER!r} (raise OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_ATTRIBUTION_VALUES to see them)",
    )


class ServerSpans:
    """A span processor that keeps the SERVER spans of this process by trace id, so the route is found when a child
    span is current: the server span of a child is the most recent server span of its trace that has not ended.

    The SDK calls a processor three times for every span the application starts and ends; only the start does work
    here, and only for server spans (other spans cost one field read). Ended server spans are not removed at their end:
    lookups skip them, and when the index has grown to twice its size after the last sweep (at least
    ``SWEEP_AT_LEAST`` traces), the next server span start sweeps out every trace whose server spans have all ended.
    So the two end hooks are builtins that return at once (no Python frame per span), a server span start costs a few
    dict operations, the sweep is paid once per as many starts as it scans, and the index holds at most about twice
    the traces that have an open server span (never more than ``MAX_TRACKED_TRACES``).

    It runs inside the application's span starts, so it never raises (a failure is logged at DEBUG and loses a route,
    never the app's span). It takes no lock: each dict and list operation is atomic under the GIL; a server span
    starting in a trace while a sweep drops that trace can lose its route, never a request.
    """

    # Called by the SDK on every span end; nothing to do then (see above): a builtin that returns at once.
    on_end = staticmethod(callable)
    _on_ending = staticmethod(callable)

    def __init__(self) -> None:
        self.by_trace_id: dict[int, list[Any]] = {}
        self.sweep_at = SWEEP_AT_LEAST  # the index size that triggers the next sweep
        self.enabled = True

    def on_start(self, span: Any, parent_context: otel_context.Context | None = None) -> None:
        try:
            # the SDK span's fields, read directly: this runs for every span the application starts
            if span._kind is not _SERVER or not self.enabled:
                return
            trace_id = span._context[0]  # a SpanContext is the tuple (trace_id, span_id, ...)
        except AttributeError:  # a span without the SDK span's fields: the public API (a route lost, never the span)
            call_safely(self._follow_public, span)
            return
        call_safely(self._follow, span, trace_id)

    def _follow_public(self, span: Any) -> None:
        if span.kind is _SERVER and self.enabled:
            self._follow(span, _span_context(span).trace_id)

    def _follow(self, span: Any, trace_id: int) -> None:
        index = self.by_trace_id
        open_spans = index.get(trace_id)
        if open_spans is not None:  # a nested server span of the same trace (an app calling itself)
            open_spans.append(span)
            return
        if len(index) >= self.sweep_at:
            self.sweep()
        if len(index) < MAX_TRACKED_TRACES:
            index[trace_id] = [span]

    def sweep(self) -> None:
        """Forget the traces whose server spans have all ended; sweep again when the index has doubled."""
        index = self.by_trace_id
        for trace_id, spans in list(index.items()):
            try:
                for span in spans:
                    if span._end_time is None:  # the SDK span's field: still open
                        break
                else:
                    index.pop(trace_id, None)
            except AttributeError:  # not the SDK's span: the public API
                if all(ended(span) for span in spans):
                    index.pop(trace_id, None)
        self.sweep_at = max(SWEEP_AT_LEAST, 2 * len(index))

    def shutdown(self) -> None:
        self.by_trace_id.clear()
        self.sweep_at = SWEEP_AT_LEAST

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        del timeout_millis
        return True

    def server_span(self, span: Any) -> Any:
        """The most recent server span of ``span``'s trace that has not ended, or ``None``."""
        spans = self.by_trace_id.get(_span_context(span).trace_id)
        if spans:
            for candidate in reversed(spans):
                if not ended(candidate):
                    return candidate
        return None


_SERVER_SPANS: Final[PerProvider[ServerSpans]] = PerProvider()


def server_spans_for(tracer_provider: Any) -> ServerSpans | None:
    """The :class:`ServerSpans` processor of ``tracer_provider`` (an SDK provider), added once per provider and
    switched on; ``None`` for a provider that takes no span processors (the API's no-op or proxy providers: no span
    has a route then)."""
    add = getattr(tracer_provider, "add_span_processor", None)
    if add is None:
        return None

    def create() -> ServerSpans:
        processor = _sdk_processor()
        add(processor)
        return processor

    found = _SERVER_SPANS.get(tracer_provider, create)
    found.enabled = True
    return found


def _sdk_processor() -> ServerSpans:
    """A :class:`ServerSpans` that is also an SDK ``SpanProcessor`` (so it has every hook the SDK calls, ``_on_ending``
    included). Only SDK providers take processors, so the SDK is importable here; the package needs only the API."""
    from opentelemetry.sdk.trace import SpanProcessor  # noqa: PLC0415

    # the end hooks are builtins (see ServerSpans), typed (object) -> bool rather than (span) -> None
    class _ServerSpansProcessor(ServerSpans, SpanProcessor):  # type: ignore[misc]
        pass

    return _ServerSpansProcessor()


def route_of(span: Any, server_spans: ServerSpans | None) -> object:
    """``http.route`` of the SERVER span that is ``span`` or that ``span`` descends from (the newest one of its trace
    still open); ``None`` if there is none. An SDK span's fields are read directly (this runs inside every gateway call
    with route attribution on); any other span through the public API."""
    try:
        kind = span._kind  # an SDK span's kind
    except AttributeError:  # no SDK span (a non-recording one, another SDK's): the public API
        return _route_public(span, server_spans)
    if kind is _SERVER:
        server = span
    else:  # the newest open server span of its trace
        open_spans = server_spans.by_trace_id.get(span._context[0]) if server_spans is not None else None
        server = open_spans[-1] if open_spans else None
        if server is not None and server._end_time is not None:  # ended, not swept yet: an older one?
            server = server_spans.server_span(span)  # type: ignore[union-attr]
        if server is None:
            return None
    try:  # the SDK's attribute dict, read directly
        return server._attributes._dict.get(n.HTTP_ROUTE)
    except AttributeError:
        return _attribute(server, n.HTTP_ROUTE)


def _route_public(span: Any, server_spans: ServerSpans | None) -> object:
    if getattr(span, "kind", None) is not _SERVER:
        span = server_spans.server_span(span) if server_spans is not None else None
        if span is None:
            return None
    return _attribute(span, n.HTTP_ROUTE)


class Attribution:
    """Reads the configured attribution labels' values for one request from the current context."""

    __slots__ = (
        "_baggage_keys",
        "_bounds",
        "_cache",
        "_current",
        "_keys",
        "_no_baggage",
        "_route",
        "_server_spans",
        "empty",
        "labels",
    )

    def __init__(
        self, sources: Sequence[AttributionSource], max_values: int, server_spans: ServerSpans | None = None
    ) -> None:
        self.labels = tuple(s.label for s in sources)
        self.empty = ("",) * len(self.labels)  # the values when reading them failed
        # per source: None for the route, else the baggage key
        self._keys = tuple(None if s.source == ATTRIBUTION_ROUTE else s.key for s in sources)
        self._route = None in self._keys
        self._baggage_keys = tuple(key for key in self._keys if key is not None)
        self._no_baggage = (None,) * len(self._baggage_keys)
        self._bounds = tuple(
            (n.HOLYSHEEP_ATTRIBUTION_PREFIX + s.label, attribution_values(s.label, max_values)) for s in sources
        )
        # raw values (the route, then the baggage values in key order) -> (label values, span attributes)
        self._cache: dict[tuple[object, ...], tuple[tuple[str, ...], dict[str, str]]] = {}
        self._server_spans = server_spans
        self._current = current_context_reader()

    def capture(self, span_attributes: dict[str, Any]) -> tuple[str, ...]:
        """The label values, in ``labels`` order; the non-empty cleaned values are added to ``span_attributes``."""
        context = self._current()
        route: object = None
        if self._route:
            span: Any = (
                context.get(CURRENT_SPAN_KEY) if CURRENT_SPAN_KEY is not None else trace.get_current_span(context)
            )
            if span is not None:
                route = route_of(span, self._server_spans)
        # the cache key: the route, then each baggage key's value (spelled out for one and two keys: no iterator)
        keys = self._baggage_keys
        if keys:
            entries: Any = context.get(BAGGAGE_KEY) if BAGGAGE_KEY is not None else baggage.get_all(context)
            if not entries:
                raw: tuple[object, ...] = (route, *self._no_baggage)
            elif len(keys) == 1:
                raw = (route, entries.get(keys[0]))
            elif len(keys) == 2:
                raw = (route, entries.get(keys[0]), entries.get(keys[1]))
            else:
                raw = (route, *map(entries.get, keys))
        else:
            raw = (route,)
        found = self._cache.get(raw)
        if found is None:
            found = self._resolve(raw)
        labels, attributes = found
        if attributes:
            span_attributes |= attributes
        return labels

    def _resolve(self, raw: tuple[object, ...]) -> tuple[tuple[str, ...], dict[str, str]]:
        """Labels and span attributes for the raw values ``(route, *baggage values)``, remembered for next time."""
        by_key = dict(zip(self._baggage_keys, raw[1:], strict=True))
        route = raw[0]
        labels = []
        attributes = {}
        capped = False
        for key, (attribute, bound) in zip(self._keys, self._bounds, strict=True):
            label, cleaned = bound.value(route if key is None else by_key.get(key))
            labels.append(label)
            if cleaned:
                attributes[attribute] = cleaned
            capped = capped or (label == OTHER and cleaned != OTHER)
        found = (tuple(labels), attributes)
        if capped:  # a value over the cap: not remembered, or a flood of new values would fill the cache
            return found
        cache = self._cache
        if len(cache) >= MAX_CACHED_COMBINATIONS:
            cache.clear()
        cache[raw] = found
        return found
