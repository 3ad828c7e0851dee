"""The real openai SDK (3.x on httpx2, or 2.x on httpx in the second environment) against the simulator."""

from __future__ import annotations

import asyncio
import logging
from importlib.metadata import version

import openai
import pytest

from otel_holysheep.simulator import GatewaySimulator
from tests.support import Captured, openai_aiohttp_client_or_skip, wait_until_async

pytestmark = pytest.mark.openai_sdk

KEY = "sk-holysheep-test-KEY-0123456789"
MESSAGES = [{"role": "user", "content": "Which model is fastest? (a private prompt)"}]
SDK_MAJOR = int(openai.__version__.split(".")[0])
HTTPCORE_MAJOR = int(version("httpcore").split(".")[0]) if SDK_MAJOR < 3 else 1


def client(gateway: GatewaySimulator, directives: str = "", retries: int = 0) -> openai.OpenAI:
    headers = {"x-sim-scenario": directives} if directives else None
    return openai.OpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=retries, default_headers=headers)


def test_sdk_generation_uses_the_expected_http_library() -> None:
    """3.x sends through httpx2, 2.x through httpx: `make test` runs this file once in each environment."""
    with openai.OpenAI(api_key=KEY, base_url="http://127.0.0.1:9/v1") as sdk:
        library = next(c.__module__.split(".")[0] for c in type(sdk._client).__mro__ if c.__name__ == "Client")
    assert library == ("httpx2" if SDK_MAJOR >= 3 else "httpx")


def test_chat_completion(gateway: GatewaySimulator, captured: Captured) -> None:
    with client(gateway, "prompt_tokens=120,completion_tokens=30") as sdk:
        completion = sdk.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 120
    assert captured.value("holysheep.requests", model="gpt-4.1", endpoint="chat/completions", status="success") == 1
    assert captured.value("holysheep.tokens", model="gpt-4.1", token_type="prompt") == 120
    assert captured.value("holysheep.cost.usd", model="gpt-4.1") == pytest.approx(120 * 2e-6 + 30 * 8e-6)
    (span,) = captured.spans()
    assert span.name == "chat gpt-4.1"
    assert span.attributes["gen_ai.response.id"] == completion.id


def test_streaming_with_usage(gateway: GatewaySimulator, captured: Captured) -> None:
    with client(gateway, "chunks=5,ttft_ms=50") as sdk:
        stream = sdk.chat.completions.create(
            model="gemini-2.5-flash", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text
    assert captured.value("holysheep.tokens", model="gemini-2.5-flash", token_type="completion") == 5
    assert captured.value("holysheep.stream_outcomes", model="gemini-2.5-flash", outcome="completed") == 1
    ttft = captured.total("holysheep.time_to_first_token", model="gemini-2.5-flash")
    assert 0.045 <= ttft < captured.total("holysheep.request.duration", model="gemini-2.5-flash")


def test_async_streaming_and_cancellation(gateway: GatewaySimulator, captured: Captured) -> None:
    if HTTPCORE_MAJOR < 1 and SDK_MAJOR < 3:
        pytest.skip(
            "httpcore < 1.0 (httpx 0.23-0.25.0) raises RuntimeError when the client closes with a cancelled stream "
            "still open, instrumented or not: the app pattern this test drives fails there without us"
        )

    async def run() -> str:
        sdk = openai.AsyncOpenAI(
            base_url=gateway.base_url, api_key=KEY, max_retries=0, default_headers={"x-sim-scenario": "chunks=4"}
        )
        async with sdk:
            stream = await sdk.chat.completions.create(model="deepseek-v3.2", messages=MESSAGES, stream=True)
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]

            chunks_read = 0

            async def slow_reader() -> None:
                nonlocal chunks_read
                slow = await sdk.chat.completions.create(
                    model="deepseek-v3.2",
                    messages=MESSAGES,
                    stream=True,
                    extra_headers={"x-sim-scenario": "chunks=50,chunk_ms=20"},
                )
                async for _ in slow:
                    chunks_read += 1

            task = asyncio.create_task(slow_reader())
            # cancel mid-stream: after the first chunk, however long the machine took to get there
            await wait_until_async(lambda: chunks_read > 0 or task.done(), what="the first chunk")
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return "".join(parts)

    assert asyncio.run(run())
    assert captured.value("holysheep.stream_outcomes", model="deepseek-v3.2", outcome="completed") == 1
    assert captured.value("holysheep.stream_outcomes", model="deepseek-v3.2", outcome="cancelled") == 1
    assert captured.value("holysheep.active_requests") == 0
    assert captured.value("holysheep.usage_missing", model="deepseek-v3.2") == 1  # the completed one had none


def test_early_break_out_of_stream(gateway: GatewaySimulator, captured: Captured) -> None:
    with client(gateway, "chunks=30,chunk_ms=5") as sdk:
        stream = sdk.chat.completions.create(model="claude-sonnet-4", messages=MESSAGES, stream=True)
        for i, _ in enumerate(stream):
            if i == 2:
                break
        stream.close()
    assert captured.value("holysheep.stream_outcomes", outcome="cancelled") == 1
    assert captured.value("holysheep.active_requests") == 0


