"""Simulator lifecycle: start/stop, context manager, prompt stop while requests stall."""

from __future__ import annotations

import threading
import time

import httpx2
import pytest

from otel_holysheep.simulator import GatewaySimulator, RecordedRequest

AUTH = {"Authorization": "Bearer sk-test"}
CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Say hello to the gateway"}]}


def test_start_returns_self_and_base_url() -> None:
    sim = GatewaySimulator()
    assert sim.start() is sim
    try:
        assert sim.port > 0
        assert sim.base_url == f"http://127.0.0.1:{sim.port}/v1"
    finally:
        sim.stop()
    sim.stop()  # idempotent


def test_requests_is_a_copy(sim: GatewaySimulator) -> None:
    with httpx2.Client(base_url=sim.base_url) as client:
        client.get("/models", headers={**AUTH, "X-Custom": "Yes"})
    recorded = sim.requests
    assert recorded == [RecordedRequest("GET", "/v1/models", recorded[0].headers, None)]
    assert recorded[0].headers["x-custom"] == "Yes"
    recorded.clear()
    assert len(sim.requests) == 1


def _stalled_request(url: str, scenario: str, stream: bool, errors: list[BaseException]) -> None:
    try:
        with httpx2.Client(timeout=20) as client:
            r = client.post(url, json={**CHAT, "stream": stream}, headers={**AUTH, "x-sim-scenario": scenario})
            r.read()
    except httpx2.HTTPError as exc:
        errors.append(exc)


@pytest.mark.parametrize(("scenario", "stream"), [("stall_headers", False), ("stall_after=1", True)])
def test_stop_is_quick_while_a_request_stalls(scenario: str, stream: bool) -> None:
    sim = GatewaySimulator().start()
    errors: list[BaseException] = []
    worker = threading.Thread(
        target=_stalled_request, args=(sim.base_url + "/chat/completions", scenario, stream, errors)
    )
    worker.start()
    deadline = time.monotonic() + 5
    while not sim.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    t0 = time.monotonic()
    sim.stop()
    # prompt: far below the stall's 30 s and the client's 20 s timeout (a generous bound, not a speed figure)
    assert time.monotonic() - t0 < 5.0
    worker.join(5)
    assert not worker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], httpx2.RemoteProtocolError)


def test_stall_ends_when_client_disconnects(sim: GatewaySimulator) -> None:
    with httpx2.Client(base_url=sim.base_url) as client, pytest.raises(httpx2.ReadTimeout):
        client.post("/chat/completions", json=CHAT, headers={**AUTH, "x-sim-scenario": "stall_headers"}, timeout=0.2)
    # The handler notices the closed connection and the server keeps serving.
    with httpx2.Client(base_url=sim.base_url) as client:
        assert client.post("/chat/completions", json=CHAT, headers=AUTH).status_code == 200
    deadline = time.monotonic() + 2
    while sim._server is not None and time.monotonic() < deadline:
        if len(sim._server._handler_threads) == 0:
            break
        time.sleep(0.02)
    assert sim._server is not None and len(sim._server._handler_threads) == 0


def test_stop_with_idle_keep_alive_connection() -> None:
    sim = GatewaySimulator().start()
    with httpx2.Client(base_url=sim.base_url) as client:
        assert client.get("/models", headers=AUTH).status_code == 200
        t0 = time.monotonic()
        sim.stop()
        assert time.monotonic() - t0 < 5.0  # not held up by the idle connection (a bound, not a speed figure)
        with pytest.raises(httpx2.TransportError):
            client.get("/models", headers=AUTH)


def test_latency_from_profile_is_scaled() -> None:
    from otel_holysheep.simulator import ModelProfile, Profile

    # 20 s a request unscaled, 0.1 s at x0.005: only the scaled latency can come in under 10 s, on any machine
    profile = Profile(generic=ModelProfile(mean_s=20.0, p95_s=30.0))
    with GatewaySimulator(profile=profile, time_scale=0.005, seed=1) as sim, httpx2.Client(base_url=sim.base_url) as c:
        t0 = time.monotonic()
        assert c.post("/chat/completions", json=CHAT, headers=AUTH).status_code == 200
        elapsed = time.monotonic() - t0
    assert 0.02 < elapsed < 10.0
