"""Served vs requested model, cache writes, long-context tiers and the gateway's own cost, against the gateway
simulator over loopback: every figure equals what the responses said, every cost the price book applied by hand,
the gateway's cost beside ours, in the metrics and in ``otel-holysheep report``."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import openai
import pytest
import requests
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, generate_latest

from otel_holysheep.report.formats import render
from otel_holysheep.report.sources import parse_exposition, report_from_samples
from otel_holysheep.simulator import GatewaySimulator
from tests.support import MESSAGES, Captured, chat, instrumented, scenario

try:
    import httpx2
except ImportError:  # the oldest compatibility cell: httpx 0.23's h11 range excludes httpx2's (h11 >= 0.16)
    httpx2 = None

KEY = "sk-holysheep-test-KEY-0123456789"
# The price book applied by hand: USD per 1M tokens (input, cached input, cache write, output). The built-in list
# prices, and claude-sonnet-4's long-context tier from the price file below (prompts above 200,000 tokens).
LIST = {
    "gpt-4.1": (2.00, 0.50, 2.00, 8.00),  # no cache-write price: cache writes cost the input price
    "claude-sonnet-4": (3.00, 0.30, 3.75, 15.00),
    "deepseek-v3.2": (0.28, 0.028, 0.28, 0.42),
}
LONG_CLAUDE = (6.00, 0.60, 7.50, 22.50)
PRICE_FILE = {
    "version": "test-long-context",
    "models": {
        "claude-sonnet-4": {
            "input": 3.00,
            "cached_input": 0.30,
            "cache_write": 3.75,
            "output": 15.00,
            "tiers": [{"above_input_tokens": 200_000, "input": 6.00, "cached_input": 0.60, "cache_write": 7.50,
                       "output": 22.50}],
        }
    },
}  # fmt: skip
# What each served name is in the book (written out, not looked up)
BASE = {
    "gpt-4.1": "gpt-4.1",
    "gpt-4.1-2025-04-14": "gpt-4.1",
    "claude-sonnet-4": "claude-sonnet-4",
    "claude-sonnet-4-20250514": "claude-sonnet-4",
    "deepseek-v3.2": "deepseek-v3.2",
}


def by_hand(served: str, usage: dict[str, Any]) -> float:
    """The cost of one call, from its usage as the response said it, at the served model's prices."""
    prompt = usage.get("prompt_tokens", usage.get("input_tokens", 0))
    completion = usage.get("completion_tokens", usage.get("output_tokens", 0))
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    cached = details.get("cached_tokens", usage.get("cache_read_input_tokens", 0))
    written = details.get("cache_write_tokens", usage.get("cache_creation_input_tokens", 0))
    base = BASE[served]
    price_in, price_cached, price_write, price_out = (
        LONG_CLAUDE if base == "claude-sonnet-4" and prompt > 200_000 else LIST[base]
    )
    uncached = prompt - cached - written
    return (uncached * price_in + cached * price_cached + written * price_write + completion * price_out) / 1e6


class Said:
    """What the responses said, summed per requested model the way the metrics should count it."""

    def __init__(self) -> None:
        self.tokens: dict[tuple[str, str], int] = defaultdict(int)
        self.substitutions: dict[tuple[str, str], int] = defaultdict(int)
        self.cost: dict[str, float] = defaultdict(float)
        self.gateway: dict[str, float] = defaultdict(float)
        self.ours_where_gateway: dict[str, float] = defaultdict(float)

    def add(self, requested: str, served: str, usage: dict[str, Any]) -> None:
        prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
        completion = usage.get("completion_tokens", usage.get("output_tokens"))
        details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
        counts = {
            "prompt": prompt,
            "completion": completion,
            "cached": details.get("cached_tokens", usage.get("cache_read_input_tokens")),
            "cache_write": details.get("cache_write_tokens", usage.get("cache_creation_input_tokens")),
        }
        for kind, value in counts.items():
            if value:
                self.tokens[(requested, kind)] += value
        if BASE[served] != BASE[requested]:
            self.substitutions[(requested, served)] += 1
        cost = by_hand(served, usage)
        self.cost[requested] += cost
        if "cost" in usage:
            self.gateway[requested] += usage["cost"]
            self.ours_where_gateway[requested] += cost


