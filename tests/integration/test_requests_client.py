"""Real loopback HTTP against the gateway simulator, driven by `requests`: every way an app reads a body."""

from __future__ import annotations

import gc
import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
import requests
import urllib3

from otel_holysheep import _requests
from otel_holysheep.simulator import GatewaySimulator
from tests.support import AUTH, Captured, chat, instrumented, scenario


def _raw_read(r: requests.Response) -> bytes:
    return r.raw.read(decode_content=True)


def _raw_read_small(r: requests.Response) -> bytes:
    # urllib3 1.26 may return b"" before the end while the decoder holds back what 7 wire bytes gave (a gzip
    # header): the end is the stream closed, not the first empty read (urllib3 2 fills each read of a decoded body)
    out = b""
    for _ in range(100_000):
        piece = r.raw.read(7, decode_content=True)
        out += piece
        if not piece and r.raw.closed:
            return out
    raise AssertionError("the body never ended")


def _raw_stream(r: requests.Response) -> bytes:
    return b"".join(r.raw.stream(16, decode_content=True))


def _plain_again(r: requests.Response) -> bool:
    """Finished at the end of its body, the urllib3 response is of its own type again and no call is kept for it: its
    closing reads and connection releases run plain urllib3."""
    return type(r.raw) is urllib3.HTTPResponse and _requests._CALL not in vars(r.raw)


# How an application may read a body: each must be observed exactly once, to its end.
READS: dict[str, Callable[[requests.Response], bytes]] = {
    "content": lambda r: r.content,
    "text": lambda r: r.text.encode(),
    "iter_content": lambda r: b"".join(r.iter_content(chunk_size=7)),
    "iter_content_none": lambda r: b"".join(r.iter_content(chunk_size=None)),
    "iter_lines": lambda r: b"\n".join(r.iter_lines()),
    "raw.read": _raw_read,
    "raw.read(7)": _raw_read_small,
    "raw.stream": _raw_stream,
}


@pytest.mark.parametrize("read", list(READS))
@pytest.mark.parametrize("gzip", [False, True], ids=["identity", "gzip"])
def test_json_read_any_way(read: str, gzip: bool, gateway: GatewaySimulator, captured: Captured) -> None:
    directives = "prompt_tokens=321,completion_tokens=45" + (",gzip" if gzip else "")
    with requests.post(
        f"{gateway.base_url}/chat/completions", json=chat(), headers=scenario(directives), stream=True
    ) as response:
        body = READS[read](response)
        assert _plain_again(response)
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
    assert span.attributes["server.address"] == "127.0.0.1"
    assert span.attributes["server.port"] == gateway.port
    assert span.attributes["gen_ai.usage.input_tokens"] == 321


def test_plain_post_json(gateway: GatewaySimulator, captured: Captured) -> None:
    body = requests.post(
        f"{gateway.base_url}/chat/completions", json=chat(), headers=scenario("prompt_tokens=5,completion_tokens=2")
    ).json()
    assert body["usage"]["completion_tokens"] == 2
    assert captured.value("holysheep.tokens", token_type="completion") == 2
    assert captured.value("holysheep.ratelimit.remaining", model="gpt-4.1", kind="requests") > 0
    assert captured.count("holysheep.request.duration", model="gpt-4.1") == 1
    assert captured.count("holysheep.time_to_headers") == 0  # a JSON response's headers repeat its duration
    assert captured.count("holysheep.time_to_first_token") == 0


@pytest.mark.detail_histograms
@pytest.mark.parametrize("read", list(READS))
@pytest.mark.parametrize("gzip", [False, True], ids=["identity", "gzip"])
def test_sse_read_any_way(read: str, gzip: bool, gateway: GatewaySimulator, captured: Captured) -> None:
    payload = chat("deepseek-v3.2", stream=True, stream_options={"include_usage": True})
    directives = "chunks=6,prompt_tokens=10,split_events,tool_calls=2" + (",gzip" if gzip else "")
    with (
        requests.Session() as session,
        session.post(
            f"{gateway.base_url}/chat/completions", json=payload, headers=scenario(directives), stream=True
        ) as response,
    ):
        body = READS[read](response)
        assert _plain_again(response)
    assert body.rstrip().endswith(b"data: [DONE]")
    assert captured.value("holysheep.stream_outcomes", model="deepseek-v3.2", outcome="completed") == 1
    assert captured.count("holysheep.time_to_first_token", model="deepseek-v3.2") == 1
    assert captured.count("holysheep.time_to_headers", model="deepseek-v3.2") == 1
    assert captured.value("holysheep.tokens", model="deepseek-v3.2", token_type="completion") == 6
    assert captured.value("holysheep.tokens", model="deepseek-v3.2", token_type="prompt") == 10
    assert captured.count("holysheep.output_tokens", model="deepseek-v3.2") == 1
    assert captured.value("holysheep.finishes", model="deepseek-v3.2", finish_reason="tool_calls") == 1
    assert captured.value("holysheep.finishes") == 1
    assert captured.value("holysheep.tool_calls", model="deepseek-v3.2") == 2
    assert captured.value("holysheep.requests", status="success") == 1
    assert captured.value("holysheep.active_requests") == 0


