"""Bounded label values and attribute builders: every label value comes from a closed set or a capped set.

Pure module: no OpenTelemetry or httpx imports.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Final

_logger = logging.getLogger("otel_holysheep")

UNKNOWN_MODEL: Final = "unknown"
OTHER: Final = "other"
MAX_MODEL_CHARS: Final = 64
_MODEL_OK: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")

# endpoint label -> gen_ai.operation.name
ENDPOINTS: Final = {
    "chat/completions": "chat",
    "completions": "text_completion",
    "embeddings": "embeddings",
    "responses": "chat",
    "models": "models",
}

STATUS_SUCCESS: Final = "success"
STATUS_FAILURE: Final = "failure"  # the gateway answered with an HTTP error status
STATUS_TIMEOUT: Final = "timeout"
STATUS_ERROR: Final = "error"  # any other exception (connection, interrupted body, cancellation)

ERROR_TIMEOUT: Final = "timeout"
ERROR_CONNECT: Final = "connect_error"
ERROR_STREAM_INTERRUPTED: Final = "stream_interrupted"
ERROR_EXCEPTION: Final = "exception"
ERROR_CANCELLED: Final = "cancelled"

OUTCOME_COMPLETED: Final = "completed"
OUTCOME_CANCELLED: Final = "cancelled"
OUTCOME_INTERRUPTED: Final = "interrupted"
OUTCOME_TIMEOUT: Final = "timeout"

RETRY_UNKNOWN: Final = "unknown"

# The finish_reason label: OpenAI's reasons, a Responses API "completed" as "stop", anything else "other".
FINISH_REASONS: Final = frozenset({"stop", "length", "content_filter", "tool_calls", "function_call", OTHER})
_FINISH_ALIASES: Final = {"completed": "stop"}


def endpoint_of(path: str, base_path: str) -> str:
    """The bounded endpoint label of a request path under ``base_path`` (ids are never part of it)."""
    rest = path[len(base_path) :].strip("/")
    if rest in ENDPOINTS:
        return rest
    head = rest.split("/", 1)[0]
    if head in ("models", "responses"):  # models/{id}, responses/{id}, responses/{id}/input_items
        return head
    return OTHER


def operation_of(endpoint: str) -> str:
    return ENDPOINTS.get(endpoint, OTHER)


def http_error_type(status_code: int) -> str:
    return f"http_{status_code}" if 100 <= status_code <= 599 else ERROR_EXCEPTION


def finish_reason(raw: str) -> str:
    """The bounded finish_reason label of a response's finish reason."""
    reason = _FINISH_ALIASES.get(raw, raw)
    return reason if reason in FINISH_REASONS else OTHER


def retry_reason(error_type: str | None) -> str:
    """The retry reason label from the previous attempt's error type (5xx grouped)."""
    if not error_type:
        return RETRY_UNKNOWN
    if error_type.startswith("http_5"):
        return "http_5xx"
    if error_type in ("http_429", "http_408", "http_409", ERROR_TIMEOUT, ERROR_CONNECT, ERROR_STREAM_INTERRUPTED):
        return error_type
    if error_type.startswith("http_4"):
        return "http_4xx"
    return ERROR_EXCEPTION if error_type == ERROR_EXCEPTION else RETRY_UNKNOWN


def model_value(raw: object) -> str:
    """The ``model`` label value of a request's or response's model name: ``unknown`` when there is none, ``other``
    for one we would not put in a label (too long, or not a model name's characters)."""
    if not raw or not isinstance(raw, str):
        return UNKNOWN_MODEL
    value = raw.strip()
    if len(value) > MAX_MODEL_CHARS or not _MODEL_OK.match(value):
        return OTHER
    return value


class BoundedValues:
    """Caps the distinct values of one label per process; later values become ``other`` (one warning).

    ``clean`` turns a raw value into the value shown: ``clean(None)`` (no value) and ``other`` (never shown) are not
    counted against the cap. ``value`` gives (label value, cleaned value): over the cap the label is ``other`` while
    the cleaned value can still go on a span. Raw values seen before are answered from a bounded cache.
    """

    __slots__ = ("_admitted", "_cache", "_clean", "_limit", "_lock", "_uncounted", "_warned", "_warning")

    def __init__(self, limit: int, clean: Callable[[object], str], warning: str) -> None:
        self._limit = limit
        self._clean = clean
        self._warning = warning  # logged once, the first time a value is over the cap
        none = clean(None)
        self._uncounted = frozenset({none, OTHER})
        self._admitted: set[str] = set()
        # raw value -> (label value, cleaned value). Raw values are hashable: strings from requests or baggage,
        # attribute values (str, number, tuple) or None.
        self._cache: dict[object, tuple[str, str]] = {None: (none, none)}
        self._lock = threading.Lock()
        self._warned = False

    def value(self, raw: object) -> tuple[str, str]:
        """(label value, cleaned value): the label value is bounded; the cleaned one goes on the span."""
        hit = self._cache.get(raw)
        return hit if hit is not None else self._new(raw)

    def label(self, raw: object) -> str:
        """The bounded label value alone."""
        hit = self._cache.get(raw)
        return (hit if hit is not None else self._new(raw))[0]

    def _new(self, raw: object) -> tuple[str, str]:
        cleaned = self._clean(raw)
        if cleaned not in self._uncounted:
            with self._lock:
                if cleaned not in self._admitted:
                    if len(self._admitted) >= self._limit:
                        if not self._warned:
                            self._warned = True
                            _logger.warning("%s", self._warning)
                        return OTHER, cleaned  # not cached: the cache stays bounded whatever the flood
                    self._admitted.add(cleaned)
        result = (cleaned, cleaned)
        if len(self._cache) < 4 * self._limit + 16:
            self._cache[raw] = result
        return result


def model_labels(limit: int) -> BoundedValues:
    """The ``model`` label values of a process: at most ``limit`` distinct ones."""
    return BoundedValues(
        limit,
        model_value,
        f"otel-holysheep: more than {limit} distinct models seen; further models are labelled {OTHER!r} "
        "(raise OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS to see them)",
    )
