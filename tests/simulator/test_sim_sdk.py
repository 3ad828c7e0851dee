"""The real openai SDK (sync, async, streaming) against the simulator."""

from __future__ import annotations

import asyncio
import math

import httpx
import httpx2
import openai
import pytest

from otel_holysheep.simulator import GatewaySimulator

pytestmark = pytest.mark.openai_sdk

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello to the gateway"}]
PROMPT_TOKENS = math.ceil((len("Be brief.") + len("Say hello to the gateway")) / 4) + 3 * 2


def client(sim: GatewaySimulator, **kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0, **kwargs)  # type: ignore[arg-type]


def test_chat_completion(sim: GatewaySimulator) -> None:
    with client(sim) as c:
        r = c.chat.completions.create(model="gpt-4.1", messages=MESSAGES)  # type: ignore[arg-type]
    assert r.id.startswith("chatcmpl-")
    assert r.object == "chat.completion"
    assert r.model == "gpt-4.1"
    assert r.created > 1_700_000_000
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.role == "assistant"
    assert len(r.choices[0].message.content or "") > 0
    assert r.usage is not None
    assert r.usage.prompt_tokens == PROMPT_TOKENS
    assert r.usage.completion_tokens == 8
    assert r.usage.total_tokens == PROMPT_TOKENS + 8
    assert r.usage.prompt_tokens_details is not None and r.usage.prompt_tokens_details.cached_tokens == 0
    assert r.usage.completion_tokens_details is not None
    assert r.usage.completion_tokens_details.reasoning_tokens == 0
    (req,) = sim.requests
    assert (req.method, req.path) == ("POST", "/v1/chat/completions")
    assert req.headers["authorization"] == "Bearer sk-test"
    assert req.json["messages"] == MESSAGES


def test_chat_keep_alive_many_requests(sim: GatewaySimulator) -> None:
    with client(sim) as c:
        for _ in range(5):
            r = c.chat.completions.create(model="gpt-4.1", messages=MESSAGES)  # type: ignore[arg-type]
            assert r.usage is not None and r.usage.completion_tokens == 8
    assert len(sim.requests) == 5


@pytest.mark.parametrize("include_usage", [False, True])
def test_chat_stream(sim: GatewaySimulator, include_usage: bool) -> None:
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    with client(sim) as c:
        stream = c.chat.completions.create(model="gpt-4.1", messages=MESSAGES, stream=True, **extra)  # type: ignore[call-overload]
        chunks = list(stream)
    first = chunks[0]
    assert first.id.startswith("chatcmpl-")
    assert first.choices[0].delta.role == "assistant"
    assert first.choices[0].delta.content == ""
    content = [ch for ch in chunks if ch.choices and ch.choices[0].delta.content]
    assert len(content) == 8
    finish = [ch for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert [ch.choices[0].finish_reason for ch in finish] == ["stop"]
    usage_chunks = [ch for ch in chunks if not ch.choices]
    if include_usage:
        assert chunks[-1] is usage_chunks[0]
        usage = usage_chunks[0].usage
        assert usage is not None
        assert (usage.prompt_tokens, usage.completion_tokens) == (PROMPT_TOKENS, 8)
    else:
        assert usage_chunks == []
        assert all(ch.usage is None for ch in chunks)


def test_async_chat_and_stream(sim: GatewaySimulator) -> None:
    async def run() -> tuple[int, int]:
        async with openai.AsyncOpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0) as c:
            r = await c.chat.completions.create(model="claude-sonnet-4", messages=MESSAGES)  # type: ignore[arg-type]
            stream = await c.chat.completions.create(
                model="claude-sonnet-4",
                messages=MESSAGES,  # type: ignore[arg-type]
                stream=True,
                stream_options={"include_usage": True},
            )
            tokens = 0
            async for chunk in stream:
                if chunk.usage is not None:
                    tokens = chunk.usage.completion_tokens
            assert r.usage is not None
            return r.usage.completion_tokens, tokens

    assert asyncio.run(run()) == (8, 8)


