"""Real loopback HTTP against the gateway simulator, driven by `aiohttp`: every way an app reads a body, and the
openai SDK's aiohttp client (httpx2 over aiohttp) counted once."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import openai
import pytest

from otel_holysheep.simulator import GatewaySimulator
from tests.support import (
    AUTH,
    MESSAGES,
    Captured,
    chat,
    instrumented,
    openai_aiohttp_client_or_skip,
    scenario,
    wait_until_async,
)


async def _lines(r: aiohttp.ClientResponse) -> bytes:
    return b"".join([line async for line in r.content])


async def _readline_loop(r: aiohttp.ClientResponse) -> bytes:
    out = b""
    while line := await r.content.readline():
        out += line
    return out


async def _iter_chunks(r: aiohttp.ClientResponse) -> bytes:
    return b"".join([data async for data, _ in r.content.iter_chunks()])


async def _read_small(r: aiohttp.ClientResponse) -> bytes:
    out = b""
    while piece := await r.content.read(7):
        out += piece
    return out


async def _json(r: aiohttp.ClientResponse) -> bytes:
    return json.dumps(await r.json(content_type=None)).encode() if "json" in r.content_type else await r.read()


async def _text(r: aiohttp.ClientResponse) -> bytes:
    return (await r.text()).encode()


async def _iter_chunked(r: aiohttp.ClientResponse) -> bytes:
    return b"".join([c async for c in r.content.iter_chunked(5)])


async def _iter_any(r: aiohttp.ClientResponse) -> bytes:
    return b"".join([c async for c in r.content.iter_any()])


# How an application may read a body: each must be observed exactly once, to its end.
READS: dict[str, Callable[[aiohttp.ClientResponse], Awaitable[bytes]]] = {
    "read": lambda r: r.read(),
    "json_or_read": _json,
    "text": _text,
    "content.read(7)": _read_small,
    "iter_chunked": _iter_chunked,
    "iter_any": _iter_any,
    "iter_chunks": _iter_chunks,
    "async_for_lines": _lines,
    "readline_loop": _readline_loop,
}


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("read", "decompress"),
    [pytest.param(read, True, id=f"aiohttp-decodes-{read}") for read in READS]
    # without auto_decompress the app gets gzip bytes: json() / text() cannot read them, the byte reads can
    + [pytest.param(read, False, id=f"raw-gzip-{read}") for read in READS if read not in ("json_or_read", "text")],
)
def test_json_read_any_way(read: str, decompress: bool, gateway: GatewaySimulator, captured: Captured) -> None:
    async def go() -> bytes:
        async with (
            aiohttp.ClientSession(auto_decompress=decompress) as session,
            session.post(
                f"{gateway.base_url}/chat/completions",
                json=chat(),
                headers=scenario("prompt_tokens=321,completion_tokens=45,gzip"),
            ) as response,
        ):
            return await READS[read](response)

    body = run(go())
    if decompress:
        assert json.loads(body)["usage"]["prompt_tokens"] == 321
    assert captured.value("holysheep.requests", model="gpt-4.1", endpoint="chat/completions", status="success") == 1
    assert captured.value("holysheep.tokens", model="gpt-4.1", token_type="prompt") == 321
    assert captured.value("holysheep.tokens", model="gpt-4.1", token_type="completion") == 45
    assert captured.value("holysheep.cost.usd", model="gpt-4.1") == pytest.approx(321 * 2e-6 + 45 * 8e-6)
    assert captured.value("holysheep.usage_missing") == 0
    assert captured.value("holysheep.active_requests") == 0
    (span,) = captured.spans()
    assert span.name == "chat gpt-4.1"
    assert span.attributes["http.request.method"] == "POST"
    assert span.attributes["server.port"] == gateway.port
    assert span.attributes["gen_ai.usage.output_tokens"] == 45


@pytest.mark.parametrize("read", list(READS))
@pytest.mark.parametrize("gzip", [False, True], ids=["identity", "gzip"])
def test_sse_read_any_way(read: str, gzip: bool, gateway: GatewaySimulator, captured: Captured) -> None:
    payload = chat("deepseek-v3.2", stream=True, stream_options={"include_usage": True})
    directives = "chunks=6,prompt_tokens=10,split_events,chunk_ms=2,tool_calls=2" + (",gzip" if gzip else "")

    async def go() -> bytes:
        async with (
            # relative URLs under a base_url (an origin: aiohttp before 3.10 takes no path in base_url)
            aiohttp.ClientSession(base_url=gateway.base_url.removesuffix("/v1")) as session,
            session.post("/v1/chat/completions", json=payload, headers=scenario(directives)) as response,
        ):
            return await READS[read](response)

    body = run(go())
    assert body.rstrip().endswith(b"data: [DONE]")
    assert captured.value("holysheep.stream_outcomes", model="deepseek-v3.2", outcome="completed") == 1
    assert captured.count("holysheep.time_to_first_token", model="deepseek-v3.2") == 1
    assert captured.value("holysheep.tokens", model="deepseek-v3.2", token_type="completion") == 6
    assert captured.value("holysheep.tokens", model="deepseek-v3.2", token_type="prompt") == 10
    assert captured.value("holysheep.finishes", model="deepseek-v3.2", finish_reason="tool_calls") == 1
    assert captured.value("holysheep.finishes") == 1
    assert captured.value("holysheep.tool_calls", model="deepseek-v3.2") == 2
    assert captured.value("holysheep.requests", status="success") == 1
    assert captured.value("holysheep.active_requests") == 0


@pytest.mark.detail_histograms
@pytest.mark.parametrize("status", [401, 429, 500])
def test_error_statuses(status: int, gateway: GatewaySimulator, captured: Captured) -> None:
    async def go() -> int:
        async with aiohttp.ClientSession() as session:
            response = await session.post(
                f"{gateway.base_url}/chat/completions", json=chat(), headers=scenario(f"status={status},retry_after=7")
            )
            response.release()  # never read: finished all the same
            return response.status

    assert run(go()) == status
    assert captured.value("holysheep.requests", status="failure") == 1
    assert captured.value("holysheep.errors", model="gpt-4.1", error_type=f"http_{status}") == 1
    assert captured.value("holysheep.active_requests") == 0
    if status == 429:
        assert captured.total("holysheep.retry_after", model="gpt-4.1") == pytest.approx(7, abs=0.01)


def test_raise_for_status_keeps_the_http_status(gateway: GatewaySimulator, captured: Captured) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession(raise_for_status=True) as session:
            await session.post(f"{gateway.base_url}/chat/completions", json=chat(), headers=scenario("status=429"))

    with pytest.raises(aiohttp.ClientResponseError) as raised:
        run(go())
    assert raised.value.status == 429
    assert captured.value("holysheep.requests", status="failure") == 1
    assert captured.value("holysheep.errors", model="gpt-4.1", error_type="http_429") == 1
    assert captured.spans()[0].attributes["http.response.status_code"] == 429
    assert captured.value("holysheep.active_requests") == 0


def test_cut_stream_is_interrupted(gateway: GatewaySimulator, captured: Captured) -> None:
    async def go() -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{gateway.base_url}/chat/completions", json=chat(stream=True), headers=scenario("cut_after=2,chunks=8")
            ) as response,
        ):
            async for _ in response.content:
                pass

    with pytest.raises(aiohttp.ClientPayloadError):
        run(go())
    assert captured.value("holysheep.stream_outcomes", outcome="interrupted") == 1
    assert captured.value("holysheep.requests", status="error") == 1
    assert captured.value("holysheep.errors", error_type="stream_interrupted") == 1
    assert captured.value("holysheep.active_requests") == 0


@pytest.mark.parametrize("timeout", ["sock_read", "total"])
def test_stalled_stream_times_out(timeout: str, gateway: GatewaySimulator, captured: Captured) -> None:
    async def go() -> None:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(**{timeout: 2.0})) as session,
            session.post(
                f"{gateway.base_url}/chat/completions", json=chat(stream=True), headers=scenario("stall_after=1")
            ) as response,
        ):
            await response.read()

    with pytest.raises(asyncio.TimeoutError):  # ServerTimeoutError for sock_read; TimeoutError for total
        run(go())
    assert captured.value("holysheep.stream_outcomes", outcome="timeout") == 1
    assert captured.value("holysheep.requests", status="timeout") == 1
    assert captured.value("holysheep.errors", error_type="timeout") == 1
    assert captured.value("holysheep.active_requests") == 0


def test_headers_timeout(gateway: GatewaySimulator, captured: Captured) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_read=0.3)) as session:
            await session.post(f"{gateway.base_url}/chat/completions", json=chat(), headers=scenario("stall_headers"))

    with pytest.raises(aiohttp.ServerTimeoutError):
        run(go())
    assert captured.value("holysheep.requests", status="timeout") == 1
    assert captured.count("holysheep.time_to_headers") == 0


def test_connection_refused_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"

    async def go() -> None:
        async with aiohttp.ClientSession() as session:
            await session.post(f"{url}/chat/completions", json=chat())

    with instrumented(base_urls=[url]) as cap, pytest.raises(aiohttp.ClientConnectorError):
        run(go())
    assert cap.value("holysheep.errors", error_type="connect_error") == 1
    assert cap.value("holysheep.active_requests") == 0


def test_early_break_and_release_is_cancelled(gateway: GatewaySimulator, captured: Captured) -> None:
    async def go() -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{gateway.base_url}/chat/completions", json=chat(stream=True), headers=scenario("chunks=20,chunk_ms=5")
            ) as response,
        ):
            n = 0
            async for _ in response.content:
                n += 1
                if n == 3:
                    break

    run(go())
    assert captured.value("holysheep.stream_outcomes", outcome="cancelled") == 1
    assert captured.value("holysheep.requests", status="success") == 1
    assert captured.value("holysheep.errors") == 0
    assert captured.value("holysheep.active_requests") == 0


def test_cancelled_task_mid_stream(gateway: GatewaySimulator, captured: Captured) -> None:
    async def go() -> str:
        async with aiohttp.ClientSession() as session:
            chunks_read = 0

            async def reader() -> None:
                nonlocal chunks_read
                async with session.post(
                    f"{gateway.base_url}/chat/completions",
                    json=chat(stream=True),
                    headers=scenario("chunks=40,chunk_ms=50"),
                ) as response:
                    async for _ in response.content.iter_any():
                        chunks_read += 1

            task = asyncio.create_task(reader())
            # cancel mid-stream: after the first chunk, however long the machine took to get there
            await wait_until_async(lambda: chunks_read > 0 or task.done(), what="the first chunk")
            assert not task.done()
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                return "cancelled"
            return "finished"

    assert run(go()) == "cancelled"
    assert captured.value("holysheep.stream_outcomes", outcome="cancelled") == 1
    assert captured.value("holysheep.active_requests") == 0


def test_abandoned_response_is_finalized_by_garbage_collection(gateway: GatewaySimulator, captured: Captured) -> None:
    async def go() -> None:
        session = aiohttp.ClientSession()

        async def walk_away() -> None:
            response = await session.post(
                f"{gateway.base_url}/chat/completions", json=chat(stream=True), headers=scenario("chunks=20,chunk_ms=5")
            )
            await response.content.readline()  # never released, never closed

        await walk_away()

        # aiohttp itself keeps the response alive while its connection still receives the body (the protocol holds
        # the reader, the reader the response's end-of-body callback): once the body is in, it becomes garbage.
        def collected() -> bool:
            gc.collect()
            return captured.value("holysheep.active_requests") == 0

        await wait_until_async(collected, what="the abandoned response finalized by garbage collection")
        await session.close()

    run(go())
    assert captured.value("holysheep.stream_outcomes", outcome="cancelled") == 1


def test_slow_first_token(gateway: GatewaySimulator, captured: Captured) -> None:
    payload = chat("claude-sonnet-4", stream=True, stream_options={"include_usage": True})

    async def go() -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{gateway.base_url}/chat/completions",
                json=payload,
                headers=scenario("ttft_ms=300,chunk_ms=40,chunks=6"),
            ) as response,
        ):
            async for _ in response.content:
                pass

    run(go())
    ttft = captured.total("holysheep.time_to_first_token", model="claude-sonnet-4")
    assert 0.28 <= ttft <= 0.6
    assert captured.total("holysheep.request.duration", model="claude-sonnet-4") >= ttft + 0.15
    assert captured.total("holysheep.time_to_headers", model="claude-sonnet-4") < ttft


def test_other_endpoints_and_hosts(gateway: GatewaySimulator, captured: Captured) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession(headers=AUTH) as session:
            async with session.post(f"{gateway.base_url}/embeddings", data=b'{"model":"gemini-2.5-flash","input":"a"}'):
                pass
            async with session.get(f"{gateway.base_url}/models") as r:
                await r.json()
            async with session.get(f"{gateway.base_url}/files/f-1", params={"x": "1"}) as r:
                assert r.status == 404
            async with session.get(f"http://localhost:{gateway.port}/v1/models") as r:  # not a configured host
                await r.read()

    run(go())
    assert captured.value("holysheep.requests", endpoint="embeddings", model="gemini-2.5-flash") == 1
    assert captured.value("holysheep.requests", endpoint="models", status="success") == 1
    assert captured.value("holysheep.requests", endpoint="other", status="failure") == 1
    assert captured.value("holysheep.requests") == 3
    assert captured.value("holysheep.active_requests") == 0


def test_opt_in_adds_stream_usage(gateway: GatewaySimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HOLYSHEEP_REQUEST_STREAM_USAGE", "true")
    gateway.reset()
    original = chat(stream=True)

    async def go() -> list[bytes]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{gateway.base_url}/chat/completions", json=original, headers=scenario("chunks=3")) as r,
        ):
            return [line async for line in r.content if line.startswith(b"data: {")]

    with instrumented(base_urls=[gateway.base_url]) as cap:
        lines = run(go())
    assert json.loads(lines[-1][6:])["choices"] == []
    assert gateway.requests[-1].json["stream_options"] == {"include_usage": True}
    assert "stream_options" not in original  # the application's own object is never changed
    assert cap.value("holysheep.tokens", token_type="completion") == 3


@pytest.mark.openai_sdk
@pytest.mark.parametrize("stream", [False, True])
def test_openai_aiohttp_client_is_counted_once(stream: bool, gateway: GatewaySimulator, captured: Captured) -> None:
    """openai.DefaultAioHttpClient runs httpx2 over aiohttp: the httpx2 hook measures it, the aiohttp one stays out."""
    openai_aiohttp_client_or_skip()

    async def go() -> Any:
        async with openai.AsyncOpenAI(
            base_url=gateway.base_url, api_key="sk-test", max_retries=0, http_client=openai.DefaultAioHttpClient()
        ) as client:
            result = await client.chat.completions.create(
                model="gpt-4.1",
                messages=MESSAGES,
                stream=stream,
                extra_headers={"x-sim-scenario": "prompt_tokens=7,completion_tokens=4,chunks=4"},
                **({"stream_options": {"include_usage": True}} if stream else {}),
            )
            return [c async for c in result] if stream else result

    run(go())
    assert captured.value("holysheep.requests") == 1
    assert captured.value("holysheep.tokens", token_type="prompt") == 7
    assert captured.value("holysheep.active_requests") == 0
    assert len(captured.spans()) == 1


class AiohttpTransport(httpx.AsyncBaseTransport):
    """The shape of LiteLLM's aiohttp transport: httpx requests sent with an aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.session.request(
            request.method, str(request.url), headers=request.headers, data=request.content, auto_decompress=False
        )
        body = await response.read()
        return httpx.Response(response.status, headers=response.raw_headers, content=body, request=request)


def test_httpx_over_aiohttp_transport_is_counted_once(gateway: GatewaySimulator, captured: Captured) -> None:
    async def go() -> Any:
        async with aiohttp.ClientSession() as session, httpx.AsyncClient(transport=AiohttpTransport(session)) as c:
            response = await c.post(
                f"{gateway.base_url}/chat/completions", json=chat(), headers=scenario("prompt_tokens=9")
            )
            return response.json()

    assert run(go())["usage"]["prompt_tokens"] == 9
    assert captured.value("holysheep.requests") == 1
    assert captured.value("holysheep.tokens", token_type="prompt") == 9
    assert captured.value("holysheep.active_requests") == 0
