"""Request bodies and what response bodies say: the values parsed, bounded and never raising on bad input."""

from __future__ import annotations

import json
import re
from typing import Any, Final, NamedTuple

FULL_PARSE_BYTES: Final = 64 * 1024  # JSON bodies up to this size are parsed whole
HEAD_BYTES: Final = 16 * 1024  # larger bodies: keep the head (id, model) ...
TAIL_BYTES: Final = 64 * 1024  # ... and the tail (usage, model, finish reasons)
MAX_SSE_LINE: Final = 1024 * 1024  # a longer SSE line is dropped, never buffered
MAX_TOKENS: Final = 10**10  # a larger "token count" is not a token count
MAX_FINISH_REASONS: Final = 16
MAX_TOOL_CALLS: Final = 128  # distinct tool calls remembered per response
MAX_CHOICE_INDEX: Final = 1024
MAX_GATEWAY_COST: Final = 1e6  # USD: a larger "cost" of one call is not a cost

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
# A stream event with tool call fragments, and the shape OpenAI sends them in (one choice, one call per event): the
# call's index is read from the bytes; any other shape is parsed in full.
_TOOL_CALLS: Final = re.compile(rb'"tool_calls"\s*:\s*\[')
_TOOL_FRAGMENT: Final = re.compile(
    rb'"choices"\s*:\s*\[\s*\{\s*"index"\s*:\s*(\d{1,4})\s*,\s*"delta"\s*:\s*\{\s*"tool_calls"\s*:\s*\[\s*\{\s*'
    rb'"index"\s*:\s*(\d{1,4})\s*[,}]'
)
_RESPONSES_TERMINAL: Final = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
# A Responses API ``incomplete`` response's ``incomplete_details.reason`` as the chat finish reason it means.
_INCOMPLETE_REASONS: Final = {"max_output_tokens": "length", "content_filter": "content_filter"}
_DECODER = json.JSONDecoder()


class Usage(NamedTuple):
    """Provider-reported token counts (``None`` where the provider said nothing)."""

    prompt: int | None
    completion: int | None
    cached: int | None = None
    reasoning: int | None = None
    cache_write: int | None = None  # prompt tokens written to the prompt cache (part of prompt, like cached)
    gateway_cost: float | None = None  # USD the gateway itself reported for the call (``usage.cost``)


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
        "finishes",
        "malformed",
        "output_text",
        "response_id",
        "response_model",
        "terminal",
        "tool_calls",
        "usage",
    )

    def __init__(self) -> None:
        self.response_id: str | None = None
        self.response_model: str | None = None
        # choice index -> its finish reason; in a stream the last event carrying one wins
        self.finishes: dict[int, str] = {}
        self.tool_calls: set[tuple[int, int]] = set()  # (choice index, tool call index), at most MAX_TOOL_CALLS
        self.usage: Usage | None = None
        self.terminal = False  # SSE: a terminating event ([DONE], response.completed, ...) was seen
        self.content_chunks = 0  # SSE: events carrying output content
        self.malformed = False
        self.error: str | None = None  # an error object inside a 2xx body / stream
        self.output_text: list[str] | None = None  # only when content capture is on

    @property
    def finish_reasons(self) -> list[str]:
        """The finish reason of each choice, in the order the choices first finished."""
        return list(self.finishes.values())

    def add_finish(self, choice: int, reason: str) -> None:
        if choice in self.finishes or len(self.finishes) < MAX_FINISH_REASONS:
            self.finishes[choice] = reason

    def add_tool_call(self, choice: int, index: int) -> None:
        if len(self.tool_calls) < MAX_TOOL_CALLS:
            self.tool_calls.add((choice, index))


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
    cached = cache_write = None
    if isinstance(prompt_details, dict):
        cached = _count(prompt_details.get("cached_tokens"))
        cache_write = _count(prompt_details.get("cache_write_tokens"))
    reasoning = _count(completion_details.get("reasoning_tokens")) if isinstance(completion_details, dict) else None
    # Anthropic-style counts passed through by OpenAI-compatible gateways: only looked for when the usage has them
    # (a dict lookup each, no cost for the usage objects OpenAI sends).
    if cache_write is None and "cache_creation_input_tokens" in usage:
        cache_write = _count(usage["cache_creation_input_tokens"])
    if cached is None and "cache_read_input_tokens" in usage:
        cached = _count(usage["cache_read_input_tokens"])
    cost = usage.get("cost")
    if cost is not None:
        cost = _usd(cost)
    return Usage(prompt, completion, cached, reasoning, cache_write, cost)


def _usd(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= MAX_GATEWAY_COST:
        return float(value)  # NaN fails the comparison above; infinity is over the cap
    return None


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
        for position, choice in enumerate(choices):
            if not isinstance(choice, dict):
                continue
            index = _index(choice.get("index"), position)
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and reason:
                info.add_finish(index, reason)
            message = choice.get("message") or choice.get("delta")
            if isinstance(message, dict) and message.get("tool_calls"):
                _absorb_tool_calls(info, index, message["tool_calls"])
            if capture:
                message = message or {}
                text = message.get("content") if isinstance(message, dict) else None
                text = text if isinstance(text, str) else choice.get("text")
                if isinstance(text, str) and text:
                    _add_text(info, text)


def _index(value: Any, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_CHOICE_INDEX:
        return value
    return default


def _absorb_tool_calls(info: ResponseInfo, choice: int, calls: Any) -> None:
    """A message's tool calls, or a stream delta's fragments of them (one call's fragments share its index)."""
    if not isinstance(calls, list):
        return
    for position, call in enumerate(calls):
        if isinstance(call, dict):
            info.add_tool_call(choice, _index(call.get("index"), position))


def _absorb_response_object(info: ResponseInfo, obj: dict[str, Any], capture: bool) -> None:
    _absorb_common(info, obj, first_id_wins=False)
    status = obj.get("status")
    if isinstance(status, str) and status not in ("in_progress", "queued") and not info.finishes:
        if status == "incomplete":  # why: cut at max_output_tokens (a truncation, as chat's "length"), or filtered
            details = obj.get("incomplete_details")
            reason = details.get("reason") if isinstance(details, dict) else None
            status = _INCOMPLETE_REASONS.get(reason, status) if isinstance(reason, str) else status
        info.add_finish(0, status)
    output = obj.get("output")
    if isinstance(output, list):
        for position, item in enumerate(output):
            if isinstance(item, dict) and item.get("type") == "function_call":
                info.add_tool_call(0, position)
    if capture and isinstance(output, list):
        for item in output:
            for part in (item.get("content") or []) if isinstance(item, dict) else []:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    _add_text(info, part["text"])


def _error_type(error: dict[str, Any]) -> str:
    kind = error.get("type") or error.get("code") or "error"
    return str(kind)[:64]


def request_messages(body: bytes, max_chars: int) -> str | None:
    """The request's ``messages`` / ``input`` / ``prompt`` as compact JSON text, capped at ``max_chars``."""
    data = _json_object(body)
    if data is None:
        return None
    for key in ("messages", "input", "prompt"):
        if key in data:
            return cap_text(json.dumps(data[key], ensure_ascii=False, separators=(",", ":")), max_chars)
    return None