def per_model(captured: Captured, name: str, *labels: str) -> dict[Any, float]:
    found: dict[Any, float] = {}
    for p in captured.points(name):
        key = tuple(p.attributes[label] for label in labels)
        found[key[0] if len(key) == 1 else key] = p.value
    return found


@pytest.fixture
def priced(gateway: GatewaySimulator, tmp_path: Path) -> Iterator[tuple[Captured, CollectorRegistry]]:
    """The instrumentor with the long-context price file, read in memory and through the Prometheus exporter."""
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(PRICE_FILE))
    registry = CollectorRegistry()
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader, PrometheusMetricReader(registry=registry)])
    cap = Captured(reader, InMemorySpanExporter(), meter_provider, TracerProvider())
    with instrumented(cap, base_urls=[gateway.base_url], prices_file=str(path)) as captured:
        yield captured, registry


def test_sdk_workload_with_substitutions_cache_writes_a_long_prompt_and_gateway_costs(
    gateway: GatewaySimulator, priced: tuple[Captured, CollectorRegistry]
) -> None:
    captured, registry = priced
    said = Said()
    with openai.OpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0) as sdk:

        def chat_call(model: str, directives: str, **extra: Any) -> None:
            completion = sdk.chat.completions.create(
                model=model, messages=MESSAGES, extra_headers={"x-sim-scenario": directives}, **extra
            )
            assert completion.usage is not None
            said.add(model, completion.model, completion.usage.to_dict())

        def stream_call(model: str, directives: str) -> None:
            stream = sdk.chat.completions.create(
                model=model,
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
                extra_headers={"x-sim-scenario": directives},
            )
            chunks = list(stream)
            assert chunks[-1].usage is not None
            said.add(model, chunks[-1].model, chunks[-1].usage.to_dict())

        # a fallback to another model, JSON and streamed; a dated snapshot of the requested model (no substitution)
        chat_call("gpt-4.1", "response_model=claude-sonnet-4,prompt_tokens=1000,completion_tokens=100")
        stream_call("gpt-4.1", "response_model=deepseek-v3.2,prompt_tokens=400,completion_tokens=50,chunks=3")
        chat_call("gpt-4.1", "response_model=gpt-4.1-2025-04-14,prompt_tokens=300,completion_tokens=30")
        # a truncated answer and tool calls, substituted too
        chat_call("gpt-4.1", "response_model=claude-sonnet-4-20250514,prompt_tokens=200", max_tokens=3)
        chat_call("deepseek-v3.2", "tool_calls=2,prompt_tokens=120,completion_tokens=12,gateway_cost=0.0000840")
        # cache writes (OpenAI-compatible details, and Anthropic-style counts in a stream) with the gateway's cost
        chat_call(
            "claude-sonnet-4",
            "prompt_tokens=8000,cached=2000,cache_write=3000,completion_tokens=200,gateway_cost=0.0352",
        )
        stream_call(
            "claude-sonnet-4",
            "prompt_tokens=6000,cached=1000,cache_write=500,completion_tokens=80,anthropic_usage,gateway_cost=0.019",
        )
        # a long prompt: above 200,000 tokens every token is at the long-context tier
        chat_call(
            "claude-sonnet-4",
            "prompt_tokens=250000,cached=50000,cache_write=100000,completion_tokens=1000,gateway_cost=1.51",
        )
        # the Responses API, substituted, with a cache write and the gateway's cost
        response = sdk.responses.create(
            model="gpt-4.1",
            input="Compare latency across models, briefly.",
            extra_headers={
                "x-sim-scenario": "response_model=claude-sonnet-4-20250514,prompt_tokens=500,completion_tokens=40,"
                "cache_write=100,gateway_cost=0.0025"
            },
        )
        assert response.usage is not None
        said.add("gpt-4.1", response.model, response.usage.to_dict())
        # a streamed Responses API call answered by a dated snapshot of the requested model: no substitution
        events = list(
            sdk.responses.create(
                model="claude-sonnet-4",
                input="Compare latency across models, briefly.",
                stream=True,
                extra_headers={
                    "x-sim-scenario": "response_model=claude-sonnet-4-20250514,prompt_tokens=700,completion_tokens=20,"
                    "cached=100,cache_write=50,gateway_cost=0.001"
                },
            )
        )
        completed = events[-1].response  # type: ignore[union-attr]
        assert events[-1].type == "response.completed" and completed.usage is not None
        said.add("claude-sonnet-4", completed.model, completed.usage.to_dict())

    assert per_model(captured, "holysheep.tokens", "model", "token_type") == said.tokens
    assert said.tokens[("claude-sonnet-4", "cache_write")] == 3000 + 500 + 100_000 + 50
    assert (
        per_model(captured, "holysheep.model_substitutions", "model", "served_model")
        == said.substitutions
        == {
            ("gpt-4.1", "claude-sonnet-4"): 1,
            ("gpt-4.1", "deepseek-v3.2"): 1,
            ("gpt-4.1", "claude-sonnet-4-20250514"): 2,
        }
    )
    costs = per_model(captured, "holysheep.cost.usd", "model")
    assert costs == {model: pytest.approx(usd, rel=1e-12) for model, usd in said.cost.items()}
    # the long prompt, spelled out: 100,000 uncached at 6.00, 50,000 cached at 0.60, 100,000 written at 7.50,
    # 1,000 out at 22.50 per 1M tokens (at the short-context prices it would have cost 0.7425 USD)
    long_prompt = (100_000 * 6.00 + 50_000 * 0.60 + 100_000 * 7.50 + 1_000 * 22.50) / 1e6
    assert long_prompt == pytest.approx(1.4025)
    assert per_model(captured, "holysheep.gateway_cost.usd", "model") == {
        "deepseek-v3.2": pytest.approx(0.000084, rel=1e-12),
        "claude-sonnet-4": pytest.approx(0.0352 + 0.019 + 1.51 + 0.001, rel=1e-12),
        "gpt-4.1": pytest.approx(0.0025, rel=1e-12),
    }
    ours = per_model(captured, "holysheep.gateway_cost.ours.usd", "model")
    assert ours == {model: pytest.approx(usd, rel=1e-12) for model, usd in said.ours_where_gateway.items()}
    assert per_model(captured, "holysheep.finishes", "model", "finish_reason") == {
        ("gpt-4.1", "stop"): 4,  # the Responses API's "completed" counts as stop
        ("gpt-4.1", "length"): 1,
        ("deepseek-v3.2", "tool_calls"): 1,
        ("claude-sonnet-4", "stop"): 4,
    }

    # the report, from what the Prometheus exporter serves
    text = generate_latest(registry).decode()
    report = report_from_samples(parse_exposition(text, url="registry"), url="registry")
    rows = {row.model: row for row in report.rows}
    claude = rows["claude-sonnet-4"]
    assert claude.gateway_cost_usd == pytest.approx(0.0352 + 0.019 + 1.51 + 0.001, rel=1e-12)
    assert claude.gateway_cost_ours_usd == pytest.approx(said.ours_where_gateway["claude-sonnet-4"], rel=1e-12)
    drift = (said.ours_where_gateway["claude-sonnet-4"] - 1.5652) / 1.5652 * 100
    assert claude.gateway_drift_pct == pytest.approx(drift, rel=1e-9)
    table = render(report, "table").splitlines()
    claude_line = next(line for line in table if line.startswith("claude-sonnet-4")).split()
    assert claude_line[-3:] == ["1.5652", f"{said.ours_where_gateway['claude-sonnet-4']:.4f}", f"{drift:+.1f}"]
    assert table[-4:] == [
        "Served by another model than requested (priced as the model that served them):",
        "  gpt-4.1 -> claude-sonnet-4-20250514: 2 responses (40.0% of gpt-4.1's requests)",  # of 5
        "  gpt-4.1 -> claude-sonnet-4: 1 response (20.0% of gpt-4.1's requests)",
        "  gpt-4.1 -> deepseek-v3.2: 1 response (20.0% of gpt-4.1's requests)",
    ]


