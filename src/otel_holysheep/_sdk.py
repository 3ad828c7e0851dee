"""The OpenTelemetry API and SDK internals otel-holysheep reads, each with its public-API fallback, in one place.

Attribution runs inside every gateway call and its span processor inside every span the application starts, so it
reads a few private fields instead of the public API where that saves Python-level calls. Each read here is chosen
once, at import, or falls back per object (a span of another SDK, an API release without the field);
``tests/unit/test_sdk.py`` are the canaries that fail loudly when an SDK release changes a field, and the
attribution tests run every fallback.

What is read: the current span's and the baggage's context keys (``trace.propagation._SPAN_KEY``,
``baggage._BAGGAGE_KEY``), the runtime context's own context variable (``_RUNTIME_CONTEXT._current_context``), and an
SDK span's ``_kind``, ``_context`` (a tuple, trace id first), ``_end_time`` and ``_attributes._dict``. The last four
are also read inline on the two hot paths (``ServerSpans.on_start`` / ``sweep`` and ``_attribution.route_of``), where
a function call per read is what the fields save; the canaries cover those reads too.

What is written: ``set_attributes`` adds a finished call's attributes straight into an SDK span's attribute dict
(under the span's and the dict's locks, as ``Span.set_attributes`` takes them) when nothing the SDK would do to them
applies: no value-length limit, room under the count limit, the span not ended. The SDK's per-value validation is
the largest single cost a gateway call pays for its span (a quarter of the instrumentation's own work per call), and
the values the recorder writes are valid by construction. Any other case goes through ``Span.set_attributes``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final

from opentelemetry import context as otel_context

_BoundedAttributes: Any
try:  # the SDK span's attribute container
    from opentelemetry.attributes import BoundedAttributes as _BoundedAttributes
except ImportError:  # pragma: no cover - an API without it: Span.set_attributes
    _BoundedAttributes = None

_ABSENT: Final = object()  # a span without the SDK's field: read it through the public API

CURRENT_SPAN_KEY: str | None
try:  # the context key of the current span: read directly, without get_current_span's isinstance check on an ABC
    from opentelemetry.trace.propagation import _SPAN_KEY as CURRENT_SPAN_KEY
except ImportError:  # pragma: no cover - an API without it: get_current_span
    CURRENT_SPAN_KEY = None
BAGGAGE_KEY: str | None
try:  # the context key of the baggage entries (a dict): read directly, without get_all's copy into a mapping proxy
    from opentelemetry.baggage import _BAGGAGE_KEY as BAGGAGE_KEY
except ImportError:  # pragma: no cover - an API without it: get_all
    BAGGAGE_KEY = None


def current_context_reader() -> Callable[[], otel_context.Context]:
    """The cheapest way to read the current OpenTelemetry context: the ``get`` of the API's own context variable when
    the runtime context is the default contextvars one, else ``opentelemetry.context.get_current``."""
    try:
        variable = otel_context._RUNTIME_CONTEXT._current_context  # type: ignore[attr-defined]
    except AttributeError:  # another runtime context (OTEL_PYTHON_CONTEXT) or API release
        return otel_context.get_current
    return variable.get if isinstance(variable, ContextVar) else otel_context.get_current


def ended(span: Any) -> bool:
    """Whether ``span`` has ended: the SDK span's end time, else ``not is_recording()``."""
    end_time = getattr(span, "_end_time", _ABSENT)
    if end_time is _ABSENT:
        return not span.is_recording()
    return end_time is not None


def span_context(span: Any) -> Any:
    """The span context of an SDK span (its field) or of any span (``get_span_context``, or a read-only span's
    ``context``)."""
    context = getattr(span, "_context", None)
    if context is not None:
        return context
    get = getattr(span, "get_span_context", None)
    return get() if get is not None else span.context


def attribute(span: Any, key: str) -> object:
    """An attribute of a span: from the SDK span's attribute dict, else through its public ``attributes``."""
    values = getattr(getattr(span, "_attributes", None), "_dict", None)  # the SDK's BoundedAttributes' dict
    if values is None:
        values = getattr(span, "attributes", None)
        if values is None:
            return None
    return values.get(key)


def set_attributes(span: Any, attributes: dict[str, Any]) -> None:
    """``span.set_attributes(attributes)`` for values that are already valid attribute values (str, bool, int, float,
    or a tuple of one of them): written into an SDK span's dict directly where the SDK would store them unchanged."""
    if not _store(span, attributes):
        span.set_attributes(attributes)


def _store(span: Any, attributes: dict[str, Any]) -> bool:
    bounded: Any = getattr(span, "_attributes", None)
    if type(bounded) is not _BoundedAttributes or bounded.max_value_len is not None or bounded._immutable:
        return False  # another SDK, a value-length limit to apply, or a read-only span
    lock = getattr(span, "_lock", None)
    if lock is None:  # pragma: no cover - an SDK span without its lock
        return False
    with lock:
        if getattr(span, "_end_time", _ABSENT) is not None:  # ended (the SDK warns), or a span without the field
            return False
        values = bounded._dict
        maxlen = bounded.maxlen
        if maxlen is not None and len(values) + len(attributes) > maxlen:
            return False  # the SDK drops the oldest to make room, and counts them
        with bounded._lock:
            values.update(attributes)
    return True