def test_sse_without_stream_flag_is_read_whole(gateway: GatewaySimulator, captured: Captured) -> None:
    response = requests.post(
        f"{gateway.base_url}/chat/completions", json=chat("gpt-4.1", stream=True), headers=scenario("chunks=3")
    )
    assert response.text.rstrip().endswith("data: [DONE]")
    assert captured.value("holysheep.stream_outcomes", outcome="completed") == 1
    assert captured.value("holysheep.usage_missing", model="gpt-4.1") == 1  # no include_usage: never invented
    assert captured.points("holysheep.tokens") == []


@pytest.mark.detail_histograms
@pytest.mark.parametrize("status", [401, 429, 500])
def test_error_statuses(status: int, gateway: GatewaySimulator, captured: Captured) -> None:
    response = requests.post(
        f"{gateway.base_url}/chat/completions", json=chat(), headers=scenario(f"status={status},retry_after=7")
    )
    assert response.status_code == status
    assert captured.value("holysheep.requests", status="failure") == 1
    assert captured.value("holysheep.errors", model="gpt-4.1", error_type=f"http_{status}") == 1
    assert captured.value("holysheep.usage_missing") == 0
    if status == 429:
        assert captured.total("holysheep.retry_after", model="gpt-4.1") == pytest.approx(7, abs=0.01)
        assert captured.value("holysheep.ratelimit.remaining", model="gpt-4.1", kind="requests") == 0


def test_cut_stream_is_interrupted(gateway: GatewaySimulator, captured: Captured) -> None:
    with (
        requests.post(
            f"{gateway.base_url}/chat/completions",
            json=chat(stream=True),
            headers=scenario("cut_after=2,chunks=8"),
            stream=True,
        ) as response,
        pytest.raises(requests.exceptions.ChunkedEncodingError),
    ):
        for _ in response.iter_lines():
            pass
    assert captured.value("holysheep.stream_outcomes", outcome="interrupted") == 1
    assert captured.value("holysheep.requests", status="error") == 1
    assert captured.value("holysheep.errors", error_type="stream_interrupted") == 1
    assert captured.value("holysheep.active_requests") == 0


def test_stalled_stream_times_out(gateway: GatewaySimulator, captured: Captured) -> None:
    with (
        requests.post(
            f"{gateway.base_url}/chat/completions",
            json=chat(stream=True),
            headers=scenario("stall_after=1"),
            stream=True,
            timeout=2.0,  # the headers come at once, however loaded the machine; then the stall
        ) as response,
        pytest.raises(requests.exceptions.ConnectionError),  # requests' wrapping of urllib3's ReadTimeoutError
    ):
        for _ in response.iter_content(chunk_size=None):
            pass
    assert captured.value("holysheep.stream_outcomes", outcome="timeout") == 1
    assert captured.value("holysheep.requests", status="timeout") == 1
    assert captured.value("holysheep.errors", error_type="timeout") == 1


def test_headers_timeout(gateway: GatewaySimulator, captured: Captured) -> None:
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(
            f"{gateway.base_url}/chat/completions", json=chat(), headers=scenario("stall_headers"), timeout=0.3
        )
    assert captured.value("holysheep.requests", status="timeout") == 1
    assert captured.value("holysheep.errors", error_type="timeout") == 1
    assert captured.count("holysheep.time_to_headers") == 0


def test_connection_refused_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the request: nothing listens there
    url = f"http://127.0.0.1:{port}/v1"
    with instrumented(base_urls=[url]) as cap, pytest.raises(requests.exceptions.ConnectionError):
        requests.post(f"{url}/chat/completions", json=chat())
    assert cap.value("holysheep.errors", error_type="connect_error") == 1
    assert cap.value("holysheep.active_requests") == 0


