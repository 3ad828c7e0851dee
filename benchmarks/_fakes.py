"""Fake connection pools: the real httpx / httpx2 transports run, the pool below them hands back canned responses."""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import Callable, Iterable
from typing import Any

GATEWAY = "https://api.holysheep.ai/v1"
CHAT_URL = f"{GATEWAY}/chat/completions"
OTHER_URL = "https://api.example.com/v1/items"
MODEL = "gpt-4.1"
CHAT_REQUEST = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello in one word."}]}

CHAT_RESPONSE = json.dumps(
    {
        "id": "chatcmpl-bench-0001",
        "object": "chat.completion",
        "created": 1764230400,
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 14,
            "completion_tokens": 3,
            "total_tokens": 17,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    },
    separators=(",", ":"),
).encode()
JSON_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(CHAT_RESPONSE)).encode()),
    (b"x-ratelimit-remaining-requests", b"9999"),
    (b"x-ratelimit-limit-requests", b"10000"),
    (b"x-request-id", b"req-bench"),
]
SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"x-request-id", b"req-bench")]

# Status, headers, body bytes or a factory of fresh chunk iterables (a stream can be read once).
Canned = tuple[int, list[tuple[bytes, bytes]], "bytes | Callable[[], Iterable[bytes]]"]


def chat_json() -> Canned:
    return 200, JSON_HEADERS, CHAT_RESPONSE


def sse_chunks(count: int) -> list[bytes]:
    """``count`` chat-completion chunks, each one SSE event in its own network chunk: content, final, usage, [DONE]."""

    def event(obj: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"

    base = {"id": "chatcmpl-bench-stream", "object": "chat.completion.chunk", "created": 1764230400, "model": MODEL}
    content = event({**base, "choices": [{"index": 0, "delta": {"content": " token"}, "finish_reason": None}]})
    last = event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    usage = event(
        {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 14, "completion_tokens": count - 3, "total_tokens": count + 11},
        }
    )
    first = event(
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    )
    return [first] + [content] * (count - 4) + [last, usage, b"data: [DONE]\n\n"]


def embeddings_body(target_bytes: int) -> bytes:
    """An OpenAI embeddings response of about ``target_bytes`` (the float lists make the size), usage at the end."""
    vector = [round(0.0123456789 * ((i * 7919) % 1000 - 500), 9) for i in range(1536)]
    one = len(json.dumps(vector, separators=(",", ":")))
    n = max(1, target_bytes // (one + 50))
    data = [{"object": "embedding", "index": i, "embedding": vector} for i in range(n)]
    return json.dumps(
        {
            "object": "list",
            "data": data,
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 8 * n, "total_tokens": 8 * n},
        },
        separators=(",", ":"),
    ).encode()


def chunked(body: bytes, size: int = 65536) -> list[bytes]:
    """``body`` in network-sized pieces (h11 reads 64 KiB at a time)."""
    return [body[i : i + size] for i in range(0, len(body), size)]


def _make_pools(httpcore: Any) -> tuple[type, type]:
    class FakePool:
        """Stands in for ``httpcore.ConnectionPool``: every request gets the canned response, no I/O."""

        def __init__(self, canned: Canned) -> None:
            self.canned = canned

        def _response(self) -> Any:
            status, headers, body = self.canned
            return httpcore.Response(status, headers=headers, content=body if isinstance(body, bytes) else body())

        def handle_request(self, request: Any) -> Any:
            return self._response()

        def close(self) -> None:
            pass

    class AsyncFakePool(FakePool):
        """Async twin; yields to the event loop once per request, as a real pool would while waiting for bytes."""

        async def handle_async_request(self, request: Any) -> Any:
            await _sleep0()
            return self._response()

        async def aclose(self) -> None:
            pass

    return FakePool, AsyncFakePool


async def _sleep0() -> None:
    import asyncio  # noqa: PLC0415

    await asyncio.sleep(0)


