"""Why a call ended: finish reasons and tool calls counted from what the simulator sent, JSON and streams, through
the real openai SDK and raw httpx over loopback."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
import pytest

from otel_holysheep.simulator import GatewaySimulator
from tests.support import Captured, chat, scenario

KEY = "sk-holysheep-test-KEY-0123456789"
MESSAGES: Any = [{"role": "user", "content": "What is the weather in Paris?"}]


def client(gateway: GatewaySimulator, directives: str = "") -> openai.OpenAI:
    headers = {"x-sim-scenario": directives} if directives else None
    return openai.OpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0, default_headers=headers)


def finishes(captured: Captured) -> dict[tuple[str, str], float]:
    return {(p.attributes["model"], p.attributes["finish_reason"]): p.value for p in captured.points(
        "holysheep.finishes"
    ) if p.value}  # fmt: skip


def tool_calls(captured: Captured) -> dict[str, float]:
    return {p.attributes["model"]: p.value for p in captured.points("holysheep.tool_calls") if p.value}


def test_json_truncated_by_max_tokens_and_tool_calls(gateway: GatewaySimulator, captured: Captured) -> None:
    with client(gateway) as sdk:
        cut = sdk.chat.completions.create(model="gpt-4.1", messages=MESSAGES, max_tokens=3)
        whole = sdk.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    with client(gateway, "tool_calls=2") as sdk:
        tools = sdk.chat.completions.create(model="deepseek-v3.2", messages=MESSAGES)
    assert (cut.choices[0].finish_reason, whole.choices[0].finish_reason) == ("length", "stop")
    assert tools.choices[0].finish_reason == "tool_calls"
    assert len(tools.choices[0].message.tool_calls or []) == 2
    assert finishes(captured) == {("gpt-4.1", "length"): 1, ("gpt-4.1", "stop"): 1, ("deepseek-v3.2", "tool_calls"): 1}
    assert tool_calls(captured) == {"deepseek-v3.2": 2}


def test_stream_counts_each_tool_call_once_and_the_last_finish(gateway: GatewaySimulator, captured: Captured) -> None:
    with client(gateway, "tool_calls=3,chunks=2") as sdk:
        stream = sdk.chat.completions.create(
            model="gpt-4.1", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
    fragments = [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert len(fragments) == 9  # three calls, each a start and two argument fragments
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    assert finishes(captured) == {("gpt-4.1", "tool_calls"): 1}
    assert tool_calls(captured) == {"gpt-4.1": 3}
    assert captured.value("holysheep.tokens", model="gpt-4.1", token_type="completion") == 2


def test_async_stream_truncated(gateway: GatewaySimulator, captured: Captured) -> None:
    async def run() -> str | None:
        sdk = openai.AsyncOpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0)
        async with sdk:
            stream = await sdk.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES, stream=True,
                                                       max_tokens=4)  # fmt: skip
            reasons = [c.choices[0].finish_reason async for c in stream if c.choices and c.choices[0].finish_reason]
        return reasons[-1]

    assert asyncio.run(run()) == "length"
    assert finishes(captured) == {("gemini-2.5-flash", "length"): 1}
    assert tool_calls(captured) == {}


@pytest.mark.parametrize(
    ("directive", "label"),
    [("content_filter", "content_filter"), ("function_call", "function_call"), ("end_turn", "other"),
     ("STOP", "other")],
)  # fmt: skip
def test_finish_reason_label_is_a_closed_set(
    gateway: GatewaySimulator, captured: Captured, directive: str, label: str
) -> None:
    with client(gateway, f"finish={directive}") as sdk:
        completion = sdk.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    assert completion.choices[0].finish_reason == directive
    assert finishes(captured) == {("gpt-4.1", label): 1}
    (span,) = captured.spans()
    assert span.attributes["gen_ai.response.finish_reasons"] == (directive,)  # the span keeps the real value


def test_raw_httpx_stream_and_text_completions(gateway: GatewaySimulator, captured: Captured) -> None:
    with httpx.Client(base_url=gateway.base_url) as http:
        with http.stream(
            "POST", "/chat/completions", json=chat(stream=True), headers=scenario("tool_calls=1,finish=length")
        ) as response:
            body = b"".join(response.iter_bytes())
        legacy = http.post(
            "/completions", json={"model": "gpt-4.1", "prompt": "hi", "max_tokens": 2}, headers=scenario("")
        )
    assert b'"finish_reason":"length"' in body.replace(b" ", b"")
    assert legacy.json()["choices"][0]["finish_reason"] == "length"
    assert finishes(captured) == {("gpt-4.1", "length"): 2}
    assert tool_calls(captured) == {"gpt-4.1": 1}


def test_no_or_malformed_finish_reason_counts_nothing(gateway: GatewaySimulator, captured: Captured) -> None:
    with httpx.Client(base_url=gateway.base_url) as http:
        embedding = {"model": "text-embedding-3-small", "input": "x"}
        embeddings = http.post("/embeddings", json=embedding, headers=scenario(""))
        broken = http.post("/chat/completions", json=chat(), headers=scenario("malformed"))
        failed = http.post("/chat/completions", json=chat(), headers=scenario("status=500"))
    assert embeddings.status_code == broken.status_code == 200
    assert failed.status_code == 500
    with pytest.raises(json.JSONDecodeError):
        broken.json()
    assert finishes(captured) == {}
    assert tool_calls(captured) == {}
    assert captured.value("holysheep.requests", model="gpt-4.1") == 2


def test_responses_api_incomplete_answers_are_truncations_or_filtered(
    gateway: GatewaySimulator, captured: Captured
) -> None:
    """A Responses API answer cut at ``max_output_tokens`` ends ``incomplete`` with ``incomplete_details.reason``
    ``max_output_tokens``: a truncation (``length``), as chat's; a filtered one ``content_filter``; JSON and streams."""
    with client(gateway) as sdk:
        cut = sdk.responses.create(model="gpt-4.1", input="Tell me a long story", max_output_tokens=3)
        whole = sdk.responses.create(model="gpt-4.1", input="Hi")
        with sdk.responses.stream(model="gpt-4.1", input="Tell me a long story", max_output_tokens=4) as stream:
            events = [event.type for event in stream]
    with client(gateway, "finish=content_filter") as sdk:
        filtered = sdk.responses.create(model="claude-sonnet-4", input="Hi")
    assert (cut.status, cut.incomplete_details and cut.incomplete_details.reason) == ("incomplete", "max_output_tokens")
    assert whole.status == "completed" and whole.incomplete_details is None
    assert events[-1] == "response.incomplete"
    assert filtered.incomplete_details is not None and filtered.incomplete_details.reason == "content_filter"
    assert finishes(captured) == {
        ("gpt-4.1", "length"): 2,
        ("gpt-4.1", "stop"): 1,
        ("claude-sonnet-4", "content_filter"): 1,
    }
