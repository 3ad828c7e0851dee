"""An app that calls the gateway through every client library at once, with no OpenTelemetry code: run under
`opentelemetry-instrument` by the auto-instrumentation test.

Per library one model, each called twice (JSON, then a stream with usage), 10 prompt tokens per call: requests
(gpt-4.1), aiohttp (claude-sonnet-4), raw httpx (deepseek-v3.2), the openai SDK's default httpx2 client, sync and
async (gemini-2.5-flash), the openai SDK's aiohttp client (gpt-4.1-mini). Prints READY and waits for stdin to close.
"""

from __future__ import annotations

import asyncio
import os
import sys

import aiohttp
import httpx
import openai
import requests

URL = os.environ["GATEWAY_URL"]
MESSAGES = [{"role": "user", "content": "hello"}]
SCENARIO = {"x-sim-scenario": "prompt_tokens=10,completion_tokens=3,chunks=3"}
HEADERS = {"Authorization": "Bearer sk-mixed-test", **SCENARIO}


def body(model: str, stream: bool) -> dict[str, object]:
    extra: dict[str, object] = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
    return {"model": model, "messages": MESSAGES, **extra}


def with_requests() -> None:
    with requests.Session() as session:
        session.post(f"{URL}/chat/completions", json=body("gpt-4.1", False), headers=HEADERS).json()
        with session.post(
            f"{URL}/chat/completions", json=body("gpt-4.1", True), headers=HEADERS, stream=True
        ) as response:
            for _ in response.iter_lines():
                pass


async def with_aiohttp() -> None:
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        async with session.post(f"{URL}/chat/completions", json=body("claude-sonnet-4", False)) as response:
            await response.json()
        async with session.post(f"{URL}/chat/completions", json=body("claude-sonnet-4", True)) as response:
            async for _ in response.content:
                pass


def with_httpx() -> None:
    with httpx.Client(headers=HEADERS) as client:
        client.post(f"{URL}/chat/completions", json=body("deepseek-v3.2", False)).json()
        with client.stream("POST", f"{URL}/chat/completions", json=body("deepseek-v3.2", True)) as response:
            for _ in response.iter_lines():
                pass


def with_openai_default() -> None:
    with openai.OpenAI(base_url=URL, api_key="sk-mixed-test", max_retries=0) as sdk:
        sdk.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES, extra_headers=SCENARIO)


async def with_openai_async_default() -> None:
    async with openai.AsyncOpenAI(base_url=URL, api_key="sk-mixed-test", max_retries=0) as sdk:
        await _read_stream(sdk, "gemini-2.5-flash")


async def with_openai_aiohttp() -> None:
    async with openai.AsyncOpenAI(
        base_url=URL, api_key="sk-mixed-test", max_retries=0, http_client=openai.DefaultAioHttpClient()
    ) as sdk:
        await sdk.chat.completions.create(model="gpt-4.1-mini", messages=MESSAGES, extra_headers=SCENARIO)
        await _read_stream(sdk, "gpt-4.1-mini")


async def _read_stream(sdk: openai.AsyncOpenAI, model: str) -> None:
    """One streamed chat completion with usage, read to its end."""
    stream = await sdk.chat.completions.create(
        model=model,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=SCENARIO,
    )
    async for _ in stream:
        pass


async def async_part() -> None:
    await asyncio.gather(with_aiohttp(), with_openai_async_default(), with_openai_aiohttp())


def main() -> None:
    with_requests()
    with_httpx()
    with_openai_default()
    asyncio.run(async_part())
    print("READY", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