def transport(module_name: str, canned: Canned) -> Any:
    """A real ``HTTPTransport`` of ``httpx`` or ``httpx2`` over a fake pool serving ``canned``."""
    module = __import__(module_name)
    core = __import__("httpcore" if module_name == "httpx" else "httpcore2")
    pool, _ = _make_pools(core)
    t = module.HTTPTransport()
    t._pool.close()
    t._pool = pool(canned)
    return t


def async_transport(module_name: str, canned: Canned) -> Any:
    module = __import__(module_name)
    core = __import__("httpcore" if module_name == "httpx" else "httpcore2")
    _, pool = _make_pools(core)
    t = module.AsyncHTTPTransport()
    t._pool = pool(canned)
    return t


def requests_session(canned: Canned) -> Any:
    """A real ``requests.Session`` and ``HTTPAdapter``; the connection pool below hands back the urllib3 response a
    socket would give: a real ``urllib3.HTTPResponse`` over a real ``http.client.HTTPResponse`` reading the body from
    memory, as ``HTTPConnection.getresponse`` builds it (the head parsed once, as httpx's fake pool hands back parsed
    headers too).

    The ``http.client`` layer matters: it closes itself when the body's content-length is read, so urllib3 stops
    after one read and releases the connection, as it does on a socket. A bare ``BytesIO`` as the body never closes:
    every read path would pay for a second, empty read that no real response makes.
    """
    import requests  # noqa: PLC0415
    import urllib3  # noqa: PLC0415

    status, headers, body = canned
    header_dict = {k.decode(): v.decode() for k, v in headers}
    head = f"HTTP/1.1 {status} OK\r\n".encode() + b"".join(k + b": " + v + b"\r\n" for k, v in headers) + b"\r\n"
    parsed = http.client.HTTPResponse(_MemorySocket(head), method="POST")  # type: ignore[arg-type]  # makefile()
    parsed.begin()
    state = {k: v for k, v in vars(parsed).items() if k != "fp"}  # status line, headers, length, chunked, will_close

    class FakePool:
        def urlopen(self, method: str, url: str, **kwargs: Any) -> Any:
            content = body if isinstance(body, bytes) else b"".join(body())
            original = http.client.HTTPResponse(_MemorySocket(content), method=method)  # type: ignore[arg-type]
            vars(original).update(state)
            return urllib3.HTTPResponse(
                original,
                headers=header_dict,
                status=status,
                version=11,
                reason="OK",
                preload_content=False,
                decode_content=False,
                original_response=original,
                request_method=method,
                request_url=url,
            )

    class FakeAdapter(requests.adapters.HTTPAdapter):
        def get_connection_with_tls_context(self, *args: Any, **kwargs: Any) -> Any:
            return FakePool()

    session = requests.Session()
    session.mount("https://", FakeAdapter())
    return session


class _MemorySocket:
    """What ``http.client.HTTPResponse`` reads a response from: ``makefile`` over bytes in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> Any:
        return io.BytesIO(self.data)


class LoopbackServer:
    """A minimal keep-alive HTTP/1.1 server on 127.0.0.1 in the benchmark's own event loop: every request gets the
    canned response. aiohttp has no injectable transport, so its benchmark (and the httpx one it is compared with)
    talks to this; the server's work is the same with and without instrumentation and cancels out of the overhead."""

    def __init__(self, canned: Canned) -> None:
        status, headers, body = canned
        assert isinstance(body, bytes)
        head = [f"HTTP/1.1 {status} OK".encode()] + [k + b": " + v for k, v in headers]
        if not any(k == b"content-length" for k, _ in headers):
            head.append(b"content-length: " + str(len(body)).encode())
        self.response = b"\r\n".join(head) + b"\r\n\r\n" + body
        self.server: Any = None
        self.port = 0

    async def start(self) -> None:
        import asyncio  # noqa: PLC0415

        response = self.response

        class Protocol(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport
                self.buffer = b""

            def data_received(self, data: bytes) -> None:
                self.buffer += data
                while True:
                    head, sep, rest = self.buffer.partition(b"\r\n\r\n")
                    if not sep:
                        return
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    if len(rest) < length:
                        return
                    self.buffer = rest[length:]
                    self.transport.write(response)

        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(Protocol, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()
