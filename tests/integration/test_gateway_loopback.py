"""Real loopback HTTP against the gateway simulator, driven by raw httpx and httpx2, sync and async."""

from __future__ import annotations

import asyncio
import gc
import json
from importlib.metadata import version
from typing import Any

import httpx
import pytest

from otel_holysheep.simulator import GatewaySimulator
from tests.support import AUTH, Captured, chat, instrumented, scenario

try:
    import httpx2
except ImportError:  # the oldest compatibility cell: httpx 0.23's h11 range excludes httpx2's (h11 >= 0.16)
    httpx2 = None

NO_HTTPX2 = pytest.mark.skipif(httpx2 is None, reason="httpx2 is not installed (it cannot be beside httpx < 0.25.1)")
MODULES = [pytest.param(httpx, id="httpx"), pytest.param(httpx2, id="httpx2", marks=NO_HTTPX2)]
# the module of the tests that need one client library, not both: httpx2 (openai 3.x's) wherever it is installed
CLIENT: Any = httpx2 if httpx2 is not None else httpx
OLD_HTTPCORE = CLIENT is httpx and int(version("httpcore").split(".")[0]) < 1


@pytest.mark.parametrize("module", MODULES)
def test_json_chat_matches_what_the_gateway_served(module: Any, gateway: GatewaySimulator, captured: Captured) -> None:
    with module.Client(base_url=gateway.base_url, headers=scenario("prompt_tokens=321,completion_tokens=45")) as c:
        body = c.post("/chat/completions", json=chat()).json()
    assert body["usage"]["prompt_tokens"] == 321
    assert captured.value("holysheep.tokens", model="gpt-4.1", token_type="prompt") == 321
    assert captured.value("holysheep.tokens", model="gpt-4.1", token_type="completion") == 45
    assert captured.value("holysheep.cost.usd", model="gpt-4.1") == pytest.approx(321 * 2e-6 + 45 * 8e-6)
    assert captured.value("holysheep.requests", model="gpt-4.1", endpoint="chat/completions", status="success") == 1
    assert captured.value("holysheep.ratelimit.remaining", model="gpt-4.1", kind="requests") > 0
    assert captured.value("holysheep.ratelimit.limit", model="gpt-4.1", kind="tokens") > 0
    assert captured.value("holysheep.active_requests") == 0
    span = captured.spans()[0]
    assert span.attributes["server.address"] == "127.0.0.1"
    assert span.attributes["server.port"] == gateway.port


@pytest.mark.detail_histograms
@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("usage", [True, False])
def test_streaming_chat_sync(module: Any, usage: bool, gateway: GatewaySimulator, captured: Captured) -> None:
    payload = chat("deepseek-v3.2", stream=True, stream_options={"include_usage": usage})
    with (
        module.Client(base_url=gateway.base_url, headers=scenario("chunks=6,prompt_tokens=10")) as c,
        c.stream("POST", "/chat/completions", json=payload) as response,
    ):
        # httpx before 0.24 keeps each line's end in iter_lines
        events = [line.rstrip("\r\n") for line in response.iter_lines() if line.startswith("data:")]
    assert events[-1] == "data: [DONE]"
    assert captured.value("holysheep.stream_outcomes", model="deepseek-v3.2", outcome="completed") == 1
    assert captured.count("holysheep.time_to_first_token", model="deepseek-v3.2") == 1
    assert captured.count("holysheep.time_to_headers", model="deepseek-v3.2") == 1  # a stream's headers: recorded
    assert captured.points("gen_ai.client.operation.time_to_first_chunk") == []  # gen_ai.* off by default
    if usage:
        assert captured.value("holysheep.tokens", model="deepseek-v3.2", token_type="completion") == 6
        assert captured.value("holysheep.usage_missing") == 0
        assert captured.count("holysheep.output_tokens", model="deepseek-v3.2") == 1
    else:
        assert captured.points("holysheep.tokens") == []  # never invented
        assert captured.value("holysheep.usage_missing", model="deepseek-v3.2") == 1
        assert captured.points("holysheep.cost.usd") == []