def test_legacy_completions(sim: GatewaySimulator) -> None:
    with client(sim) as c:
        r = c.completions.create(model="gpt-4.1", prompt="abcdefgh")
        assert r.id.startswith("cmpl-") and r.object == "text_completion"
        assert r.usage is not None and (r.usage.prompt_tokens, r.usage.completion_tokens) == (2, 8)
        stream = c.completions.create(
            model="gpt-4.1", prompt="abcdefgh", stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
    texts = [ch.choices[0].text for ch in chunks if ch.choices]
    assert "".join(texts) == r.choices[0].text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8


def test_embeddings_default_base64_and_float(sim: GatewaySimulator) -> None:
    with client(sim) as c:
        r = c.embeddings.create(model="text-embedding-3-small", input=["hello world", "bye"])
        f = c.embeddings.create(model="text-embedding-3-small", input="hello", encoding_format="float", dimensions=64)
    assert [len(d.embedding) for d in r.data] == [1536, 1536]
    assert r.usage.prompt_tokens == math.ceil(11 / 4) + 1
    assert r.usage.total_tokens == r.usage.prompt_tokens
    assert len(f.data[0].embedding) == 64
    assert all(isinstance(x, float) for x in f.data[0].embedding)
    assert sim.requests[0].json["encoding_format"] == "base64"


def test_responses_json_and_stream(sim: GatewaySimulator) -> None:
    scenario = {"x-sim-scenario": "cached=3,reasoning=2"}
    with client(sim) as c:
        r = c.responses.create(model="gpt-4.1", input="Tell me a story", extra_headers=scenario)
        with c.responses.stream(model="gpt-4.1", input="Tell me a story") as stream:
            types = [event.type for event in stream]
            final = stream.get_final_response()
    assert r.id.startswith("resp_") and r.status == "completed"
    assert r.output_text == final.output_text
    assert r.usage is not None
    assert r.usage.input_tokens == math.ceil(len("Tell me a story") / 4)
    assert r.usage.output_tokens == 8 + 2
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.usage.input_tokens_details.cached_tokens == 3
    assert r.usage.output_tokens_details.reasoning_tokens == 2
    assert types[0] == "response.created"
    assert types.count("response.output_text.delta") == 8
    assert types[-1] == "response.completed"
    assert final.usage is not None and final.usage.output_tokens == 8


def test_models(sim: GatewaySimulator) -> None:
    with client(sim) as c:
        ids = [m.id for m in c.models.list()]
        assert "gpt-4.1" in ids and "gemini-2.5-flash" in ids
        assert c.models.retrieve("deepseek-v3.2").id == "deepseek-v3.2"
        with pytest.raises(openai.NotFoundError):
            c.models.retrieve("no-such-model")


def test_errors_map_to_sdk_exceptions(sim: GatewaySimulator) -> None:
    bad = openai.OpenAI(base_url=sim.base_url, api_key="sk-invalid", max_retries=0)
    with bad, pytest.raises(openai.AuthenticationError) as auth:
        bad.chat.completions.create(model="gpt-4.1", messages=MESSAGES)  # type: ignore[arg-type]
    assert auth.value.code == "invalid_api_key"
    with client(sim) as c:
        with pytest.raises(openai.RateLimitError) as limited:
            c.chat.completions.create(
                model="gpt-4.1",
                messages=MESSAGES,  # type: ignore[arg-type]
                extra_headers={"x-sim-scenario": "status=429,retry_after=2"},
            )
        assert limited.value.response.headers["retry-after"] == "2"
        with pytest.raises(openai.InternalServerError):
            c.chat.completions.create(
                model="gpt-4.1",
                messages=MESSAGES,  # type: ignore[arg-type]
                extra_headers={"x-sim-scenario": "status=503"},
            )


def test_sdk_retries_through_fail_first(sim: GatewaySimulator) -> None:
    with openai.OpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=2) as c:
        r = c.chat.completions.create(
            model="gpt-4.1",
            messages=MESSAGES,  # type: ignore[arg-type]
            extra_headers={"x-sim-scenario": "fail_first=2,key=sdk-retry,fail_status=429,retry_after_ms=20"},
        )
    assert r.usage is not None
    assert len(sim.requests) == 3


@pytest.mark.parametrize("scenario", ["sse_crlf", "sse_comments", "split_events", "gzip", "deflate,split_events"])
def test_stream_wire_variants_still_parse(sim: GatewaySimulator, scenario: str) -> None:
    with client(sim) as c:
        stream = c.chat.completions.create(
            model="gpt-4.1",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
            extra_headers={"x-sim-scenario": scenario + ",chunks=5"},
        )
        chunks = list(stream)
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == (
        "Hello from the HolySheep gateway"
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


def test_cut_stream_raises_connection_error(sim: GatewaySimulator) -> None:
    with client(sim) as c:
        stream = c.chat.completions.create(
            model="gpt-4.1",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            extra_headers={"x-sim-scenario": "cut_after=2"},
        )
        got = []
        # openai 3.x wraps a cut stream in APIConnectionError; 2.x lets httpx's RemoteProtocolError through
        cut = (openai.APIConnectionError, httpx.RemoteProtocolError, httpx2.RemoteProtocolError)
        with pytest.raises(cut):
            for ch in stream:
                got.append(ch)
        stream.close()
    assert sum(1 for ch in got if ch.choices and ch.choices[0].delta.content) == 2
