"""A small app with no OpenTelemetry code at all: run under `opentelemetry-instrument` by the contract test.

It makes a known set of calls to the gateway at $GATEWAY_URL, prints READY, and waits for stdin to close so the
test can scrape /metrics meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import sys

import httpx
import openai

URL = os.environ["GATEWAY_URL"]
MESSAGES = [{"role": "user", "content": "hello"}]


def scenario(text: str) -> dict[str, str]:
    return {"x-sim-scenario": text}


def main() -> None:
    sdk = openai.OpenAI(base_url=URL, api_key="sk-contract-test", max_retries=2)
    # 2 successful JSON chats with exact usage, one with cached and reasoning tokens
    sdk.chat.completions.create(
        model="gpt-4.1", messages=MESSAGES, extra_headers=scenario("prompt_tokens=100,completion_tokens=20")
    )
    sdk.chat.completions.create(
        model="gpt-4.1",
        messages=MESSAGES,
        extra_headers=scenario("prompt_tokens=200,completion_tokens=30,cached=50,reasoning=5"),
    )
    # a stream with usage and one without
    for _chunk in sdk.chat.completions.create(
        model="gemini-2.5-flash",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=scenario("chunks=6,prompt_tokens=40,ttft_ms=20"),
    ):
        pass
    for _chunk in sdk.chat.completions.create(
        model="gemini-2.5-flash", messages=MESSAGES, stream=True, extra_headers=scenario("chunks=3")
    ):
        pass
    # a 503 retried once by the SDK, then success with cache writes and the gateway's own cost
    sdk.chat.completions.create(
        model="deepseek-v3.2",
        messages=MESSAGES,
        extra_headers=scenario(
            "fail_first=1,fail_status=503,key=contract,prompt_tokens=10,completion_tokens=10,cache_write=4,"
            "gateway_cost=0.0000071"
        ),
    )
    # a 429 with retry-after, not retried (raw httpx)
    with httpx.Client(base_url=URL, headers={"Authorization": "Bearer sk-contract-test"}) as client:
        client.post(
            "/chat/completions",
            json={"model": "claude-sonnet-4", "messages": MESSAGES},
            headers=scenario("status=429,retry_after=2"),
        )
        # an unpriced model, answering with two tool calls, served by another (unpriced) model
        client.post(
            "/chat/completions",
            json={"model": "mystery-model", "messages": MESSAGES},
            headers=scenario("prompt_tokens=7,completion_tokens=3,tool_calls=2,response_model=mystery-fallback"),
        )

    async def async_call() -> None:
        async with openai.AsyncOpenAI(base_url=URL, api_key="sk-contract-test", max_retries=0) as client:
            await client.embeddings.create(
                model="gemini-2.5-flash", input="x", extra_headers=scenario("prompt_tokens=5")
            )

    asyncio.run(async_call())
    print("READY", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