SUBSTITUTED = "response_model=claude-sonnet-4,prompt_tokens=1000,cached=100,cache_write=200,completion_tokens=10,"
USAGE = {"stream_options": {"include_usage": True}}
# claude-sonnet-4's list prices: 700 uncached, 100 cached, 200 written, 10 out
CLAUDE_COST = (700 * 3.00 + 100 * 0.30 + 200 * 3.75 + 10 * 15.00) / 1e6


def _httpx_like(module: Any, base_url: str, stream: bool, directives: str) -> bytes:
    with module.Client(base_url=base_url) as http:
        body = chat(stream=True, **USAGE) if stream else chat()
        with http.stream("POST", "/chat/completions", json=body, headers=scenario(directives)) as response:
            return b"".join(response.iter_bytes())


def _requests(base_url: str, stream: bool, directives: str) -> bytes:
    body = chat(stream=True, **USAGE) if stream else chat()
    with requests.post(
        f"{base_url}/chat/completions", json=body, headers=scenario(directives), stream=stream, timeout=30
    ) as response:
        return b"".join(response.iter_content(chunk_size=64)) if stream else response.content


def _aiohttp(base_url: str, stream: bool, directives: str) -> bytes:
    async def run() -> bytes:
        body = chat(stream=True, **USAGE) if stream else chat()
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{base_url}/chat/completions", json=body, headers=scenario(directives)) as response,
        ):
            return await response.read()

    return asyncio.run(run())


