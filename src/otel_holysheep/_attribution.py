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
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from collections.abc import Sequence
from typing import Any, Final

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from otel_holysheep import _names as n
from otel_holysheep._config import ATTRIBUTION_ROUTE, AttributionSource
from otel_holysheep._safety import call_safely

_logger = logging.getLogger("otel_holysheep")

OTHER: Final = "other"
MAX_VALUE_CHARS: Final = 128
# Values never put in a label: control characters, a URL (it may carry ids or tokens), or what looks like a credential.
_REJECT: Final = re.compile(r"[\x00-\x1f\x7f]|://|^\s*(?:sk-|bearer\s|basic\s)", re.IGNORECASE)
# Traces with open server spans followed at most: a leak of unended server spans cannot grow it further.
MAX_TRACKED_TRACES: Final = 100_000
_SERVER: Final = SpanKind.SERVER
CURRENT_SPAN_KEY: str | None
try:  # the context key of the current span: read directly, without get_current_span's isinstance check on an ABC
    from opentelemetry.trace.propagation import _SPAN_KEY as CURRENT_SPAN_KEY
except ImportError:  # pragma: no cover - an API without it: get_current_span
    CURRENT_SPAN_KEY = None


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


class BoundedValues:
    """Caps the distinct values of one label per process; later values become ``other`` (one warning)."""

    __slots__ = ("_admitted", "_cache", "_label", "_limit", "_lock", "_warned")

    def __init__(self, label: str, limit: int) -> None:
        self._label = label
        self._limit = limit
        self._admitted: set[str] = set()
        # raw value -> (label value, cleaned value), for raw values seen before (bounded; a miss only costs time).
        # Raw values are hashable: strings from baggage, attribute values (str, number, tuple) or None.
        self._cache: dict[object, tuple[str, str]] = {None: ("", "")}
        self._lock = threading.Lock()
        self._warned = False

    def value(self, raw: object) -> tuple[str, str]:
        """(label value, cleaned value): the label value is bounded; the cleaned one goes on the span."""
        hit = self._cache.get(raw)
        return hit if hit is not None else self._new(raw)

    def _new(self, raw: object) -> tuple[str, str]:
        cleaned = clean_value(raw)
        if cleaned and cleaned != OTHER:
            with self._lock:
                if cleaned not in self._admitted:
                    if len(self._admitted) >= self._limit:
                        self._warn()
                        return OTHER, cleaned  # not cached: the cache stays bounded whatever the flood
                    self._admitted.add(cleaned)
        result = (cleaned, cleaned)
        if len(self._cache) < 4 * self._limit + 16:
            self._cache[raw] = result
        return result

    def _warn(self) -> None:
        if not self._warned:
            self._warned = True
            _logger.warning(
                "otel-holysheep: more than %d distinct values of attribution label %r; further values are labelled "
                "%r (raise OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_ATTRIBUTION_VALUES to see them)",
                self._limit,
                self._label,
                OTHER,
            )


class ServerSpans:
    """A span processor that keeps the open SERVER spans of this process by trace id, so the route is found when a
    child span is current: the server span of a child is the most recent open server span of its trace. Other spans
    cost one attribute read at start and end.

    It runs inside the application's span starts and ends, so it never raises (a failure is logged at DEBUG and loses
    a route, never the app's span). It takes no lock: each dict and list operation is atomic under the GIL; two server
    spans of one trace ending at the same moment may drop an entry, which loses a route, never a request.
    """

    def __init__(self) -> None:
        self.by_trace_id: dict[int, list[Any]] = {}
        self.enabled = True

    def on_start(self, span: Any, parent_context: otel_context.Context | None = None) -> None:
        try:
            if span.kind is _SERVER and self.enabled:
                trace_id = span.context.trace_id
                index = self.by_trace_id
                if trace_id in index or len(index) < MAX_TRACKED_TRACES:
                    index.setdefault(trace_id, []).append(span)
        except Exception:  # a route lost, never the app's span
            _logger.debug("otel-holysheep: could not follow a server span", exc_info=True)

    def on_end(self, span: Any) -> None:
        # ``span`` is the SDK's read-only copy of the ended span: matched by span id, not identity
        try:
            if self.by_trace_id and span.kind is _SERVER:
                context = span.context
                open_spans = self.by_trace_id.get(context.trace_id)
                if open_spans is None:
                    return
                span_id = context.span_id
                for candidate in open_spans:
                    if candidate.context.span_id == span_id:
                        open_spans.remove(candidate)  # ValueError if another thread removed it first: caught
                        break
                if not open_spans:
                    self.by_trace_id.pop(context.trace_id, None)
        except Exception:  # a route lost, never the app's span
            _logger.debug("otel-holysheep: could not forget a server span", exc_info=True)

    def shutdown(self) -> None:
        self.by_trace_id.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        del timeout_millis
        return True

    def server_span(self, span: Any) -> Any:
        open_spans = self.by_trace_id.get(span.get_span_context().trace_id)
        return open_spans[-1] if open_spans else None


