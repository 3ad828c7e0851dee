"""Per-request test directives from the ``x-sim-scenario`` request header.

Comma-separated ``name`` or ``name=value`` items; unknown or invalid items are ignored. Failures:
``status=N`` (+ ``retry_after=S`` / ``retry_after_ms=MS`` for 429), ``fail_first=N`` with ``key=K`` and
``fail_status=N``, ``cut_after=N``, ``stall_after=N``, ``stall_headers``, ``malformed``, ``wrong_shape``.
Timing (milliseconds, not scaled): ``delay_ms``, ``ttft_ms``, ``chunk_ms``. Content: ``chunks``,
``role_only_chunks``, ``response_model`` (answer as this model: a substitution), ``body_kib``. Finish:
``finish=REASON`` (the finish reason sent, verbatim; else ``stop``, or ``length`` when ``max_tokens`` cut the
answer), ``tool_calls=N`` (chat: N tool calls, finish reason ``tool_calls`` unless ``finish`` says otherwise).
Usage: ``no_usage``, ``prompt_tokens``, ``completion_tokens``, ``cached``, ``reasoning``, ``cache_write`` (prompt
tokens written to the prompt cache, in ``prompt_tokens_details.cache_write_tokens``; with ``anthropic_usage`` as
Anthropic-style ``cache_creation_input_tokens`` and ``cache_read_input_tokens`` beside the OpenAI counts instead),
``gateway_cost=USD`` (the gateway's own cost of the call in ``usage.cost``, verbatim). Wire: ``gzip``, ``deflate``,
``no_ratelimit``, ``sse_crlf``, ``sse_comments``, ``split_events``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["SCENARIO_HEADER", "Scenario"]

SCENARIO_HEADER = "x-sim-scenario"

_INT_FIELDS = {
    "status",
    "retry_after",
    "retry_after_ms",
    "fail_first",
    "fail_status",
    "delay_ms",
    "ttft_ms",
    "chunk_ms",
    "chunks",
    "cut_after",
    "stall_after",
    "prompt_tokens",
    "completion_tokens",
    "cached",
    "reasoning",
    "body_kib",
    "role_only_chunks",
    "tool_calls",
    "cache_write",
}
_FLAG_FIELDS = {
    "stall_headers",
    "no_usage",
    "gzip",
    "deflate",
    "malformed",
    "wrong_shape",
    "no_ratelimit",
    "sse_crlf",
    "sse_comments",
    "split_events",
    "anthropic_usage",
}
_STR_FIELDS = {"key", "response_model", "finish", "gateway_cost"}


@dataclass
class Scenario:
    """Parsed directives; ``None`` means "not given" (profile or defaults apply)."""

    status: int | None = None
    retry_after: int | None = None
    retry_after_ms: int | None = None
    fail_first: int | None = None
    fail_status: int | None = None
    key: str | None = None
    delay_ms: int | None = None
    ttft_ms: int | None = None
    chunk_ms: int | None = None
    chunks: int | None = None
    cut_after: int | None = None
    stall_after: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached: int | None = None
    reasoning: int | None = None
    body_kib: int | None = None
    role_only_chunks: int | None = None
    response_model: str | None = None
    finish: str | None = None
    tool_calls: int | None = None
    cache_write: int | None = None
    gateway_cost: str | None = None  # a JSON number, sent as given (the exact decimal a test compares)
    stall_headers: bool = False
    no_usage: bool = False
    gzip: bool = False
    deflate: bool = False
    malformed: bool = False
    wrong_shape: bool = False
    no_ratelimit: bool = False
    sse_crlf: bool = False
    sse_comments: bool = False
    split_events: bool = False
    anthropic_usage: bool = False

    @classmethod
    def parse(cls, header: str | None) -> Scenario:
        """Parse ``name`` / ``name=value`` items separated by commas; unknown or invalid items are ignored."""
        scenario = cls()
        if not header:
            return scenario
        for item in header.split(","):
            name, sep, raw = item.strip().partition("=")
            name, raw = name.strip().lower().replace("-", "_"), raw.strip()
            if name in _FLAG_FIELDS and (not sep or raw.lower() in {"1", "true", "yes", "on"}):
                setattr(scenario, name, True)
            elif name in _INT_FIELDS and sep:
                try:
                    value = int(raw)
                except ValueError:
                    continue
                if value >= 0:
                    setattr(scenario, name, value)
            elif name in _STR_FIELDS and sep and raw:
                setattr(scenario, name, raw)
        return scenario

    def describe(self) -> str:
        """The directives given, in header syntax (for logs)."""
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is True:
                parts.append(f.name)
            elif value not in (None, False):
                parts.append(f"{f.name}={value}")
        return ",".join(parts)
