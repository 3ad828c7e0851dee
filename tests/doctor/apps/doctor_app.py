"""An app with no OpenTelemetry code, run under opentelemetry-instrument by the doctor tests.

argv: MODE. ``healthy``: a priced JSON call and a stream with usage. ``unhealthy``: the tutorial's problems on
purpose: a wrong key (401), rate limits (429, retry-after 7 s), timeouts, streams without usage, an unpriced model,
one model past OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS=5, and a call the gateway never answers (kept in flight).
Prints READY after its traffic and stops when stdin closes.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

import httpx
import openai

URL = os.environ["GATEWAY_URL"]
MESSAGES = [{"role": "user", "content": "ping"}]
USAGE = "prompt_tokens=100,completion_tokens=20"


def scenario(text: str) -> dict[str, str]:
    return {"x-sim-scenario": text}


def healthy(sdk: openai.OpenAI) -> None:
    sdk.chat.completions.create(model="gpt-4.1", messages=MESSAGES, extra_headers=scenario(USAGE))
    stream = sdk.chat.completions.create(
        model="claude-sonnet-4",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=scenario("chunks=3"),
    )
    for _ in stream:
        pass


def unhealthy(sdk: openai.OpenAI) -> None:
    sdk.chat.completions.create(model="gpt-4.1", messages=MESSAGES, extra_headers=scenario(USAGE))
    bad_key = openai.OpenAI(base_url=URL, api_key="sk-invalid", max_retries=0)
    for _ in range(2):
        with contextlib.suppress(openai.AuthenticationError):
            bad_key.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    sdk.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES, extra_headers=scenario(USAGE))
    for _ in range(3):
        with contextlib.suppress(openai.RateLimitError):
            sdk.chat.completions.create(
                model="gemini-2.5-flash", messages=MESSAGES, extra_headers=scenario("status=429,retry_after=7")
            )
    sdk.chat.completions.create(model="claude-sonnet-4", messages=MESSAGES, extra_headers=scenario(USAGE))
    impatient = sdk.with_options(timeout=0.3)
    for _ in range(2):
        with contextlib.suppress(openai.APITimeoutError):
            impatient.chat.completions.create(
                model="claude-sonnet-4", messages=MESSAGES, extra_headers=scenario("delay_ms=2000")
            )
    for _ in range(2):
        for _ in sdk.chat.completions.create(model="deepseek-v3.2", messages=MESSAGES, stream=True):
            pass
    sdk.chat.completions.create(model="my-finetune", messages=MESSAGES, extra_headers=scenario(USAGE))
    sdk.chat.completions.create(model="gpt-4.1-2025-04-14", messages=MESSAGES, extra_headers=scenario(USAGE))


def never_answered(stop: threading.Event) -> None:
    """One gpt-4.1 call at a time that the gateway never answers (the simulator holds it up to 30 s)."""
    with httpx.Client(base_url=URL, headers={"Authorization": "Bearer sk-doctor"}, timeout=None) as raw:
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                raw.post(
                    "/chat/completions",
                    json={"model": "gpt-4.1", "messages": MESSAGES},
                    headers=scenario("stall_headers"),
                )


def main() -> None:
    mode = sys.argv[1]
    sdk = openai.OpenAI(base_url=URL, api_key="sk-doctor", max_retries=0)
    stop = threading.Event()
    if mode == "healthy":
        healthy(sdk)
    else:
        unhealthy(sdk)
        threading.Thread(target=never_answered, args=(stop,), daemon=True).start()
    print("READY", flush=True)
    sys.stdin.read()
    stop.set()


if __name__ == "__main__":
    main()
