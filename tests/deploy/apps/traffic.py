"""The end-to-end tests' traffic, with no OpenTelemetry code: every kind of call the dashboard and the rules need
(JSON and streams through the openai SDK, raw httpx streams the app stops early, 500s, 429s with retry-after, a 503
the SDK retries, a 401), and the app's own count of the tokens the gateway reported, to compare with the metrics.

Every request carries ``x-app-tag`` when a tag is given, so a test can count each app's attempts in the simulator's
records (``attempts``)."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

import httpx
import openai

MODELS = ("gpt-4.1", "claude-sonnet-4", "gemini-2.5-flash", "deepseek-v3.2")
MESSAGES = [{"role": "user", "content": "ping"}]
TOKEN_TYPES = ("prompt", "completion", "cached", "reasoning")


def scenario(text: str) -> dict[str, str]:
    return {"x-sim-scenario": text}


class Traffic:
    """Clients for one app, and the tokens it was told about (per model and token type)."""

    def __init__(self, url: str, tag: str = "") -> None:
        headers = {"x-app-tag": tag} if tag else {}
        self.sdk = openai.OpenAI(base_url=url, api_key="sk-e2e", max_retries=2, default_headers=headers)
        self.bad_key = openai.OpenAI(base_url=url, api_key="sk-invalid", max_retries=0, default_headers=headers)
        self.raw = httpx.Client(base_url=url, headers={"Authorization": "Bearer sk-e2e", **headers})
        self.tokens: Counter[str] = Counter()  # "model/token_type" -> tokens
        self._lock = threading.Lock()

    @staticmethod
    def count(tally: Counter[str], model: str, usage: Any) -> None:
        if usage is None:
            return
        details = getattr(usage, "prompt_tokens_details", None)
        completion_details = getattr(usage, "completion_tokens_details", None)
        values = {
            "prompt": usage.prompt_tokens,
            "completion": usage.completion_tokens,
            "cached": getattr(details, "cached_tokens", None),
            "reasoning": getattr(completion_details, "reasoning_tokens", None),
        }
        for token_type, value in values.items():
            if value:
                tally[f"{model}/{token_type}"] += value

    def one_round(self, n: int, models: Iterable[str] = MODELS) -> Counter[str]:
        """One round of calls; returns the tokens the gateway reported in it (also added to ``tokens``)."""
        tally: Counter[str] = Counter()
        for model in models:
            response = self.sdk.chat.completions.create(
                model=model,
                messages=MESSAGES,
                extra_headers=scenario("prompt_tokens=400,completion_tokens=60,cached=100,reasoning=10,delay_ms=5"),
            )
            self.count(tally, model, response.usage)
            stream = self.sdk.chat.completions.create(
                model=model,
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=scenario("chunks=5,ttft_ms=15"),
            )
            for chunk in stream:
                self.count(tally, model, chunk.usage)
            with self.raw.stream(
                "POST",
                "/chat/completions",
                json={"model": model, "messages": MESSAGES, "stream": True},
                headers=scenario("chunks=8"),
            ) as raw_stream:
                for i, _ in enumerate(raw_stream.iter_lines()):
                    if i == 2:
                        break
            self.raw.post(
                "/chat/completions", json={"model": model, "messages": MESSAGES}, headers=scenario("status=500")
            )
            self.raw.post(
                "/chat/completions",
                json={"model": model, "messages": MESSAGES},
                headers=scenario("status=429,retry_after=1"),
            )
            retried = self.sdk.chat.completions.create(
                model=model,
                messages=MESSAGES,
                extra_headers=scenario(f"fail_first=1,fail_status=503,key={model}-{n}-{id(self)},retry_after_ms=1"),
            )
            self.count(tally, model, retried.usage)
        with contextlib.suppress(openai.AuthenticationError):
            self.bad_key.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
        with self._lock:
            self.tokens.update(tally)
        return tally


def attempts(records: Iterable[Any], tag: str = "") -> Counter[str]:
    """Chat attempts per model the simulator received (from one app's tag, or all)."""
    found: Counter[str] = Counter()
    for r in records:
        if r.path.endswith("/chat/completions") and (not tag or r.headers.get("x-app-tag") == tag):
            found[str((r.json or {}).get("model"))] += 1
    return found