@pytest.mark.parametrize("module", MODULES)
def test_streaming_async_with_gzip(module: Any, gateway: GatewaySimulator, captured: Captured) -> None:
    async def run() -> list[str]:
        async with module.AsyncClient(base_url=gateway.base_url, headers=scenario("gzip,chunks=5")) as client:
            payload = chat("gemini-2.5-flash", stream=True, stream_options={"include_usage": True})
            async with client.stream("POST", "/chat/completions", json=payload) as response:
                assert response.headers["content-encoding"] == "gzip"
                return [line.rstrip("\r\n") async for line in response.aiter_lines() if line.strip()]

    lines = asyncio.run(run())
    assert lines[-1] == "data: [DONE]"
    assert captured.value("holysheep.tokens", model="gemini-2.5-flash", token_type="completion") == 5
    assert captured.value("holysheep.stream_outcomes", outcome="completed") == 1


@pytest.mark.parametrize("module", MODULES)
def test_gzip_json_body(module: Any, gateway: GatewaySimulator, captured: Captured) -> None:
    with module.Client(base_url=gateway.base_url, headers=scenario("gzip,prompt_tokens=7,completion_tokens=3")) as c:
        assert c.post("/chat/completions", json=chat()).json()["usage"]["completion_tokens"] == 3
    assert captured.value("holysheep.tokens", token_type="completion") == 3