def test_early_break_and_close_is_cancelled(gateway: GatewaySimulator, captured: Captured) -> None:
    with requests.post(
        f"{gateway.base_url}/chat/completions",
        json=chat(stream=True),
        headers=scenario("chunks=20,chunk_ms=5"),
        stream=True,
    ) as response:
        for i, _ in enumerate(response.iter_lines()):
            if i == 3:
                break
    assert captured.value("holysheep.stream_outcomes", outcome="cancelled") == 1
    assert captured.value("holysheep.requests", status="success") == 1
    assert captured.value("holysheep.errors") == 0
    assert captured.value("holysheep.active_requests") == 0


def test_abandoned_stream_without_close(gateway: GatewaySimulator, captured: Captured) -> None:
    def walk_away() -> None:
        response = requests.post(
            f"{gateway.base_url}/chat/completions",
            json=chat(stream=True),
            headers=scenario("chunks=20,chunk_ms=5"),
            stream=True,
        )
        lines = response.iter_lines()
        next(lines)
        next(lines)

    walk_away()
    gc.collect()
    assert captured.value("holysheep.active_requests") == 0
    assert captured.value("holysheep.stream_outcomes", outcome="cancelled") == 1


def test_slow_first_token(gateway: GatewaySimulator, captured: Captured) -> None:
    payload = chat("claude-sonnet-4", stream=True, stream_options={"include_usage": True})
    with requests.post(
        f"{gateway.base_url}/chat/completions",
        json=payload,
        headers=scenario("ttft_ms=300,chunk_ms=40,chunks=6"),
        stream=True,
    ) as response:
        for _ in response.iter_lines():
            pass
    ttft = captured.total("holysheep.time_to_first_token", model="claude-sonnet-4")
    assert 0.28 <= ttft <= 0.6
    assert captured.total("holysheep.request.duration", model="claude-sonnet-4") >= ttft + 0.15
    assert captured.total("holysheep.time_to_headers", model="claude-sonnet-4") < ttft


def test_other_endpoints_and_hosts(gateway: GatewaySimulator, captured: Captured) -> None:
    with requests.Session() as session:
        session.headers.update(AUTH)
        assert session.post(f"{gateway.base_url}/embeddings", json={"model": "gemini-2.5-flash", "input": "a"}).ok
        assert session.get(f"{gateway.base_url}/models").ok
        assert session.head(f"{gateway.base_url}/models").status_code == 501  # the simulator serves no HEAD
        assert session.get(f"{gateway.base_url}/files/f-1?x=1").status_code == 404
        other = f"http://localhost:{gateway.port}/v1/models"  # same server, a host name that is not configured
        assert session.get(other).ok
    assert captured.value("holysheep.requests", endpoint="embeddings", model="gemini-2.5-flash") == 1
    assert captured.value("holysheep.requests", endpoint="models", status="success") == 1
    assert captured.value("holysheep.errors", error_type="http_501") == 1  # a body-less response, finished too
    assert captured.value("holysheep.requests", endpoint="other", status="failure") == 1
    assert captured.value("holysheep.requests") == 4
    assert captured.value("holysheep.active_requests") == 0


def test_opt_in_adds_stream_usage(gateway: GatewaySimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HOLYSHEEP_REQUEST_STREAM_USAGE", "true")
    gateway.reset()
    with (
        instrumented(base_urls=[gateway.base_url]) as cap,
        requests.post(
            f"{gateway.base_url}/chat/completions", json=chat(stream=True), headers=scenario("chunks=3"), stream=True
        ) as response,
    ):
        lines = [line for line in response.iter_lines() if line.startswith(b"data: {")]
    assert json.loads(lines[-1][6:])["choices"] == []
    assert gateway.requests[-1].json["stream_options"] == {"include_usage": True}
    assert cap.value("holysheep.tokens", token_type="completion") == 3


def test_each_redirect_hop_is_one_attempt(gateway: GatewaySimulator) -> None:
    """HTTPAdapter.send runs once per hop: a 307 to the gateway is two measured attempts, the redirect one first."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(307)
            self.send_header("location", f"{gateway.base_url}/chat/completions")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    old = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        with instrumented(base_urls=[old, gateway.base_url]) as cap:
            response = requests.post(f"{old}/chat/completions", json=chat(), headers=scenario("prompt_tokens=6"))
            # requests drops the Authorization header on a redirect to another port: the gateway answers 401
            assert [r.status_code for r in response.history] == [307]
            assert response.status_code == 401
            assert cap.value("holysheep.requests") == 2
            assert [s.attributes["http.response.status_code"] for s in cap.spans()] == [307, 401]
            assert cap.value("holysheep.requests", status="success") == 1  # the 307 hop
            assert cap.value("holysheep.errors", error_type="http_401") == 1
            assert cap.value("holysheep.active_requests") == 0
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
