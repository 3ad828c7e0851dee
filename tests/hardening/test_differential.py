"""Differential fault tests: the same client code, uninstrumented then instrumented, must observe the same thing.

Same bytes, same parsed objects, same exception types and messages, across malformed, truncated, stalled, reset,
compressed-and-corrupt and oversized responses, through raw httpx, raw httpx2, requests, aiohttp and the openai SDK,
sync and async.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import httpx
import httpx2
import openai
import pytest
import requests

from tests.hardening.replay_server import SCENARIOS, ReplayServer
from tests.support import instrumented, wait_until_async

Observation = tuple[Any, ...]
# The clients' timeout: well above what a loaded machine takes to answer on loopback, below the replay's 5 s stalls.
TIMEOUT = 1.5
BODY = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}


def _outcome(run: Callable[[], Any]) -> Observation:
    try:
        return ("ok", run())
    except Exception as exc:  # the observation *is* the exception, compared by type and message
        return ("raise", type(exc).__name__, str(exc))


def _raw_sync(module: Any) -> Callable[[str, str], Observation]:
    def observe(base_url: str, scenario: str) -> Observation:
        def run() -> Any:
            with (
                module.Client(base_url=base_url, timeout=TIMEOUT) as client,
                client.stream("POST", "/chat/completions", json=BODY, headers={"x-replay": scenario}) as r,
            ):
                raw = b"".join(r.iter_bytes())
                parsed = _outcome(r.json) if "json" in r.headers.get("content-type", "") else None
                return r.status_code, raw, parsed

        return _outcome(run)

    return observe


def _raw_async(module: Any) -> Callable[[str, str], Observation]:
    def observe(base_url: str, scenario: str) -> Observation:
        async def run() -> Any:
            async with module.AsyncClient(base_url=base_url, timeout=TIMEOUT) as client:
                response = await client.post("/chat/completions", json=BODY, headers={"x-replay": scenario})
                return response.status_code, response.content, response.headers.get("content-type")

        return _outcome(lambda: asyncio.run(run()))

    return observe


def _sdk(stream: bool, use_async: bool) -> Callable[[str, str], Observation]:
    def observe(base_url: str, scenario: str) -> Observation:
        headers = {"x-replay": scenario}

        def sync_run() -> Any:
            with openai.OpenAI(base_url=base_url, api_key="sk-x", max_retries=0, timeout=TIMEOUT) as sdk:
                result = sdk.chat.completions.create(**BODY, stream=stream, extra_headers=headers)
                return [c.model_dump() for c in result] if stream else result.model_dump()

        async def async_run() -> Any:
            async with openai.AsyncOpenAI(base_url=base_url, api_key="sk-x", max_retries=0, timeout=TIMEOUT) as sdk:
                result = await sdk.chat.completions.create(**BODY, stream=stream, extra_headers=headers)
                return [c.model_dump() async for c in result] if stream else result.model_dump()

        return _outcome(lambda: asyncio.run(async_run())) if use_async else _outcome(sync_run)

    return observe


def _requests(stream: bool) -> Callable[[str, str], Observation]:
    def observe(base_url: str, scenario: str) -> Observation:
        def run() -> Any:
            with (
                requests.Session() as session,
                session.post(
                    f"{base_url}/chat/completions",
                    json=BODY,
                    headers={"x-replay": scenario},
                    timeout=TIMEOUT,
                    stream=stream,
                ) as r,
            ):
                if stream:  # piece by piece as they arrive (iter_lines is quadratic on the 10 MB one-line body)
                    return r.status_code, b"".join(r.iter_content(chunk_size=None)), None
                parsed = _outcome(r.json) if "json" in r.headers.get("content-type", "") else None
                return r.status_code, r.content, parsed

        return _outcome(run)

    return observe


def _aiohttp(stream: bool) -> Callable[[str, str], Observation]:
    def observe(base_url: str, scenario: str) -> Observation:
        async def run() -> Any:
            timeout = aiohttp.ClientTimeout(sock_read=TIMEOUT)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(f"{base_url}/chat/completions", json=BODY, headers={"x-replay": scenario}) as r,
            ):
                if stream:  # line by line, as an SSE consumer reads
                    return r.status, b"".join([line async for line in r.content]), None
                raw = await r.read()
                parsed = None
                if "json" in r.headers.get("content-type", ""):
                    try:
                        parsed = ("ok", await r.json())
                    except Exception as exc:
                        parsed = ("raise", type(exc).__name__, str(exc))
                return r.status, raw, parsed

        return _outcome(lambda: asyncio.run(run()))

    return observe


CLIENTS = [
    pytest.param(_requests(stream=False), id="requests"),
    pytest.param(_requests(stream=True), id="requests-stream"),
    pytest.param(_aiohttp(stream=False), id="aiohttp"),
    pytest.param(_aiohttp(stream=True), id="aiohttp-stream"),
    pytest.param(_raw_sync(httpx), id="httpx-sync"),
    pytest.param(_raw_sync(httpx2), id="httpx2-sync"),
    pytest.param(_raw_async(httpx), id="httpx-async"),
    pytest.param(_raw_async(httpx2), id="httpx2-async"),
    pytest.param(_sdk(stream=False, use_async=False), id="openai-sync", marks=pytest.mark.openai_sdk),
    pytest.param(_sdk(stream=True, use_async=False), id="openai-sync-stream", marks=pytest.mark.openai_sdk),
    pytest.param(_sdk(stream=False, use_async=True), id="openai-async", marks=pytest.mark.openai_sdk),
    pytest.param(_sdk(stream=True, use_async=True), id="openai-async-stream", marks=pytest.mark.openai_sdk),
]


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        yield server


@pytest.mark.parametrize("observe", CLIENTS)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_same_observation_with_and_without_instrumentation(
    observe: Callable[[str, str], Observation], scenario: str, replay: ReplayServer
) -> None:
    plain = observe(replay.base_url, scenario)
    hits = len(replay.hits)
    with instrumented(base_urls=[replay.base_url]) as cap:
        measured = observe(replay.base_url, scenario)
        assert measured == plain
        attempts = len(replay.hits) - hits
        assert cap.value("holysheep.requests") == attempts >= 1
        assert cap.value("holysheep.active_requests") == 0
        assert cap.count("holysheep.request.duration") == attempts


def test_scenarios_cover_the_faults_they_claim(replay: ReplayServer) -> None:
    """Guard against a replay scenario silently turning into a success (the differential test would still pass)."""
    observe = _raw_sync(httpx2)
    assert observe(replay.base_url, "sse_truncated")[:2] == ("raise", "RemoteProtocolError")
    assert observe(replay.base_url, "sse_stalled")[:2] == ("raise", "ReadTimeout")
    assert observe(replay.base_url, "read_timeout")[:2] == ("raise", "ReadTimeout")
    assert observe(replay.base_url, "gzip_corrupt")[:2] == ("raise", "DecodingError")
    assert observe(replay.base_url, "reset")[0] == "raise"
    ok = observe(replay.base_url, "big_body")
    assert ok[0] == "ok"
    assert len(ok[1][1]) > 10_000_000


async def _httpx2_reader(base_url: str, chunks: list[bytes]) -> None:
    async with (
        httpx2.AsyncClient(base_url=base_url, timeout=5) as client,
        client.stream("POST", "/chat/completions", json=BODY, headers={"x-replay": "sse_stalled"}) as response,
    ):
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)


async def _aiohttp_reader(base_url: str, chunks: list[bytes]) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base_url}/chat/completions", json=BODY, headers={"x-replay": "sse_stalled"}) as response,
    ):
        async for chunk in response.content.iter_any():
            chunks.append(chunk)


@pytest.mark.parametrize("reader", [_httpx2_reader, _aiohttp_reader], ids=["httpx2", "aiohttp"])
def test_cancelled_task_mid_stream_is_the_same(
    reader: Callable[[str, list[bytes]], Awaitable[None]], replay: ReplayServer
) -> None:
    async def run() -> Observation:
        chunks: list[bytes] = []
        task = asyncio.create_task(reader(replay.base_url, chunks))
        # cancel mid-stream (the replay stalls after its first chunk), however long the machine took to get there
        await wait_until_async(lambda: chunks or task.done(), what="the first chunk")
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return ("cancelled",)
        return ("finished",)

    plain = asyncio.run(run())
    with instrumented(base_urls=[replay.base_url]) as cap:
        assert asyncio.run(run()) == plain == ("cancelled",)
        assert cap.value("holysheep.stream_outcomes", outcome="cancelled") == 1
        assert cap.value("holysheep.active_requests") == 0


def _httpx2_first_three(base_url: str) -> list[bytes]:
    with (
        httpx2.Client(base_url=base_url) as client,
        client.stream("POST", "/chat/completions", json=BODY, headers={"x-replay": "sse_crlf_comments_split"}) as r,
    ):
        return _first_three(r.iter_raw())


def _requests_first_three(base_url: str) -> list[bytes]:
    headers = {"x-replay": "sse_crlf_comments_split"}
    with requests.post(f"{base_url}/chat/completions", json=BODY, headers=headers, stream=True) as r:
        return _first_three(r.iter_content(chunk_size=None))


def _first_three(chunks: Iterator[bytes]) -> list[bytes]:
    got = []
    for chunk in chunks:
        got.append(chunk)
        if len(got) == 3:
            break  # the rest is never read; the response is closed by the context manager
    return got


@pytest.mark.parametrize("run", [_httpx2_first_three, _requests_first_three], ids=["httpx2", "requests"])
def test_early_break_is_the_same(run: Callable[[str], list[bytes]], replay: ReplayServer) -> None:
    plain = run(replay.base_url)
    with instrumented(base_urls=[replay.base_url]) as cap:
        assert run(replay.base_url) == plain
        assert cap.value("holysheep.stream_outcomes", outcome="cancelled") == 1
        assert cap.value("holysheep.active_requests") == 0