def test_embeddings_and_responses(gateway: GatewaySimulator, captured: Captured) -> None:
    with client(gateway) as sdk:
        emb = sdk.embeddings.create(model="gemini-2.5-flash", input=["one", "two"])
        resp = sdk.responses.create(model="gpt-4.1", input="Say hi")
        models = sdk.models.list()
    assert len(emb.data) == 2
    assert resp.usage is not None
    assert any(m.id == "gpt-4.1" for m in models)
    assert captured.value("holysheep.tokens", model="gemini-2.5-flash", token_type="prompt") == emb.usage.prompt_tokens
    assert captured.value("holysheep.tokens", model="gpt-4.1", token_type="completion") == resp.usage.output_tokens
    assert captured.value("holysheep.requests", endpoint="models") == 1


def test_retry_after_5xx_is_visible(gateway: GatewaySimulator, captured: Captured) -> None:
    gateway.reset()
    with client(gateway, "fail_first=1,fail_status=503,key=retry-5xx", retries=2) as sdk:
        completion = sdk.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    assert completion.choices
    assert captured.value("holysheep.requests", model="gpt-4.1", status="failure") == 1
    assert captured.value("holysheep.requests", model="gpt-4.1", status="success") == 1
    assert captured.value("holysheep.retries", model="gpt-4.1", reason="http_5xx") == 1
    assert captured.count("holysheep.request.duration", model="gpt-4.1") == 2
    attempts = sorted(s.attributes.get("holysheep.attempt", 0) for s in captured.spans())
    assert attempts == [0, 1]


def test_retry_after_429(gateway: GatewaySimulator, captured: Captured) -> None:
    gateway.reset()
    with client(gateway, "fail_first=1,fail_status=429,key=retry-429,retry_after=0", retries=1) as sdk:
        sdk.chat.completions.create(model="deepseek-v3.2", messages=MESSAGES)
    assert captured.value("holysheep.retries", model="deepseek-v3.2", reason="http_429") == 1
    assert captured.value("holysheep.errors", model="deepseek-v3.2", error_type="http_429") == 1


DETAIL_INSTRUMENTS = ("holysheep.time_to_headers", "holysheep.output_tokens", "holysheep.retry_after")


@pytest.mark.parametrize(
    "detail", [pytest.param(False, id="defaults"), pytest.param(True, id="detail", marks=pytest.mark.detail_histograms)]
)
def test_detail_histograms_only_with_their_setting(detail: bool, gateway: GatewaySimulator, captured: Captured) -> None:
    """A stream with usage and a 429 with retry-after: the three detail histograms get points (hence series) only
    with OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS=true; the duration and first-token ladders always."""
    with client(gateway, "chunks=5,prompt_tokens=40,completion_tokens=20") as sdk:
        stream = sdk.chat.completions.create(
            model="gemini-2.5-flash", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    with client(gateway, "status=429,retry_after=3") as sdk, pytest.raises(openai.RateLimitError):
        sdk.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    assert captured.count("holysheep.request.duration") == 2
    assert captured.count("holysheep.time_to_first_token", model="gemini-2.5-flash") == 1
    counts = {name: captured.count(name) for name in DETAIL_INSTRUMENTS}
    assert counts == dict.fromkeys(DETAIL_INSTRUMENTS, 1 if detail else 0)
    if detail:
        assert captured.total("holysheep.retry_after", model="gpt-4.1") == pytest.approx(3)
        assert captured.count("holysheep.time_to_headers", model="gemini-2.5-flash", endpoint="chat/completions") == 1
    else:
        assert all(captured.points(name) == [] for name in DETAIL_INSTRUMENTS)  # no point: no series exported


def test_auth_failure_and_sdk_exception_unchanged(gateway: GatewaySimulator, captured: Captured) -> None:
    sdk = openai.OpenAI(base_url=gateway.base_url, api_key="sk-invalid", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        sdk.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    sdk.close()
    assert info.value.status_code == 401
    assert captured.value("holysheep.errors", model="gpt-4.1", error_type="http_401") == 1


def test_api_key_and_prompt_never_in_telemetry(
    gateway: GatewaySimulator, captured: Captured, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), client(gateway) as sdk:
        sdk.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
        list(sdk.chat.completions.create(model="gpt-4.1", messages=MESSAGES, stream=True))
    exported = captured.reader.get_metrics_data().to_json()
    exported += "".join(span.to_json() for span in captured.spans())
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("otel_holysheep"))
    for secret in (KEY, "private prompt"):
        assert secret not in exported
        assert secret not in ours


def test_aiohttp_transport_is_seen(gateway: GatewaySimulator, captured: Captured) -> None:
    from openai import DefaultAioHttpClient

    openai_aiohttp_client_or_skip()

    async def run() -> None:
        async with openai.AsyncOpenAI(
            base_url=gateway.base_url, api_key=KEY, max_retries=0, http_client=DefaultAioHttpClient()
        ) as sdk:
            await sdk.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
            stream = await sdk.chat.completions.create(
                model="gpt-4.1", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            async for _ in stream:
                pass

    asyncio.run(run())
    assert captured.value("holysheep.requests", model="gpt-4.1", status="success") == 2
    assert captured.value("holysheep.stream_outcomes", model="gpt-4.1", outcome="completed") == 1
    assert captured.value("holysheep.active_requests") == 0
