"""x-sim-scenario directives and wire details, checked with raw httpx2."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from otel_holysheep.simulator import GatewaySimulator, ModelProfile, Profile

AUTH = {"Authorization": "Bearer sk-test"}
CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Say hello to the gateway"}]}


@pytest.fixture
def http(sim: GatewaySimulator) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=sim.base_url, timeout=10) as client:
        yield client


def post(http: httpx2.Client, scenario: str = "", path: str = "/chat/completions", **body: Any) -> httpx2.Response:
    headers = {**AUTH, "x-sim-scenario": scenario} if scenario else dict(AUTH)
    return http.post(path, json={**CHAT, **body}, headers=headers)


def sse_data(text: str) -> list[str]:
    """The data payloads of an SSE body (either line ending, comments skipped)."""
    return [line[len("data: ") :] for line in text.replace("\r\n", "\n").split("\n") if line.startswith("data: ")]


def test_json_content_type_length_and_ratelimit_headers(http: httpx2.Client) -> None:
    r1, r2 = post(http), post(http)
    assert r1.status_code == 200
    assert r1.headers["content-type"] == "application/json"
    assert int(r1.headers["content-length"]) == len(r1.content)
    assert r1.headers["x-request-id"].startswith("req_")
    for kind in ("requests", "tokens"):
        assert int(r1.headers[f"x-ratelimit-limit-{kind}"]) > 0
        assert int(r2.headers[f"x-ratelimit-remaining-{kind}"]) < int(r1.headers[f"x-ratelimit-remaining-{kind}"])
        assert r1.headers[f"x-ratelimit-reset-{kind}"].endswith("s")
    assert "x-ratelimit-limit-requests" not in post(http, "no_ratelimit").headers


def test_sse_wire_format(http: httpx2.Client) -> None:
    r = post(http, "chunks=3", stream=True, stream_options={"include_usage": True})
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["transfer-encoding"] == "chunked"
    data = sse_data(r.text)
    assert data[-1] == "[DONE]"
    events = [json.loads(d) for d in data[:-1]]
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [e["choices"][0]["delta"]["content"] for e in events[1:4]] == ["Hello", " from", " the"]
    assert events[4]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert events[5]["choices"] == [] and events[5]["usage"]["completion_tokens"] == 3
    assert len({e["id"] for e in events}) == 1


def test_status_and_retry_after(http: httpx2.Client) -> None:
    r = post(http, "status=503")
    assert r.status_code == 503
    assert r.json()["error"]["type"] == "server_error"
    r = post(http, "status=429")
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    assert (r.headers["retry-after"], r.headers["retry-after-ms"]) == ("1", "1000")
    assert r.headers["x-ratelimit-remaining-requests"] == "0"
    assert r.headers["x-ratelimit-remaining-tokens"] == "0"
    r = post(http, "status=429,retry_after=7,no_ratelimit")
    assert (r.headers["retry-after"], r.headers["retry-after-ms"]) == ("7", "7000")
    assert "x-ratelimit-remaining-requests" not in r.headers


def test_auth_and_unknown_path(http: httpx2.Client) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer sk-invalid"},
    ):
        r = http.post("/chat/completions", json=CHAT, headers=headers)
        assert r.status_code == 401
        assert r.json()["error"] == {
            "message": r.json()["error"]["message"],
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    r = http.post("/nope", json=CHAT, headers=AUTH)
    assert r.status_code == 404 and "Invalid URL" in r.json()["error"]["message"]


def test_fail_first_then_success_and_reset(sim: GatewaySimulator, http: httpx2.Client) -> None:
    statuses = [post(http, "fail_first=2,key=a").status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert post(http, "fail_first=1,key=b,fail_status=503").status_code == 503
    assert post(http, "fail_first=1").status_code == 500
    assert post(http, "fail_first=1").status_code == 200
    assert len(sim.requests) == 6
    sim.reset()
    assert sim.requests == []
    assert post(http, "fail_first=1,key=a").status_code == 500


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_json_and_sse(http: httpx2.Client, encoding: str) -> None:
    r = post(http, encoding)
    assert r.headers["content-encoding"] == encoding
    assert r.json()["usage"]["completion_tokens"] == 8
    r = post(http, encoding + ",split_events", stream=True)
    assert r.headers["content-encoding"] == encoding
    assert sse_data(r.text)[-1] == "[DONE]"


def test_gzip_body_is_really_gzip(sim: GatewaySimulator) -> None:
    headers = {**AUTH, "x-sim-scenario": "gzip"}
    with (
        httpx2.Client(base_url=sim.base_url) as raw,
        raw.stream("POST", "/chat/completions", json=CHAT, headers=headers) as r,
    ):
        compressed = b"".join(r.iter_raw())
    assert json.loads(gzip.decompress(compressed))["object"] == "chat.completion"


def test_cut_after_raises_remote_protocol_error(http: httpx2.Client) -> None:
    received = b""
    with (
        pytest.raises(httpx2.RemoteProtocolError),
        http.stream(
            "POST",
            "/chat/completions",
            json={**CHAT, "stream": True},
            headers={**AUTH, "x-sim-scenario": "cut_after=3"},
        ) as r,
    ):
        for part in r.iter_bytes():
            received += part
    data = sse_data(received.decode())
    assert len(data) == 4 and "[DONE]" not in data
    assert post(http).status_code == 200  # the client recovers with a new connection


def test_profile_cut_stream_truncates_json_body() -> None:
    profile = Profile(generic=ModelProfile(success_rate=0.0, errors={"cut_stream": 1}))
    with (
        GatewaySimulator(profile=profile) as cutting,
        httpx2.Client(base_url=cutting.base_url) as client,
        pytest.raises(httpx2.RemoteProtocolError),
    ):
        post(client)


def test_stall_after_and_stall_headers_time_out(http: httpx2.Client) -> None:
    with (
        pytest.raises(httpx2.ReadTimeout),
        http.stream(
            "POST",
            "/chat/completions",
            json={**CHAT, "stream": True},
            headers={**AUTH, "x-sim-scenario": "stall_after=2"},
            timeout=2.0,
        ) as r,
    ):
        for _ in r.iter_bytes():
            pass
    t0 = time.monotonic()
    with pytest.raises(httpx2.ReadTimeout):
        http.post("/chat/completions", json=CHAT, headers={**AUTH, "x-sim-scenario": "stall_headers"}, timeout=0.3)
    assert time.monotonic() - t0 < 10  # the client's timeout ended it, not the stall's 30 s limit


def test_malformed_and_wrong_shape(http: httpx2.Client) -> None:
    r = post(http, "malformed")
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    body = post(http, "wrong_shape").json()
    assert body["usage"] == "lots" and isinstance(body["model"], int)
    data = sse_data(post(http, "malformed", stream=True).text)
    with pytest.raises(json.JSONDecodeError):
        json.loads(data[0])


def test_token_directives(http: httpx2.Client) -> None:
    usage = post(http, "prompt_tokens=42,completion_tokens=5,cached=10,reasoning=3").json()["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (42, 5, 47)
    assert usage["prompt_tokens_details"]["cached_tokens"] == 10
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 3
    assert post(http, "reasoning=3").json()["usage"]["completion_tokens"] == 8 + 3
    assert "usage" not in post(http, "no_usage").json()
    data = sse_data(post(http, "completion_tokens=5", stream=True, stream_options={"include_usage": True}).text)
    events = [json.loads(d) for d in data[:-1]]
    assert sum(1 for e in events if e["choices"] and e["choices"][0]["delta"].get("content")) == 5
    assert events[-1]["usage"]["completion_tokens"] == 5
    data = sse_data(post(http, "no_usage", stream=True, stream_options={"include_usage": True}).text)
    assert all(json.loads(d)["choices"] for d in data[:-1])


def test_max_tokens_truncates_with_length(http: httpx2.Client) -> None:
    body = post(http, max_tokens=3).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3


def test_role_only_chunks_and_response_model(http: httpx2.Client) -> None:
    data = sse_data(post(http, "role_only_chunks=2,chunks=2,response_model=gpt-4.1-2025-04-14", stream=True).text)
    events = [json.loads(d) for d in data[:-1]]
    deltas = [e["choices"][0]["delta"] for e in events]
    assert deltas[:5] == [
        {"role": "assistant", "content": ""},
        {"content": ""},
        {"content": ""},
        {"content": "Hello"},
        {"content": " from"},
    ]
    assert {e["model"] for e in events} == {"gpt-4.1-2025-04-14"}


def test_delays(http: httpx2.Client) -> None:
    t0 = time.monotonic()
    post(http, "delay_ms=150")
    assert time.monotonic() - t0 >= 0.15
    stamps = []
    # Timed from before the request, so these are lower bounds the server guarantees however slow the client is:
    # no content before the ttft, and the third content chunk two chunk gaps after it.
    t0 = time.monotonic()
    with http.stream(
        "POST",
        "/chat/completions",
        json={**CHAT, "stream": True},
        headers={**AUTH, "x-sim-scenario": "ttft_ms=200,chunk_ms=50,chunks=3"},
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                stamps.append(time.monotonic() - t0)
    assert len(stamps) == 6  # role chunk, three content chunks, the finish chunk, [DONE]
    assert stamps[1] >= 0.2  # first content after ttft
    assert stamps[3] >= 0.2 + 2 * 0.05  # two chunk gaps


def test_sse_crlf_comments(http: httpx2.Client) -> None:
    text = post(http, "sse_crlf,sse_comments,chunks=2", stream=True).text
    assert "\r\n\r\n" in text and ": keep-alive" in text
    assert "\n" not in text.replace("\r\n", "")


@pytest.mark.parametrize(("kib", "fmt"), [(2048, "float"), (10240, "base64")])
def test_body_kib_embeddings(http: httpx2.Client, kib: int, fmt: str) -> None:
    r = http.post(
        "/embeddings",
        json={"model": "text-embedding-3-small", "input": "x", "encoding_format": fmt},
        headers={**AUTH, "x-sim-scenario": f"body_kib={kib}"},
    )
    assert abs(len(r.content) / 1024 - kib) < kib * 0.2
    assert r.json()["usage"] == {"prompt_tokens": 1, "total_tokens": 1}


def test_connection_close_and_unknown_directives(http: httpx2.Client) -> None:
    r = http.post("/chat/completions", json=CHAT, headers={**AUTH, "Connection": "close"})
    assert r.status_code == 200 and r.headers["connection"] == "close"
    assert post(http, "bogus,chunks=oops,status=abc,also=1").status_code == 200


def test_responses_sse_event_lines(http: httpx2.Client) -> None:
    r = http.post(
        "/responses",
        json={"model": "gpt-4.1", "input": "hi", "stream": True},
        headers={**AUTH, "x-sim-scenario": "chunks=2"},
    )
    lines = r.text.split("\n")
    names = [line[len("event: ") :] for line in lines if line.startswith("event: ")]
    assert names[0] == "response.created" and names[-1] == "response.completed"
    assert names.count("response.output_text.delta") == 2
    completed = json.loads(sse_data(r.text)[-1])
    assert completed["type"] == "response.completed"
    assert completed["response"]["usage"]["output_tokens"] == 2
    assert "[DONE]" not in r.text


def test_finish_and_tool_call_directives(http: httpx2.Client) -> None:
    plain = post(http).json()["choices"][0]
    assert (plain["finish_reason"], "tool_calls" in plain["message"]) == ("stop", False)
    assert post(http, max_tokens=2).json()["choices"][0]["finish_reason"] == "length"
    assert post(http, "finish=content_filter").json()["choices"][0]["finish_reason"] == "content_filter"
    tools = post(http, "tool_calls=2,chunks=0").json()["choices"][0]
    assert tools["finish_reason"] == "tool_calls"
    assert tools["message"]["content"] is None  # no text: null, as OpenAI sends it
    assert post(http, "tool_calls=1").json()["choices"][0]["message"]["content"]  # text and a call
    calls = tools["message"]["tool_calls"]
    assert [c["type"] for c in calls] == ["function", "function"]
    assert len({c["id"] for c in calls}) == 2
    assert all(json.loads(c["function"]["arguments"]) == {"city": "Paris"} for c in calls)
    assert post(http, "tool_calls=1,finish=stop").json()["choices"][0]["finish_reason"] == "stop"

    events = [json.loads(d) for d in sse_data(post(http, "tool_calls=2,chunks=1", stream=True).text) if d != "[DONE]"]
    deltas = [e["choices"][0]["delta"] for e in events]
    fragments = [call for d in deltas for call in d.get("tool_calls", [])]
    assert [f["index"] for f in fragments] == [0, 0, 0, 1, 1, 1]
    for index in (0, 1):
        mine = [f for f in fragments if f["index"] == index]
        assert mine[0]["id"] and mine[0]["function"]["name"] == "get_weather"
        assert json.loads("".join(f["function"]["arguments"] for f in mine)) == {"city": "Paris"}
    assert [e["choices"][0]["finish_reason"] for e in events][-1] == "tool_calls"


def test_cache_write_and_gateway_cost_directives(http: httpx2.Client) -> None:
    directives = "prompt_tokens=900,cached=100,cache_write=300,completion_tokens=5,gateway_cost=0.0042"
    usage = post(http, directives).json()["usage"]
    assert usage["prompt_tokens"] == 900
    assert usage["prompt_tokens_details"] == {"cached_tokens": 100, "audio_tokens": 0, "cache_write_tokens": 300}
    assert usage["cost"] == 0.0042
    anthropic = post(http, directives + ",anthropic_usage").json()["usage"]
    assert (anthropic["cache_creation_input_tokens"], anthropic["cache_read_input_tokens"]) == (300, 100)
    assert anthropic["prompt_tokens_details"] == {"audio_tokens": 0}
    stream = post(http, directives, stream=True, stream_options={"include_usage": True})
    last = json.loads(sse_data(stream.text)[-2])  # the usage chunk, before [DONE]
    assert last["usage"]["cost"] == 0.0042 and last["usage"]["prompt_tokens_details"]["cache_write_tokens"] == 300
    responses = post(http, directives, path="/responses", input="hi").json()["usage"]
    assert responses["input_tokens_details"] == {"cached_tokens": 100, "cache_write_tokens": 300}
    assert responses["cost"] == 0.0042
    plain = post(http).json()["usage"]
    assert "cost" not in plain and "cache_write_tokens" not in plain["prompt_tokens_details"]
    assert "cost" not in post(http, "gateway_cost=cheap").json()["usage"]  # not a number: not sent
    assert "cost" not in post(http, "gateway_cost=nan").json()["usage"]