CLIENTS = ["httpx", pytest.param("httpx2", marks=pytest.mark.skipif(httpx2 is None, reason="httpx2 not installed")),
           "requests", "aiohttp"]  # fmt: skip


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("gzip", [False, True], ids=["identity", "gzip"])
def test_every_client_counts_the_substitution_cache_writes_and_the_gateway_cost(
    gateway: GatewaySimulator, captured: Captured, client: str, stream: bool, gzip: bool
) -> None:
    directives = SUBSTITUTED + "gateway_cost=0.0123" + (",gzip" if gzip else "")
    if client in ("httpx", "httpx2"):
        body = _httpx_like(httpx if client == "httpx" else httpx2, gateway.base_url, stream, directives)
    elif client == "requests":
        body = _requests(gateway.base_url, stream, directives)
    else:
        body = _aiohttp(gateway.base_url, stream, directives)
    assert b"claude-sonnet-4" in body
    assert per_model(captured, "holysheep.model_substitutions", "model", "served_model") == {
        ("gpt-4.1", "claude-sonnet-4"): 1
    }
    assert captured.value("holysheep.tokens", model="gpt-4.1", token_type="cache_write") == 200
    assert captured.value("holysheep.tokens", model="gpt-4.1", token_type="cached") == 100
    assert captured.value("holysheep.gateway_cost.usd", model="gpt-4.1") == 0.0123
    assert captured.value("holysheep.cost.usd", model="gpt-4.1") == pytest.approx(CLAUDE_COST, rel=1e-12)
    assert captured.value("holysheep.gateway_cost.ours.usd", model="gpt-4.1") == pytest.approx(CLAUDE_COST, rel=1e-12)


def test_without_the_fields_nothing_new_is_recorded(gateway: GatewaySimulator, captured: Captured) -> None:
    """A response of the requested model without cache writes or a gateway cost adds no series of these."""
    with openai.OpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0) as sdk:
        sdk.chat.completions.create(model="claude-sonnet-4", messages=MESSAGES)
        sdk.chat.completions.create(
            model="gpt-4.1", messages=MESSAGES, extra_headers={"x-sim-scenario": "response_model=gpt-4.1-2025-04-14"}
        )
    assert captured.points("holysheep.model_substitutions") == []
    assert captured.points("holysheep.gateway_cost.usd") == []
    assert captured.points("holysheep.gateway_cost.ours.usd") == []
    assert {p.attributes["token_type"] for p in captured.points("holysheep.tokens")} == {"prompt", "completion"}