def test_time_to_first_token_tracks_the_slow_first_token(
    gateway: GatewaySimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS", "true")
    payload = chat("claude-sonnet-4", stream=True, stream_options={"include_usage": True})
    with (
        instrumented(base_urls=[gateway.base_url]) as captured,
        CLIENT.Client(base_url=gateway.base_url, headers=scenario("ttft_ms=300,chunk_ms=40,chunks=6")) as c,
        c.stream("POST", "/chat/completions", json=payload) as response,
    ):
        response.read()
    ttft = captured.total("holysheep.time_to_first_token", model="claude-sonnet-4")
    duration = captured.total("holysheep.request.duration", model="claude-sonnet-4")
    assert 0.28 <= ttft <= 0.6
    assert duration >= ttft + 0.15  # five more chunks, 40 ms apart, after the first token
    headers_time = captured.total("holysheep.time_to_headers", model="claude-sonnet-4")
    assert headers_time < ttft
    assert captured.count("gen_ai.client.operation.time_per_output_chunk") == 1


@pytest.mark.parametrize("module", MODULES)
def test_cut_stream_is_interrupted(module: Any, gateway: GatewaySimulator, captured: Captured) -> None:
    with (
        module.Client(base_url=gateway.base_url, headers=scenario("cut_after=2,chunks=8")) as c,
        c.stream("POST", "/chat/completions", json=chat(stream=True)) as response,
        pytest.raises(module.RemoteProtocolError),
    ):
        for _ in response.iter_lines():
            pass
    assert captured.value("holysheep.stream_outcomes", outcome="interrupted") == 1
    assert captured.value("holysheep.requests", status="error") == 1
    assert captured.value("holysheep.errors", error_type="stream_interrupted") == 1
    assert captured.value("holysheep.active_requests") == 0


def test_stalled_stream_times_out(gateway: GatewaySimulator, captured: Captured) -> None:
    with (
        CLIENT.Client(base_url=gateway.base_url, headers=scenario("stall_after=1"), timeout=2.0) as c,
        c.stream("POST", "/chat/completions", json=chat(stream=True)) as response,
        pytest.raises(CLIENT.ReadTimeout),
    ):
        response.read()
    assert captured.value("holysheep.stream_outcomes", outcome="timeout") == 1
    assert captured.value("holysheep.requests", status="timeout") == 1
    assert captured.value("holysheep.errors", error_type="timeout") == 1


@pytest.mark.parametrize("module", MODULES)
def test_early_break_and_close_is_cancelled(module: Any, gateway: GatewaySimulator, captured: Captured) -> None:
    with (
        module.Client(base_url=gateway.base_url, headers=scenario("chunks=20,chunk_ms=5")) as c,
        c.stream("POST", "/chat/completions", json=chat(stream=True)) as response,
    ):
        for i, _ in enumerate(response.iter_lines()):
            if i == 3:
                break
    assert captured.value("holysheep.stream_outcomes", outcome="cancelled") == 1
    assert captured.value("holysheep.requests", status="success") == 1
    assert captured.value("holysheep.errors") == 0
    assert captured.value("holysheep.active_requests") == 0


def test_abandoned_stream_without_close(gateway: GatewaySimulator, captured: Captured) -> None:
    client = CLIENT.Client(base_url=gateway.base_url, headers=scenario("chunks=20,chunk_ms=5"))

    def walk_away() -> None:
        response = client.send(client.build_request("POST", "/chat/completions", json=chat(stream=True)), stream=True)
        lines = response.iter_lines()
        next(lines)
        next(lines)

    walk_away()
    gc.collect()
    assert captured.value("holysheep.active_requests") == 0
    assert captured.value("holysheep.stream_outcomes", outcome="cancelled") == 1
    try:
        client.close()
    except RuntimeError as exc:  # httpcore < 1.0 refuses to close a pool with an unclosed response, measured or not
        assert OLD_HTTPCORE and "still in-flight" in str(exc), exc


@pytest.mark.detail_histograms
@pytest.mark.parametrize("module", MODULES)
def test_rate_limited_429(module: Any, gateway: GatewaySimulator, captured: Captured) -> None:
    with module.Client(base_url=gateway.base_url, headers=scenario("status=429,retry_after=7")) as c:
        response = c.post("/chat/completions", json=chat("gpt-4.1"))
    assert response.status_code == 429
    assert captured.value("holysheep.errors", model="gpt-4.1", error_type="http_429") == 1
    assert captured.value("holysheep.ratelimit.remaining", model="gpt-4.1", kind="requests") == 0
    assert captured.count("holysheep.retry_after", model="gpt-4.1") == 1
    assert captured.total("holysheep.retry_after", model="gpt-4.1") == pytest.approx(7, abs=0.01)


@pytest.mark.parametrize("status", [401, 500, 503])
def test_error_statuses(status: int, gateway: GatewaySimulator, captured: Captured) -> None:
    with CLIENT.Client(base_url=gateway.base_url, headers=scenario(f"status={status}")) as c:
        assert c.post("/chat/completions", json=chat()).status_code == status
    assert captured.value("holysheep.requests", status="failure") == 1
    assert captured.value("holysheep.errors", error_type=f"http_{status}") == 1
    assert captured.value("holysheep.usage_missing") == 0


def test_malformed_json_is_passed_through(gateway: GatewaySimulator, captured: Captured) -> None:
    with CLIENT.Client(base_url=gateway.base_url, headers=scenario("malformed")) as c:
        response = c.post("/chat/completions", json=chat())
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert captured.value("holysheep.requests", status="success") == 1
    assert captured.value("holysheep.usage_missing") == 1


def test_cached_and_reasoning_tokens_and_savings(gateway: GatewaySimulator, captured: Captured) -> None:
    with CLIENT.Client(
        base_url=gateway.base_url, headers=scenario("prompt_tokens=1000,completion_tokens=200,cached=600,reasoning=50")
    ) as c:
        c.post("/chat/completions", json=chat("claude-sonnet-4"))
    assert captured.value("holysheep.tokens", model="claude-sonnet-4", token_type="cached") == 600
    assert captured.value("holysheep.tokens", model="claude-sonnet-4", token_type="reasoning") == 50
    expected = (400 * 3.00 + 600 * 0.30 + 200 * 15.00) / 1e6
    assert captured.value("holysheep.cost.usd", model="claude-sonnet-4") == pytest.approx(expected)
    assert captured.value("holysheep.cache_savings.usd", model="claude-sonnet-4") == pytest.approx(600 * 2.70 / 1e6)
    span = captured.spans()[0]
    assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == 600
    assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == 50


def test_unpriced_model_records_no_cost(gateway: GatewaySimulator, captured: Captured) -> None:
    with CLIENT.Client(base_url=gateway.base_url, headers=scenario("prompt_tokens=10,completion_tokens=5")) as c:
        c.post("/chat/completions", json=chat("mystery-model-9"))
    assert captured.points("holysheep.cost.usd") == []
    assert captured.value("holysheep.unpriced_tokens", model="mystery-model-9") == 15


def test_dated_response_model_is_priced_as_its_base(gateway: GatewaySimulator, captured: Captured) -> None:
    with CLIENT.Client(
        base_url=gateway.base_url,
        headers=scenario("response_model=gpt-4.1-2025-04-14,prompt_tokens=100,completion_tokens=10"),
    ) as c:
        c.post("/chat/completions", json=chat("gpt-4.1"))
    assert captured.value("holysheep.cost.usd", model="gpt-4.1") == pytest.approx(100 * 2e-6 + 10 * 8e-6)
    assert captured.spans()[0].attributes["gen_ai.response.model"] == "gpt-4.1-2025-04-14"


@pytest.mark.parametrize("module", MODULES)
def test_other_endpoints(module: Any, gateway: GatewaySimulator, captured: Captured) -> None:
    with module.Client(base_url=gateway.base_url, headers=AUTH) as c:
        assert c.post("/embeddings", json={"model": "gemini-2.5-flash", "input": ["a", "b"]}).status_code == 200
        assert c.post("/completions", json={"model": "deepseek-v3.2", "prompt": "Say hi"}).status_code == 200
        assert c.post("/responses", json={"model": "gpt-4.1", "input": "Say hi"}).status_code == 200
        assert c.get("/models").status_code == 200
        assert c.get("/models/gpt-4.1").status_code == 200
        assert c.get("/files/file-123").status_code == 404
    assert captured.value("holysheep.requests", endpoint="embeddings", model="gemini-2.5-flash") == 1
    assert captured.value("holysheep.requests", endpoint="completions", model="deepseek-v3.2") == 1
    assert captured.value("holysheep.requests", endpoint="responses", model="gpt-4.1") == 1
    assert captured.value("holysheep.requests", endpoint="models") == 2
    assert captured.value("holysheep.requests", endpoint="other", status="failure") == 1
    assert captured.value("holysheep.tokens", model="gemini-2.5-flash", token_type="prompt") > 0
    assert captured.value("holysheep.tokens", model="gpt-4.1", token_type="completion") > 0  # Responses API usage
    names = {s.name for s in captured.spans()}
    assert {"embeddings gemini-2.5-flash", "text_completion deepseek-v3.2", "chat gpt-4.1", "models"} <= names


def test_responses_api_stream(gateway: GatewaySimulator, captured: Captured) -> None:
    with (
        CLIENT.Client(base_url=gateway.base_url, headers=scenario("chunks=4,prompt_tokens=9")) as c,
        c.stream("POST", "/responses", json={"model": "gpt-4.1", "input": "hi", "stream": True}) as r,
    ):
        r.read()
    assert captured.value("holysheep.stream_outcomes", model="gpt-4.1", outcome="completed") == 1
    assert captured.value("holysheep.tokens", model="gpt-4.1", token_type="prompt") == 9
    assert captured.value("holysheep.tokens", model="gpt-4.1", token_type="completion") == 4
    assert captured.count("holysheep.time_to_first_token", model="gpt-4.1") == 1


def test_model_label_flood_is_capped(gateway: GatewaySimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import instrumented

    monkeypatch.setenv("OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS", "5")
    with instrumented(base_urls=[gateway.base_url]) as cap, CLIENT.Client(base_url=gateway.base_url, headers=AUTH) as c:
        for i in range(40):
            c.post("/chat/completions", json=chat(f"flood-model-{i}"))
        models = {labels["model"] for labels in cap.label_sets("holysheep.requests")}
        assert len(models) == 6
        assert "other" in models
        assert cap.value("holysheep.requests") == 40
        # spans are not metric labels: they keep the real model names
        assert {s.attributes["gen_ai.request.model"] for s in cap.spans()} == {f"flood-model-{i}" for i in range(40)}


def test_opt_in_adds_stream_usage(gateway: GatewaySimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import instrumented

    monkeypatch.setenv("OTEL_INSTRUMENTATION_HOLYSHEEP_REQUEST_STREAM_USAGE", "true")
    gateway.reset()
    with (
        instrumented(base_urls=[gateway.base_url]) as cap,
        CLIENT.Client(base_url=gateway.base_url, headers=scenario("chunks=3")) as c,
        c.stream("POST", "/chat/completions", json=chat(stream=True)) as response,
    ):
        lines = [line for line in response.iter_lines() if line.startswith("data: {")]
    assert json.loads(lines[-1][6:])["choices"] == []  # the documented extra final chunk
    assert gateway.requests[-1].json["stream_options"] == {"include_usage": True}
    assert cap.value("holysheep.tokens", token_type="completion") == 3
