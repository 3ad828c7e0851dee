"""Continuous, varied traffic to the gateway simulator, with no OpenTelemetry code: run under opentelemetry-instrument
by the end-to-end tests. Prints READY after the first round and stops when stdin closes."""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import threading

import httpx
import openai

URL = os.environ["GATEWAY_URL"]
MODELS = ("gpt-4.1", "claude-sonnet-4", "gemini-2.5-flash", "deepseek-v3.2")
MESSAGES = [{"role": "user", "content": "ping"}]


def scenario(text: str) -> dict[str, str]:
    return {"x-sim-scenario": text}


def one_round(n: int, sdk: openai.OpenAI, bad_key: openai.OpenAI, raw: httpx.Client) -> None:
    for model in MODELS:
        sdk.chat.completions.create(
            model=model,
            messages=MESSAGES,
            extra_headers=scenario("prompt_tokens=400,completion_tokens=60,cached=100,reasoning=10,delay_ms=5"),
        )
        stream = sdk.chat.completions.create(
            model=model,
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=scenario("chunks=5,ttft_ms=15"),
        )
        for _ in stream:
            pass
        with raw.stream(
            "POST",
            "/chat/completions",
            json={"model": model, "messages": MESSAGES, "stream": True},
            headers=scenario("chunks=8"),
        ) as response:
            for i, _ in enumerate(response.iter_lines()):
                if i == 2:
                    break
        raw.post("/chat/completions", json={"model": model, "messages": MESSAGES}, headers=scenario("status=500"))
        raw.post(
            "/chat/completions",
            json={"model": model, "messages": MESSAGES},
            headers=scenario("status=429,retry_after=1"),
        )
        sdk.chat.completions.create(
            model=model,
            messages=MESSAGES,
            extra_headers=scenario(f"fail_first=1,fail_status=503,key={model}-{n},retry_after_ms=1"),
        )
    with contextlib.suppress(openai.AuthenticationError):
        bad_key.chat.completions.create(model="gpt-4.1", messages=MESSAGES)


def main() -> None:
    sdk = openai.OpenAI(base_url=URL, api_key="sk-e2e", max_retries=2)
    bad_key = openai.OpenAI(base_url=URL, api_key="sk-invalid", max_retries=0)
    raw = httpx.Client(base_url=URL, headers={"Authorization": "Bearer sk-e2e"})
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    for n in itertools.count():
        one_round(n, sdk, bad_key, raw)
        if n == 0:
            print("READY", flush=True)
        if stop.wait(0.2):
            break


if __name__ == "__main__":
    main()