_SERVER_SPANS: weakref.WeakKeyDictionary[Any, ServerSpans] = weakref.WeakKeyDictionary()
_SERVER_SPANS_LOCK = threading.Lock()


def server_spans_for(tracer_provider: Any) -> ServerSpans | None:
    """The :class:`ServerSpans` processor of ``tracer_provider`` (an SDK provider), added once per provider; ``None``
    for a provider that takes no span processors (the API's no-op or proxy providers: no span has a route then)."""
    add = getattr(tracer_provider, "add_span_processor", None)
    if add is None:
        return None
    with _SERVER_SPANS_LOCK:
        try:
            found = _SERVER_SPANS.get(tracer_provider)
        except TypeError:  # not weakly referenceable: add one, do not remember it
            found = None
        if found is None:
            found = _sdk_processor()
            add(found)
            call_safely(_SERVER_SPANS.__setitem__, tracer_provider, found)
        found.enabled = True
        return found


def _sdk_processor() -> ServerSpans:
    """A :class:`ServerSpans` that is also an SDK ``SpanProcessor`` (so it has every hook the SDK calls, ``_on_ending``
    included). Only SDK providers take processors, so the SDK is importable here; the package needs only the API."""
    from opentelemetry.sdk.trace import SpanProcessor  # noqa: PLC0415

    class _ServerSpansProcessor(ServerSpans, SpanProcessor):
        pass

    return _ServerSpansProcessor()


def route_of(span: Any, server_spans: ServerSpans | None) -> object:
    """``http.route`` of the SERVER span that is ``span`` or that ``span`` descends from; ``None`` if there is none."""
    if getattr(span, "kind", None) is not _SERVER:
        span = server_spans.server_span(span) if server_spans is not None else None
        if span is None:
            return None
    attributes = getattr(span, "attributes", None)
    return attributes.get(n.HTTP_ROUTE) if attributes is not None else None


class Attribution:
    """Reads the configured attribution labels' values for one request from the current context."""

    __slots__ = ("_items", "_server_spans", "empty", "labels")

    def __init__(
        self, sources: Sequence[AttributionSource], max_values: int, server_spans: ServerSpans | None = None
    ) -> None:
        self.labels = tuple(s.label for s in sources)
        self.empty = ("",) * len(self.labels)  # the values when reading them failed
        self._items = tuple(
            (
                s.source == ATTRIBUTION_ROUTE,
                s.key,
                n.HOLYSHEEP_ATTRIBUTION_PREFIX + s.label,
                BoundedValues(s.label, max_values),
            )
            for s in sources
        )
        self._server_spans = server_spans

    def capture(self, span_attributes: dict[str, Any]) -> tuple[str, ...]:
        """The label values, in ``labels`` order; the non-empty cleaned values are added to ``span_attributes``."""
        context = otel_context.get_current()
        entries: Any = None  # the baggage entries, read once for all baggage keys
        values = []
        for is_route, key, attribute, bound in self._items:
            if is_route:
                key_of_span = CURRENT_SPAN_KEY
                span = context.get(key_of_span) if key_of_span is not None else trace.get_current_span(context)
                raw = route_of(span, self._server_spans) if span is not None else None
            else:
                if entries is None:
                    entries = baggage.get_all(context)
                raw = entries.get(key)
            label, cleaned = bound.value(raw)
            values.append(label)
            if cleaned:
                span_attributes[attribute] = cleaned
        return tuple(values)
