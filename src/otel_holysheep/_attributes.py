"""Bounded label values and attribute builders: every label value comes from a closed set or a capped set.

Pure module: no OpenTelemetry or httpx imports.
"""

from __future__ import annotations

import logging
import re
import threading
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


class ModelLabels:
    """Caps the distinct ``model`` label values per process; later models become ``other`` (one warning)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: dict[str, str] = {}
        self._lock = threading.Lock()
        self._warned = False

    def label(self, model: str | None) -> str:
        if not model:
            return UNKNOWN_MODEL
        try:
            return self._seen[model]
        except KeyError:
            pass
        value = model.strip()
        if len(value) > MAX_MODEL_CHARS or not _MODEL_OK.match(value):
            return OTHER  # not a model name we would put in a label
        with self._lock:
            if model in self._seen:
                return self._seen[model]
            if len(self._seen) >= self._limit:
                if not self._warned:
                    self._warned = True
                    _logger.warning(
                        "otel-holysheep: more than %d distinct models seen; further models are labelled %r "
                        "(raise OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS to see them)",
                        self._limit,
                        OTHER,
                    )
                return OTHER
            self._seen[model] = value
            return value
