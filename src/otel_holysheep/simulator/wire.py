"""OpenAI wire-format payloads: ids, token counting, usage, errors and response bodies."""

from __future__ import annotations

import base64
import math
import random
import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

KNOWN_MODELS: tuple[tuple[str, str], ...] = (
    ("gpt-4.1", "openai"),
    ("gpt-4.1-mini", "openai"),
    ("claude-sonnet-4", "anthropic"),
    ("gemini-2.5-flash", "google"),
    ("deepseek-v3.2", "deepseek"),
    ("text-embedding-3-small", "openai"),
)
_WORDS = ("Hello", "from", "the", "HolySheep", "gateway", "simulator", "with", "a", "short", "reply", "for", "you")
_MODELS_CREATED = 1_735_689_600


def new_id(prefix: str, length: int = 24) -> str:
    """A realistic random identifier such as ``chatcmpl-...``."""
    return prefix + uuid.uuid4().hex[:length]


def now() -> int:
    return int(time.time())


def words(count: int) -> list[str]:
    """``count`` deterministic one-token pieces of text (leading space after the first)."""
    return [(" " if i else "") + _WORDS[i % len(_WORDS)] for i in range(count)]


def _text_len(content: Any) -> int:
    """Characters of text in a message content (string, list of parts, or nested items)."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(_text_len(part) for part in content)
    if isinstance(content, dict):
        return sum(_text_len(content.get(k)) for k in ("text", "content", "input_text") if k in content)
    return 0


def chat_prompt_tokens(body: dict[str, Any]) -> int:
    """ceil(total characters of message contents / 4) + 3 per message."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 1
    chars = sum(_text_len(m.get("content")) for m in messages if isinstance(m, dict))
    return math.ceil(chars / 4) + 3 * len(messages)


def text_prompt_tokens(prompt: Any) -> int:
    """Tokens of a completions prompt or embeddings input: ceil(chars / 4) per text, at least 1 each."""
    if isinstance(prompt, str):
        return max(1, math.ceil(len(prompt) / 4))
    if isinstance(prompt, list):
        if prompt and all(isinstance(p, int) for p in prompt):
            return len(prompt)
        return sum(text_prompt_tokens(p) for p in prompt) or 1
    return 1


def responses_input_tokens(body: dict[str, Any]) -> int:
    """Responses API input: ceil(chars of input and instructions / 4) + 3 per input item."""
    data = body.get("input")
    items = data if isinstance(data, list) else [data]
    chars = _text_len(body.get("instructions")) + sum(_text_len(i) for i in items)
    return math.ceil(chars / 4) + (3 * len(items) if isinstance(data, list) else 0) or 1


