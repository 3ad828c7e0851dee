"""Incremental scanners of response bodies as the application reads them: JSON (whole, or head and tail) and SSE."""

from __future__ import annotations

import json
from typing import Any

from otel_holysheep._parsing._body import (
    _DECODER,
    _FINISH_REASON,
    _ID_FIELD,
    _INTERESTING,
    _MODEL_FIELD,
    _RESPONSES_TERMINAL,
    _TOOL_CALLS,
    _TOOL_FRAGMENT,
    _USAGE_KEY,
    FULL_PARSE_BYTES,
    HEAD_BYTES,
    MAX_FINISH_REASONS,
    MAX_SSE_LINE,
    TAIL_BYTES,
    ResponseInfo,
    _absorb_object,
    _absorb_response_object,
    _error_type,
    usage_from_object,
)


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
    for choice, reason in enumerate(_FINISH_REASON.findall(tail)[:MAX_FINISH_REASONS]):
        info.add_finish(choice, reason.decode())


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
            if _TOOL_CALLS.search(data) is None:
                info.content_chunks += 1
                return False
            # JSON escapes the quotes inside strings: two "index" keys are the choice's and the one call's
            fragment = _TOOL_FRAGMENT.search(data)
            if fragment is not None and data.count(b'"index"') == 2:
                info.add_tool_call(int(fragment.group(1)), int(fragment.group(2)))
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
