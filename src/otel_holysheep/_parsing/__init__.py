"""Pure parsing: request fields, response usage from JSON bodies and SSE streams, content decoding, response headers.

No OpenTelemetry or httpx imports. Every parser works on bytes as the application consumes them, keeps only bounded
state (a capped line buffer for SSE; a capped body, or its head and tail, for JSON) and never raises on bad input:
malformed or oversized input simply yields less information.
"""

from __future__ import annotations

from otel_holysheep._parsing._body import (
    FULL_PARSE_BYTES,
    HEAD_BYTES,
    MAX_FINISH_REASONS,
    MAX_SSE_LINE,
    MAX_TOKENS,
    TAIL_BYTES,
    RequestInfo,
    ResponseInfo,
    Usage,
    add_stream_usage_option,
    cap_text,
    parse_request,
    request_messages,
    usage_from_object,
)
from otel_holysheep._parsing._decoding import Decoder, decoder_for
from otel_holysheep._parsing._scanners import JsonScanner, SseScanner

__all__ = [
    "FULL_PARSE_BYTES",
    "HEAD_BYTES",
    "MAX_FINISH_REASONS",
    "MAX_SSE_LINE",
    "MAX_TOKENS",
    "TAIL_BYTES",
    "Decoder",
    "JsonScanner",
    "RequestInfo",
    "ResponseInfo",
    "SseScanner",
    "Usage",
    "add_stream_usage_option",
    "cap_text",
    "decoder_for",
    "parse_request",
    "request_messages",
    "usage_from_object",
]