@dataclass
class Tokens:
    """The token numbers of one response."""

    prompt: int
    completion: int
    cached: int = 0
    reasoning: int = 0
    cache_write: int = 0
    cost: float | None = None  # the gateway's own cost (usage.cost), sent only when set
    anthropic: bool = False  # cache counts Anthropic-style, beside the OpenAI ones

    def _extras(self, usage: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
        if self.anthropic:
            usage["cache_creation_input_tokens"] = self.cache_write
            usage["cache_read_input_tokens"] = self.cached
            details.pop("cached_tokens", None)
        elif self.cache_write:
            details["cache_write_tokens"] = self.cache_write
        if self.cost is not None:
            usage["cost"] = self.cost
        return usage

    def chat_usage(self) -> dict[str, Any]:
        details: dict[str, Any] = {"cached_tokens": self.cached, "audio_tokens": 0}
        usage = {
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.prompt + self.completion,
            "prompt_tokens_details": details,
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        return self._extras(usage, details)

    def responses_usage(self) -> dict[str, Any]:
        details: dict[str, Any] = {"cached_tokens": self.cached}
        usage = {
            "input_tokens": self.prompt,
            "input_tokens_details": details,
            "output_tokens": self.completion,
            "output_tokens_details": {"reasoning_tokens": self.reasoning},
            "total_tokens": self.prompt + self.completion,
        }
        return self._extras(usage, details)


_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to access this resource.", "invalid_request_error", "forbidden"),
    404: ("The requested resource does not exist.", "invalid_request_error", None),
    408: ("Request timed out.", "timeout", None),
    429: ("Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The upstream model is currently overloaded. Please try again later.", "server_error", "overloaded"),
    504: ("Gateway timeout.", "server_error", None),
}


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """An OpenAI-shaped error body for ``status``."""
    default, kind, code = _ERRORS.get(
        status, ("Simulated error.", "server_error" if status >= 500 else "invalid_request_error", None)
    )
    return {"error": {"message": message or default, "type": kind, "param": None, "code": code}}


_TOOL_NAME = "get_weather"
_TOOL_ARGUMENTS = ('{"city": ', '"Paris"}')


def tool_call(rid: str, index: int) -> dict[str, Any]:
    """The ``index``-th tool call of a chat completion's message."""
    function = {"name": _TOOL_NAME, "arguments": "".join(_TOOL_ARGUMENTS)}
    return {"id": f"call_{rid[-12:]}{index}", "type": "function", "function": function}


def tool_call_deltas(rid: str, index: int) -> list[dict[str, Any]]:
    """The stream deltas of one tool call as OpenAI sends them: the call with its name, then argument fragments."""
    start = {"index": index, "id": f"call_{rid[-12:]}{index}", "type": "function",
             "function": {"name": _TOOL_NAME, "arguments": ""}}  # fmt: skip
    fragments = [{"index": index, "function": {"arguments": part}} for part in _TOOL_ARGUMENTS]
    return [{"tool_calls": [call]} for call in (start, *fragments)]


def chat_completion(rid: str, model: Any, text: str, finish: str, usage: Any, tool_calls: int = 0) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
    if tool_calls:
        message["content"] = text or None
        message["tool_calls"] = [tool_call(rid, i) for i in range(tool_calls)]
    body: dict[str, Any] = {
        "id": rid,
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "system_fingerprint": "fp_holysheep_sim",
        "service_tier": "default",
    }
    if usage is not None:
        body["usage"] = usage
    return body


def chat_chunk(rid: str, created: int, model: Any, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_holysheep_sim",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def usage_chunk(rid: str, created: int, model: Any, usage: Any, obj: str = "chat.completion.chunk") -> dict[str, Any]:
    return {"id": rid, "object": obj, "created": created, "model": model, "choices": [], "usage": usage}


def text_completion(rid: str, created: int, model: Any, text: str, *, finish: str | None, usage: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": rid,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def embedding_vector(seed: str, dims: int) -> list[float]:
    """A deterministic vector; long ones repeat a 4096-value block so huge bodies stay cheap to build."""
    rng = random.Random(seed)
    block = [round(rng.uniform(-0.1, 0.1), 6) for _ in range(min(dims, 4096))]
    return (block * math.ceil(dims / len(block)))[:dims] if block else []


def embeddings(model: Any, inputs: list[Any], dims: int, encoding: str, usage: Any) -> dict[str, Any]:
    data = []
    for i, item in enumerate(inputs):
        vector = embedding_vector(f"{item!r}:{i}", dims)
        value: Any = vector
        if encoding == "base64":
            value = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": i, "embedding": value})
    body: dict[str, Any] = {"object": "list", "data": data, "model": model}
    if usage is not None:
        body["usage"] = usage
    return body


# A chat finish reason as a Responses API status and incomplete_details.reason (an answer cut or filtered).
INCOMPLETE_REASONS: Final = {"length": "max_output_tokens", "content_filter": "content_filter"}


def response_object(
    rid: str, created: int, model: Any, text: str, *, status: str, usage: Any, incomplete: str | None = None
) -> dict[str, Any]:
    """A Responses API ``response`` object (``text`` empty and no output while in progress); ``status="incomplete"``
    with ``incomplete`` as its ``incomplete_details.reason``."""
    output = []
    if status in ("completed", "incomplete"):
        output.append(
            {
                "type": "message",
                "id": "msg_" + rid[5:],
                "status": status,
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
            }
        )
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": None,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "metadata": {},
    }


def model_object(model_id: str, owner: str = "holysheep") -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": _MODELS_CREATED, "owned_by": owner}


def models_list() -> dict[str, Any]:
    return {"object": "list", "data": [model_object(m, o) for m, o in KNOWN_MODELS]}
