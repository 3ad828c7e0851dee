"""The demo's application: plain openai SDK and httpx calls with no OpenTelemetry code in it.

`make demo` runs it under `opentelemetry-instrument`, which is the whole point: nothing here knows it is measured.
It prints ``PROGRESS done total`` lines, then ``DONE ...`` and waits for stdin to close (so /metrics stays up for
the report).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai

MODELS = ("gpt-4.1", "claude-sonnet-4", "gemini-2.5-flash", "deepseek-v3.2")
PROMPTS = (
    "Summarise the trade-offs of streaming responses in two sentences.",
    "Name three ways to reduce LLM latency.",
    "Explain time to first token to a new engineer.",
    "What is a good error budget for an internal AI feature?",
)


class Progress:
    def __init__(self, total: int) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self._lock = threading.Lock()

    def tick(self, ok: bool) -> None:
        with self._lock:
            self.done += 1
            self.failed += 0 if ok else 1
            print(f"PROGRESS {self.done} {self.total}", flush=True)


def messages(i: int) -> Any:  # the SDK wants its TypedDicts; plain dicts are what apps pass
    return [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]


def sync_job(i: int, sdk: openai.OpenAI, raw: httpx.Client, max_tokens: int) -> None:
    model = MODELS[i % len(MODELS)]
    kind = (i // len(MODELS)) % 4
    if kind == 0:
        sdk.chat.completions.create(model=model, messages=messages(i), max_tokens=max_tokens)
    elif kind == 1:
        stream = sdk.chat.completions.create(
            model=model,
            messages=messages(i),
            max_tokens=max_tokens,
            stream=True,
            stream_options={"include_usage": True},
        )
        for _ in stream:
            pass
    elif kind == 2:
        raw.post("/chat/completions", json={"model": model, "messages": messages(i), "max_tokens": max_tokens})
    else:
        with raw.stream(
            "POST",
            "/chat/completions",
            json={
                "model": model,
                "messages": messages(i),
                "stream": True,
                "stream_options": {"include_usage": True},
                "max_tokens": max_tokens,
            },
        ) as response:
            for _ in response.iter_lines():
                pass


async def async_jobs(
    indexes: list[int], url: str, key: str, concurrency: int, timeout: float, max_tokens: int, progress: Progress
) -> None:
    limit = asyncio.Semaphore(concurrency)
    async with openai.AsyncOpenAI(base_url=url, api_key=key, max_retries=1, timeout=timeout) as sdk:

        async def one(i: int) -> None:
            model = MODELS[i % len(MODELS)]
            async with limit:
                try:
                    if (i // len(MODELS)) % 2:  # every model gets streams and JSON calls
                        stream = await sdk.chat.completions.create(
                            model=model,
                            messages=messages(i),
                            max_tokens=max_tokens,
                            stream=True,
                            stream_options={"include_usage": True},
                        )
                        async for _ in stream:
                            pass
                    else:
                        await sdk.chat.completions.create(model=model, messages=messages(i), max_tokens=max_tokens)
                except (openai.APIError, httpx.HTTPError):
                    progress.tick(False)
                    return
            progress.tick(True)

        await asyncio.gather(*(one(i) for i in indexes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="demo workload (run it under opentelemetry-instrument)")
    parser.add_argument("--base-url", default=os.environ.get("HOLYSHEEP_BASE_URL", "https://api.holysheep.ai/v1"))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--no-wait", action="store_true", help="exit when done instead of waiting on stdin")
    args = parser.parse_args(argv)
    key = os.environ.get("HOLYSHEEP_API_KEY") or "sk-demo-not-a-real-key"
    progress = Progress(args.requests)
    sync_indexes = [i for i in range(args.requests) if i % 3 != 2]
    async_indexes = [i for i in range(args.requests) if i % 3 == 2]

    sdk = openai.OpenAI(base_url=args.base_url, api_key=key, max_retries=1, timeout=args.timeout)
    raw = httpx.Client(base_url=args.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=args.timeout)

    def run_sync(i: int) -> None:
        try:
            sync_job(i, sdk, raw, args.max_tokens)
        except (openai.APIError, httpx.HTTPError):
            progress.tick(False)
            return
        progress.tick(True)

    async_thread = threading.Thread(
        target=asyncio.run,
        args=(
            async_jobs(
                async_indexes,
                args.base_url,
                key,
                max(args.concurrency // 2, 1),
                args.timeout,
                args.max_tokens,
                progress,
            ),
        ),
    )
    async_thread.start()
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        list(pool.map(run_sync, sync_indexes))
    async_thread.join()
    sdk.close()
    raw.close()
    print(f"DONE {progress.done} {progress.failed}", flush=True)
    if not args.no_wait:
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
