"""Lifecycle next to other instrumentations: the official OpenAI GenAI instrumentor on the same process, in either
order, must not double count the holysheep_* metrics, and uninstrument must restore the originals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from otel_holysheep.simulator import GatewaySimulator

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / ".cache" / "bench-peers"  # `make test` / `make bench` install the peer there, never into .venv
APP = Path(__file__).parent / "apps" / "genai_peer_app.py"


@pytest.mark.parametrize("genai", ["default", "on"])
@pytest.mark.parametrize("order", ["peer-first", "holysheep-first"])
def test_with_the_official_genai_instrumentor(order: str, genai: str, gateway: GatewaySimulator) -> None:
    if not (PEERS / "opentelemetry" / "instrumentation" / "genai" / "openai").is_dir():
        pytest.skip(
            f"the official OpenAI instrumentation is not installed in {PEERS}: run `make test` (it installs it)"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_INSTRUMENTATION_HOLYSHEEP_")}
    env["PYTHONPATH"] = str(PEERS)
    if genai == "on":
        env["OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS"] = "true"
    result = subprocess.run(
        [sys.executable, str(APP), gateway.base_url, order],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    points = out["points"]
    assert sum(p["value"] for p in points["holysheep.requests"]) == 3  # exactly once each
    assert sum(p["value"] for p in points["holysheep.tokens"] if p["attributes"]["token_type"] == "prompt") > 0
    providers = {
        p["attributes"].get("gen_ai.provider.name") or p["attributes"].get("gen_ai.system")
        for p in points["gen_ai.client.operation.duration"]
    }
    ours = [
        p
        for p in points["gen_ai.client.operation.duration"]
        if p["attributes"].get("gen_ai.provider.name") == "holysheep"
    ]
    if genai == "default":  # by default only the peer records gen_ai.*: the same calls are not measured twice
        assert len(providers) == 1 and "holysheep" not in providers, providers
        assert ours == []
    else:
        assert "holysheep" in providers
        assert len(providers) == 2, providers  # the peer's series are its own; ours do not merge into them
        assert sum(p["value"] for p in ours) == 3
    assert out["spans"].count("chat gpt-4.1") >= 3  # ours (and the peer's, named the same way by the convention)
    assert out["restored"] is True


def test_instrument_uninstrument_cycles_with_every_client(gateway: GatewaySimulator) -> None:
    """Three cycles of instrument / a call through each library / uninstrument on one meter provider, then an
    uninstrumented round: each instrumented call counted exactly once, the uninstrumented ones not at all, and the
    clients (created once, before the first cycle) keep working throughout."""
    import asyncio

    import aiohttp
    import httpx2
    import requests
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from otel_holysheep import HolySheepInstrumentor

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    url = f"{gateway.base_url}/chat/completions"
    body = {"model": "gpt-4.1", "messages": []}
    auth = {"Authorization": "Bearer sk-test"}
    session = requests.Session()
    client = httpx2.Client(headers=auth)

    async def aio() -> int:
        async with aiohttp.ClientSession(headers=auth) as s, s.post(url, json=body) as r:
            return len(await r.read())

    def round_trip() -> None:
        assert session.post(url, json=body, headers=auth).json()["model"] == "gpt-4.1"
        assert client.post(url, json=body).status_code == 200
        assert asyncio.run(aio()) > 0

    for _ in range(3):
        HolySheepInstrumentor().instrument(meter_provider=provider, base_urls=[gateway.base_url])
        round_trip()
        HolySheepInstrumentor().uninstrument()
    round_trip()
    data = reader.get_metrics_data()
    points = [
        p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name in ("holysheep.requests", "holysheep.active_requests")
        for p in m.data.data_points
    ]
    assert sum(p.value for p in points if "status" in p.attributes) == 9
    assert sum(p.value for p in points if "status" not in p.attributes) == 0  # in flight
    session.close()
    client.close()
    provider.shutdown()
