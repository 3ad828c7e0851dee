"""OpenAI-style rate-limit headers: per-key request and token budgets over fixed windows."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimiter", "format_reset"]


def format_reset(seconds: float) -> str:
    """Durations as OpenAI writes them: ``120ms``, ``1s``, ``8.64s``, ``6m0s``, ``1h2m3s``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    sec_text = f"{secs:.3f}".rstrip("0").rstrip(".")
    if hours >= 1:
        return f"{int(hours)}h{int(minutes)}m{sec_text}s"
    if minutes >= 1:
        return f"{int(minutes)}m{sec_text}s"
    return f"{sec_text}s"


@dataclass
class _Window:
    start: float
    requests: int = 0
    tokens: int = 0


class RateLimiter:
    """Per-key request and token budgets over fixed windows (one minute by default).

    Within a window ``remaining`` only decreases, which keeps the headers deterministic for tests.
    """

    def __init__(
        self,
        requests_per_minute: int,
        tokens_per_minute: int,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rpm = requests_per_minute
        self.tpm = tokens_per_minute
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()

    def consume(self, key: str, tokens: int) -> tuple[dict[str, str], bool]:
        """Charge one request and ``tokens``; returns the rate-limit headers and whether budget remained."""
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window.start >= self.window_s:
                window = self._windows[key] = _Window(now)
            allowed = window.requests < self.rpm and window.tokens + tokens <= self.tpm
            if allowed:
                window.requests += 1
                window.tokens += tokens
            reset = format_reset(window.start + self.window_s - now)
            return {
                "x-ratelimit-limit-requests": str(self.rpm),
                "x-ratelimit-remaining-requests": str(max(0, self.rpm - window.requests)),
                "x-ratelimit-reset-requests": reset,
                "x-ratelimit-limit-tokens": str(self.tpm),
                "x-ratelimit-remaining-tokens": str(max(0, self.tpm - window.tokens)),
                "x-ratelimit-reset-tokens": reset,
            }, allowed

    def exhausted_headers(self, retry_after_s: float) -> dict[str, str]:
        """Headers of a 429: nothing remaining, resets at the retry-after time."""
        reset = format_reset(retry_after_s)
        return {
            "x-ratelimit-limit-requests": str(self.rpm),
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": reset,
            "x-ratelimit-limit-tokens": str(self.tpm),
            "x-ratelimit-remaining-tokens": "0",
            "x-ratelimit-reset-tokens": reset,
            "retry-after": str(max(0, math.ceil(retry_after_s))),
            "retry-after-ms": str(round(retry_after_s * 1000)),
        }
