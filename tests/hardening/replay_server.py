"""A loopback HTTP server that replays canned bytes, byte for byte the same on every run.

Differential tests need the same response twice (uninstrumented, then instrumented), including the faults: split
writes, truncated chunked bodies, stalls, connection resets. The scenario is the request's ``x-replay`` header.
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

Writer = Callable[[socket.socket], None]

CHAT = {
    "id": "chatcmpl-replay",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4.1-2025-04-14",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "héllo"}}],
    "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
}


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", "connection: close"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _json_response(body: bytes, extra: dict[str, str] | None = None, status: str = "200 OK") -> Writer:
    def write(conn: socket.socket) -> None:
        conn.sendall(
            _head(status, {"content-type": "application/json", "content-length": str(len(body)), **(extra or {})})
            + body
        )

    return write


def _sse_events(crlf: bool = False, comments: bool = False, usage: bool = True) -> bytes:
    nl = "\r\n" if crlf else "\n"
    chunks = [
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "gpt-4.1",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
    ]
    chunks += [
        {"id": "c1", "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}
        for w in ("Hel", "lo", " wör", "ld")
    ]
    chunks.append({"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage:
        chunks.append({"id": "c1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 4}})
    out = ""
    for chunk in chunks:
        if comments:
            out += f": keep-alive{nl}{nl}"
        out += f"data: {json.dumps(chunk, ensure_ascii=False)}{nl}{nl}"
    return (out + f"data: [DONE]{nl}{nl}").encode()


def _sse(
    body: bytes, pieces: int = 1, cut: bool = False, stall_after: int | None = None, extra: dict[str, str] | None = None
) -> Writer:
    def write(conn: socket.socket) -> None:
        conn.sendall(
            _head("200 OK", {"content-type": "text/event-stream", "transfer-encoding": "chunked", **(extra or {})})
        )
        size = max(len(body) // pieces, 1)
        parts = [body[i : i + size] for i in range(0, len(body), size)]
        for n, part in enumerate(parts):
            if stall_after is not None and n == stall_after:
                time.sleep(5)  # the client times out first
                return
            if cut and n == len(parts) // 2:
                conn.sendall(f"{len(part) + 50:x}\r\n".encode() + part)  # a chunk that never completes
                return
            conn.sendall(_chunk(part))
            if pieces > 1:
                time.sleep(0.001)
        conn.sendall(b"0\r\n\r\n")

    return write


def _reset(conn: socket.socket) -> None:
    conn.sendall(
        b'HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"id":'
    )
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close


def _silent(conn: socket.socket) -> None:
    time.sleep(5)  # never answer: the client's read timeout fires first


BIG = json.dumps(
    {
        "object": "list",
        "model": "gpt-4.1",
        "data": [{"object": "embedding", "index": i, "embedding": [0.25] * 1500} for i in range(1200)],
        "usage": {"prompt_tokens": 1200, "total_tokens": 1200},
    }
).encode()

SCENARIOS: dict[str, Writer] = {
    "json_ok": _json_response(json.dumps(CHAT, ensure_ascii=False).encode()),
    "json_gzip": _json_response(gzip.compress(json.dumps(CHAT).encode(), mtime=0), {"content-encoding": "gzip"}),
    "malformed_json": _json_response(b'{"id": "chatcmpl-x", "model": '),
    "wrong_shape": _json_response(
        json.dumps(
            {
                "id": 5,
                "model": ["x"],
                "choices": "none",
                "usage": {"prompt_tokens": -4, "completion_tokens": 10**15, "prompt_tokens_details": "x"},
            }
        ).encode()
    ),
    "usage_string": _json_response(json.dumps({**CHAT, "usage": "lots"}).encode()),
    "missing_fields": _json_response(b"{}"),
    "non_utf8": _json_response(b'{"id": "\xff\xfe\xfa", "usage": {"prompt_tokens": 1}}'),
    "gzip_corrupt": _json_response(b"\x1f\x8b\x08\x00garbage-not-gzip", {"content-encoding": "gzip"}),
    "http_500": _json_response(b'{"error": {"message": "boom", "type": "server_error"}}', status="500 Internal"),
    "big_body": _json_response(BIG),
    "sse_ok": _sse(_sse_events()),
    "sse_no_usage": _sse(_sse_events(usage=False)),
    "sse_crlf_comments_split": _sse(_sse_events(crlf=True, comments=True), pieces=37),
    "sse_truncated": _sse(_sse_events(), pieces=6, cut=True),
    "sse_stalled": _sse(_sse_events(), pieces=6, stall_after=2),
    "sse_gzip_corrupt": _sse(b"\x1f\x8b\x08\x00not gzip at all", extra={"content-encoding": "gzip"}),
    "reset": _reset,
    "read_timeout": _silent,
}


class ReplayServer:
    """Serves ``SCENARIOS`` on 127.0.0.1 (port 0), one connection per request."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.hits: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                scenario = self._read_request(conn)
                self.hits.append(scenario)
                SCENARIOS[scenario](conn)
            except (OSError, KeyError):
                return

    @staticmethod
    def _read_request(conn: socket.socket) -> str:
        data = b""
        while b"\r\n\r\n" not in data:
            piece = conn.recv(65536)
            if not piece:
                raise OSError("client went away")
            data += piece
        head, _, body = data.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ": " in line)
        lower = {k.lower(): v for k, v in headers.items()}
        length = int(lower.get("content-length", "0"))
        while len(body) < length:
            body += conn.recv(65536)
        return lower.get("x-replay", "json_ok")


def scenario_names() -> Iterator[str]:
    yield from SCENARIOS
