"""``--live``: one max_tokens=1 request, only with the flag, against the gateway simulator (never the real gateway);
the key is never printed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from doctor_helpers import GOOD_EXPORTERS, clean_environ, doctor_command, only, run

from engines import free_port
from otel_holysheep.doctor.cli import header
from otel_holysheep.doctor.render import render_json, render_text
from otel_holysheep.doctor.result import Status
from otel_holysheep.simulator import GatewaySimulator

KEY = "sk-doctor-live-7f3a9c2e51"


@pytest.fixture(scope="module")
def sim() -> Iterator[GatewaySimulator]:
    with GatewaySimulator() as simulator:
        yield simulator


def _env(sim: GatewaySimulator, **extra: str) -> dict[str, str]:
    return {**GOOD_EXPORTERS, "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": sim.base_url, **extra}


def _printed(findings: list) -> str:
    return render_text(findings, header()) + render_json(findings, header())


def test_one_tiny_request_checks_key_and_base_url(sim: GatewaySimulator) -> None:
    sim.reset()
    findings = run(_env(sim, HOLYSHEEP_API_KEY=KEY, HOLYSHEEP_BASE_URL=sim.base_url), live=True)
    live = only(findings, "live.request")
    assert (live.status, live.message) == (
        Status.OK,
        f"{sim.base_url}/chat/completions (HOLYSHEEP_BASE_URL, key from HOLYSHEEP_API_KEY) accepted the key: gpt-4.1 "
        "answered one max_tokens=1 request",
    )
    [request] = sim.requests
    assert (request.method, request.path, request.headers["authorization"]) == (
        "POST",
        "/v1/chat/completions",
        f"Bearer {KEY}",
    )
    assert request.json == {"model": "gpt-4.1", "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
    assert KEY not in _printed(findings)


def test_never_without_the_flag(sim: GatewaySimulator) -> None:
    sim.reset()
    findings = run(_env(sim, HOLYSHEEP_API_KEY=KEY, OPENAI_BASE_URL=sim.base_url))
    assert only(findings, "live").status is Status.SKIP
    assert sim.requests == []


def test_wrong_key(sim: GatewaySimulator) -> None:
    sim.reset()
    findings = run(
        _env(sim, OPENAI_API_KEY="sk-invalid"), live=True, app_urls=(sim.base_url,), live_model="deepseek-v3.2"
    )
    live = only(findings, "live.request")
    assert live.status is Status.FAIL
    assert live.message.startswith(
        f"{sim.base_url}/chat/completions (--app-url, key from OPENAI_API_KEY) rejected the key: HTTP 401 ("
    )
    assert live.fix == (
        "put a valid key from the HolySheep console in OPENAI_API_KEY (no quotes or spaces), and have the app read it"
    )
    assert [r.json["model"] for r in sim.requests] == ["deepseek-v3.2"]
    assert "sk-invalid" not in _printed(findings)


def test_no_key_sends_nothing(sim: GatewaySimulator) -> None:
    sim.reset()
    live = only(run(_env(sim), live=True, app_urls=(sim.base_url,)), "live.request")
    assert (live.status, live.message) == (
        Status.FAIL,
        "no API key in HOLYSHEEP_API_KEY or OPENAI_API_KEY: nothing sent",
    )
    assert live.fix == "export HOLYSHEEP_API_KEY=<your key from the HolySheep console> (the variable your app reads)"
    assert sim.requests == []


def test_base_url_without_the_api_root(sim: GatewaySimulator) -> None:
    sim.reset()
    root = sim.base_url.removesuffix("/v1")
    live = only(run(_env(sim, HOLYSHEEP_API_KEY=KEY), live=True, app_urls=(root,)), "live.request")
    assert live.status is Status.FAIL
    assert live.message.startswith(f"{root}/chat/completions (--app-url, key from HOLYSHEEP_API_KEY) answered HTTP 404")
    assert live.fix == (
        "set --app-url to the API root the SDK appends /chat/completions to, e.g. https://api.holysheep.ai/v1"
    )


def test_gateway_unreachable(sim: GatewaySimulator) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    live = only(run(_env(sim, HOLYSHEEP_API_KEY=KEY), live=True, app_urls=(closed,)), "live.request")
    assert (live.status, live.message) == (
        Status.FAIL,
        f"cannot reach the gateway at {closed}/chat/completions: connection refused",
    )
    assert live.fix.startswith("check the base URL (--app-url)")


def test_command_line(sim: GatewaySimulator) -> None:
    sim.reset()
    env = {**clean_environ(), **_env(sim, HOLYSHEEP_API_KEY=KEY, OPENAI_BASE_URL=sim.base_url)}
    code, document, stderr = doctor_command(["--live"], env)
    [live] = [c for c in document["checks"] if c["check"] == "live.request"]
    assert (code, live["status"]) == (0, "ok")
    assert len(sim.requests) == 1
    assert KEY not in json.dumps(document) + stderr
