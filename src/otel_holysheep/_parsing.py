"""Pure parsing: request fields, response usage from JSON bodies and SSE streams, content decoding.

No OpenTelemetry or httpx imports. Every parser works on bytes as the application consumes them, keeps only bounded
state (a capped line buffer for SSE; a capped body, or its head and tail, for JSON) and never raises on bad input:
malformed or oversized input simply yields less information.
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any, Final, NamedTuple, Protocol

FULL_PARSE_BYTES: Final = 64 * 1024  # JSON bodies up to this size are parsed whole
HEAD_BYTES: Final = 16 * 1024  # larger bodies: keep the head (id, model) ...
TAIL_BYTES: Final = 64 * 1024  # ... and the tail (usage, model, finish reasons)
MAX_SSE_LINE: Final = 1024 * 1024  # a longer SSE line is dropped, never buffered
MAX_TOKENS: Final = 10**10  # a larger "token count" is not a token count
MAX_FINISH_REASONS: Final = 16

_MODEL_FIELD: Final = re.compile(rb'"model"\s*:\s*"([^"\\]{1,256})"')
_ID_FIELD: Final = re.compile(rb'"id"\s*:\s*"([^"\\]{1,256})"')
_STREAM_TRUE: Final = re.compile(rb'"stream"\s*:\s*true')
_INCLUDE_USAGE_FIELD: Final = re.compile(rb'"include_usage"\s*:')
_USAGE_KEY: Final = re.compile(rb'"usage"\s*:\s*')
_FINISH_REASON: Final = re.compile(rb'"finish_reason"\s*:\s*"([a-z_]{1,40})"')
# An SSE event worth a full parse once the first content has been seen: usage, a finish reason, an error or the end
# of a Responses API stream. JSON escapes quotes inside strings, so these byte patterns cannot match inside content.
_INTERESTING: Final = re.compile(
    rb'"(?:usage"\s*:\s*\{|finish_reason"\s*:\s*"|error"\s*:\s*\{'
    rb'|type"\s*:\s*"(?:response\.(?:completed|incomplete|failed)|error)")'
)
_RESPONSES_TERMINAL: Final = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
_DECODER = json.JSONDecoder()


class Usage(NamedTuple):
    """Provider-reported token counts (``None`` where the provider said nothing)."""

    prompt: int | None
    completion: int | None
    cached: int | None = None
    reasoning: int | None = None


class RequestInfo(NamedTuple):
    """What the request body says: model, whether it streams, whether it already asks for stream usage."""

    model: str | None
    stream: bool
    has_include_usage: bool


class ResponseInfo:
    """What a response body told us; filled in by the scanners."""

    __slots__ = (
        "content_chunks",
        "error",
        "finish_reasons",
        "malformed",
        "output_text",
        "response_id",
        "response_model",
        "terminal",
        "usage",
    )

    def __init__(self) -> None:
        self.response_id: str | None = None
        self.response_model: str | None = None
        self.finish_reasons: list[str] = []
        self.usage: Usage | None = None
        self.terminal = False  # SSE: a terminating event ([DONE], response.completed, ...) was seen
        self.content_chunks = 0  # SSE: events carrying output content
        self.malformed = False
        self.error: str | None = None  # an error object inside a 2xx body / stream
        self.output_text: list[str] | None = None  # only when content capture is on


def parse_request(body: bytes) -> RequestInfo:
    """Top-level ``model`` / ``stream`` of a JSON request body, by byte scanning (no full parse)."""
    match = _MODEL_FIELD.search(body)
    model = match.group(1).decode("utf-8", "replace") if match else None
    return RequestInfo(model, _STREAM_TRUE.search(body) is not None, _INCLUDE_USAGE_FIELD.search(body) is not None)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def cap_text(text: str, max_chars: int) -> str:
    """``text``, cut to ``max_chars`` with an ellipsis when longer."""
    return text if len(text) <= max_chars else text[: max_chars - 1] + "\u2026"


def add_stream_usage_option(body: bytes) -> bytes | None:
    """``body`` with ``stream_options.include_usage = true`` added, or ``None`` if it is not a JSON object."""
    data = _json_object(body)
    if data is None:
        return None
    options = data.get("stream_options")
    if options is None:
        data["stream_options"] = {"include_usage": True}
    elif isinstance(options, dict) and "include_usage" not in options:
        options["include_usage"] = True
    else:
        return None
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _count(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS:
        return value
    return None


def usage_from_object(usage: Any) -> Usage | None:
    """A :class:`Usage` from an OpenAI-style usage object (chat, completions, embeddings or Responses API)."""
    if not isinstance(usage, dict):
        return None
    if "input_tokens" in usage or "output_tokens" in usage:  # Responses API
        prompt, completion = _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))
        prompt_details, completion_details = usage.get("input_tokens_details"), usage.get("output_tokens_details")
    else:
        prompt, completion = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
        prompt_details, completion_details = usage.get("prompt_tokens_details"), usage.get("completion_tokens_details")
    if prompt is None and completion is None:
        return None
    cached = _count(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else None
    reasoning = _count(completion_details.get("reasoning_tokens")) if isinstance(completion_details, dict) else None
    return Usage(prompt, completion, cached, reasoning)


def _absorb_common(info: ResponseInfo, obj: dict[str, Any], first_id_wins: bool) -> None:
    """The fields every response shape shares: id, model, usage, an error object."""
    rid, model = obj.get("id"), obj.get("model")
    if isinstance(rid, str) and not (first_id_wins and info.response_id is not None):
        info.response_id = rid
    if isinstance(model, str) and model:
        info.response_model = model
    usage = usage_from_object(obj.get("usage"))
    if usage is not None:
        info.usage = usage
    error = obj.get("error")
    if isinstance(error, dict):
        info.error = _error_type(error)


def _add_text(info: ResponseInfo, text: str) -> None:
    if info.output_text is None:
        info.output_text = []
    info.output_text.append(text)


def _absorb_object(info: ResponseInfo, obj: Any, capture: bool) -> None:
    """Take id, model, finish reasons, usage and (if capturing) message text from a parsed response object."""
    if not isinstance(obj, dict):
        return
    if obj.get("object") == "response" or "output" in obj:  # Responses API object
        _absorb_response_object(info, obj, capture)
        return
    _absorb_common(info, obj, first_id_wins=True)
    choices = obj.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and len(info.finish_reasons) < MAX_FINISH_REASONS:
                info.finish_reasons.append(reason)
            if capture:
                message = choice.get("message") or choice.get("delta") or {}
                text = message.get("content") if isinstance(message, dict) else None
                text = text if isinstance(text, str) else choice.get("text")
                if isinstance(text, str) and text:
                    _add_text(info, text)


def _absorb_response_object(info: ResponseInfo, obj: dict[str, Any], capture: bool) -> None:
    _absorb_common(info, obj, first_id_wins=False)
    status = obj.get("status")
    if isinstance(status, str) and status not in ("in_progress", "queued") and not info.finish_reasons:
        info.finish_reasons.append(status)
    if capture and isinstance(obj.get("output"), list):
        for item in obj["output"]:
            for part in (item.get("content") or []) if isinstance(item, dict) else []:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    _add_text(info, part["text"])


def _error_type(error: dict[str, Any]) -> str:
    kind = error.get("type") or error.get("code") or "error"
    return str(kind)[:64]


class JsonScanner:
    """Collects a JSON body with bounded memory and extracts usage when it ends."""

    __slots__ = ("_capture", "_head", "_parts", "_size", "_tail")

    def __init__(self, capture: bool = False) -> None:
        self._parts: list[bytes] | None = []
        self._size = 0
        self._head = b""
        self._tail = bytearray()
        self._capture = capture

    def feed(self, data: bytes) -> None:
        self._size += len(data)
        parts = self._parts
        if parts is not None:
            parts.append(data)
            if self._size <= FULL_PARSE_BYTES:
                return
            whole = b"".join(parts)  # crossing the limit: switch to head + tail, once
            self._parts = None
            self._head = whole[:HEAD_BYTES]
            self._tail = bytearray(whole[-TAIL_BYTES:])
            return
        tail = self._tail
        tail += data
        if len(tail) > 2 * TAIL_BYTES:
            del tail[:-TAIL_BYTES]

    def finish(self) -> ResponseInfo:
        info = ResponseInfo()
        if self._parts is not None:
            try:
                obj = json.loads(b"".join(self._parts))
            except ValueError:
                info.malformed = True
                return info
            _absorb_object(info, obj, self._capture)
            return info
        _scan_head_tail(info, self._head, bytes(self._tail[-TAIL_BYTES:]))
        return info


def _scan_head_tail(info: ResponseInfo, head: bytes, tail: bytes) -> None:
    """Usage, model, id and finish reasons of a large body from its first and last bytes only."""
    match = _ID_FIELD.search(head)
    if match:
        info.response_id = match.group(1).decode("utf-8", "replace")
    for text in (tail, head):
        usage_at = [m.end() for m in _USAGE_KEY.finditer(text)]
        for start in reversed(usage_at):
            try:
                obj, _ = _DECODER.raw_decode(text[start:].decode("utf-8", "replace"))
            except ValueError:
                continue
            usage = usage_from_object(obj)
            if usage is not None:
                info.usage = usage
                break
        if info.usage is not None:
            break
    models = _MODEL_FIELD.findall(tail) or _MODEL_FIELD.findall(head)
    if models:
        info.response_model = models[-1].decode("utf-8", "replace")
    info.finish_reasons = [r.decode() for r in _FINISH_REASON.findall(tail)][:MAX_FINISH_REASONS]


class SseScanner:
    """Incremental Server-Sent Events parser for chat, completions and Responses API streams.

    ``feed`` returns ``True`` for the chunk that brought the first output content (the time-to-first-token moment).
    Events before the first content are parsed in full; after it only events that may carry usage, a finish reason,
    an error or the end of the stream are, the rest are just counted.
    """

    __slots__ = ("_capture", "_data", "_event", "_pending", "_seen_content", "_skipping", "info")

    def __init__(self, capture: bool = False) -> None:
        self.info = ResponseInfo()
        self._pending = b""
        self._data: list[bytes] = []
        self._event: bytes | None = None
        self._seen_content = False
        self._skipping = False  # inside an over-long line that is being dropped
        self._capture = capture

    def feed(self, chunk: bytes) -> bool:
        if self._pending:
            chunk = self._pending + chunk
        lines = chunk.split(b"\n")
        pending = lines.pop()
        if len(pending) > MAX_SSE_LINE:
            pending = b""
            self._skipping = True
        self._pending = pending
        first = False
        for raw_line in lines:
            if self._skipping:  # the end of a dropped line: drop the event it belonged to
                self._skipping = False
                self._data.clear()
                continue
            line = raw_line[:-1] if raw_line[-1:] == b"\r" else raw_line
            if not line:
                if self._data and self._dispatch():
                    first = True
                continue
            if line[:5] == b"data:":
                value = line[5:]
                self._data.append(value[1:] if value[:1] == b" " else value)
            elif line[:6] == b"event:":
                self._event = line[6:].strip()
        return first

    def finish(self) -> ResponseInfo:
        """End of stream: a final event without its blank line still counts (some servers omit it)."""
        if self._pending and not self._skipping:
            line = self._pending.rstrip(b"\r")
            if line[:5] == b"data:":
                value = line[5:]
                self._data.append(value[1:] if value[:1] == b" " else value)
        self._pending = b""
        if self._data:
            self._dispatch()
        return self.info

    def _dispatch(self) -> bool:
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        self._data = []
        event, self._event = self._event, None
        info = self.info
        if data == b"[DONE]":
            info.terminal = True
            return False
        if self._seen_content and not self._capture and _INTERESTING.search(data) is None:
            info.content_chunks += 1
            return False
        try:
            obj = json.loads(data)
        except ValueError:
            info.malformed = True
            return False
        if not isinstance(obj, dict):
            return False
        return self._absorb_event(obj, event)

    def _absorb_event(self, obj: dict[str, Any], event: bytes | None) -> bool:
        info = self.info
        kind = obj.get("type")
        if not isinstance(kind, str) and event:
            kind = event.decode("utf-8", "replace")
        if isinstance(kind, str) and (kind.startswith("response.") or kind == "error"):
            return self._absorb_responses_event(obj, kind)
        _absorb_object(info, obj, self._capture)
        if _has_content(obj):
            info.content_chunks += 1
            if not self._seen_content:
                self._seen_content = True
                return True
        return False

    def _absorb_responses_event(self, obj: dict[str, Any], kind: str) -> bool:
        info = self.info
        if kind in _RESPONSES_TERMINAL:
            info.terminal = True
            if kind == "error":
                error = obj.get("error")
                info.error = _error_type(error if isinstance(error, dict) else obj)
        response = obj.get("response")
        if isinstance(response, dict):
            _absorb_response_object(info, response, self._capture and kind in _RESPONSES_TERMINAL)
        if kind.endswith(".delta") and obj.get("delta"):
            info.content_chunks += 1
            if not self._seen_content:
                self._seen_content = True
                return True
        return False


def _has_content(obj: dict[str, Any]) -> bool:
    choices = obj.get("choices")
    if not isinstance(choices, list):
        return False
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        if choice.get("text"):  # legacy completions
            return True
        delta = choice.get("delta")
        if isinstance(delta, dict) and (
            delta.get("content")
            or delta.get("tool_calls")
            or delta.get("refusal")
            or delta.get("reasoning_content")
            or delta.get("reasoning")
            or delta.get("function_call")
        ):
            return True
    return False


class Decoder(Protocol):
    def decompress(self, data: bytes) -> bytes: ...


def decoder_for(content_encoding: str) -> Decoder | None:
    """An incremental decoder for ``content-encoding``; ``None`` for identity or an encoding we cannot read."""
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if encoding == "deflate":
        return _Deflate()
    if encoding == "br":
        try:
            import brotli  # noqa: PLC0415 - optional
        except ImportError:
            return None
        return _Brotli(brotli.Decompressor())
    if encoding == "zstd":
        try:
            import zstandard  # noqa: PLC0415 - optional
        except ImportError:
            return None
        return zstandard.ZstdDecompressor().decompressobj()
    return None


class _Deflate:
    """Deflate as servers send it: zlib-wrapped, or raw (the same fallback httpx makes)."""

    def __init__(self) -> None:
        self._obj: Any = zlib.decompressobj()
        self._first = True

    def decompress(self, data: bytes) -> bytes:
        if self._first:
            self._first = False
            try:
                return self._obj.decompress(data)  # type: ignore[no-any-return]
            except zlib.error:
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._obj.decompress(data)  # type: ignore[no-any-return]


class _Brotli:
    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def decompress(self, data: bytes) -> bytes:
        return self._obj.process(data)  # type: ignore[no-any-return]


def request_messages(body: bytes, max_chars: int) -> str | None:
    """The request's ``messages`` / ``input`` / ``prompt`` as compact JSON text, capped at ``max_chars``."""
    data = _json_object(body)
    if data is None:
        return None
    for key in ("messages", "input", "prompt"):
        if key in data:
            return cap_text(json.dumps(data[key], ensure_ascii=False, separators=(",", ":")), max_chars)
    return None
