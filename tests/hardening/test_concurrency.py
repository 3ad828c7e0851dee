"""Concurrency and leaks: thousands of concurrent async requests (httpx2, aiohttp) and thread pools of sync ones
(httpx, httpx2, requests), mixed with faults and cancellations. Counts must be exact, the in-flight gauge must end at
zero, and repeated runs must not grow memory or open sockets."""

from __future__ import annotations

import asyncio
import gc
import os
import random
import subprocess
import sys
import threading
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import httpx
import httpx2
import pytest
import requests
from opentelemetry.sdk.trace import TracerProvider

from otel_holysheep._call import Call
from otel_holysheep._state import ACTIVE
from otel_holysheep.simulator import GatewaySimulator
from tests.support import Captured, instrumented, providers

pytestmark = pytest.mark.slow

AUTH = {"Authorization": "Bearer sk-test"}
MESSAGES = [{"role": "user", "content": "hi"}]
KINDS = ("json", "json", "json", "stream", "http_500", "cut", "break", "cancel")
STREAM_SCENARIOS = {"stream": "chunks=4", "cut": "cut_after=2", "break": "chunks=8", "cancel": "chunks=40,chunk_ms=50"}


@pytest.fixture(scope="module")
def sim() -> Iterator[GatewaySimulator]:
    with GatewaySimulator() as simulator:
        yield simulator


async def one(client: httpx2.AsyncClient, kind: str, reading: asyncio.Event) -> str:
    """Run one request of ``kind``; returns what the application observed."""
    payload = {"model": "gpt-4.1", "messages": MESSAGES}
    try:
        if kind == "json":
            await client.post("/chat/completions", json=payload)
        elif kind == "http_500":
            await client.post("/chat/completions", json=payload, headers={"x-sim-scenario": "status=500"})
        else:
            scenario = STREAM_SCENARIOS[kind]
            async with client.stream(
                "POST", "/chat/completions", json={**payload, "stream": True}, headers={"x-sim-scenario": scenario}
            ) as response:
                count = 0
                try:
                    async for _ in response.aiter_lines():
                        count += 1
                        if kind == "cancel":
                            reading.set()
                        if kind == "break" and count == 2:
                            break
                except httpx2.TransportError:
                    return "cut"
    except asyncio.CancelledError:
        return "cancelled"
    except httpx2.TransportError:
        return "transport_error"
    finally:
        reading.set()
    return kind


async def batch(base_url: str, size: int, seed: int) -> Counter[str]:
    rng = random.Random(seed)
    kinds = [rng.choice(KINDS) for _ in range(size)]
    limits = httpx2.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx2.AsyncClient(base_url=base_url, headers=AUTH, limits=limits, timeout=30) as client:
        events = [asyncio.Event() for _ in kinds]
        tasks = [asyncio.create_task(one(client, kind, event)) for kind, event in zip(kinds, events, strict=True)]
        for task, kind, event in zip(tasks, kinds, events, strict=True):
            if kind == "cancel":
                await event.wait()  # cancel only once it is reading: the request was certainly sent
                task.cancel()
        return Counter(await asyncio.gather(*tasks))


def check_counts(cap: Captured, kinds: Counter[str]) -> None:
    total = sum(kinds.values())
    assert cap.value("holysheep.requests") == total
    assert cap.count("holysheep.request.duration") == total
    assert cap.value("holysheep.active_requests") == 0
    assert cap.value("holysheep.errors", error_type="http_500") == kinds["http_500"]
    assert cap.value("holysheep.errors", error_type="stream_interrupted") == kinds["cut"]
    assert cap.value("holysheep.stream_outcomes", outcome="completed") == kinds["stream"]
    assert cap.value("holysheep.stream_outcomes", outcome="interrupted") == kinds["cut"]
    assert cap.value("holysheep.stream_outcomes", outcome="cancelled") == kinds["break"] + kinds["cancelled"]
    assert cap.value("holysheep.errors") == kinds["http_500"] + kinds["cut"] + kinds["transport_error"]
    assert cap.value("holysheep.requests", status="success") == (
        total - kinds["http_500"] - kinds["cut"] - kinds["transport_error"]
    )


def test_two_thousand_concurrent_async_requests(sim: GatewaySimulator) -> None:
    with instrumented(base_urls=[sim.base_url]) as cap:
        kinds = asyncio.run(batch(sim.base_url, 2000, seed=1))
        gc.collect()
        check_counts(cap, kinds)


def test_thread_pool_of_sync_requests(sim: GatewaySimulator) -> None:
    rng = random.Random(2)
    kinds = [rng.choice(("json", "http_500", "stream", "break")) for _ in range(400)]

    def run(kind: str) -> None:
        client = clients[kind in ("stream", "break")]
        payload = {"model": "deepseek-v3.2", "messages": MESSAGES}
        if kind == "json":
            client.post("/chat/completions", json=payload)
        elif kind == "http_500":
            client.post("/chat/completions", json=payload, headers={"x-sim-scenario": "status=500"})
        else:
            with client.stream("POST", "/chat/completions", json={**payload, "stream": True}) as response:
                for i, _ in enumerate(response.iter_lines()):
                    if kind == "break" and i == 1:
                        break

    with (
        instrumented(base_urls=[sim.base_url]) as cap,
        httpx.Client(base_url=sim.base_url, headers=AUTH) as plain,
        httpx2.Client(base_url=sim.base_url, headers=AUTH) as plain2,
    ):
        clients = {False: plain, True: plain2}
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(run, kinds))
        counts = Counter(kinds)
        assert cap.value("holysheep.requests", model="deepseek-v3.2") == len(kinds)
        assert cap.value("holysheep.errors", error_type="http_500") == counts["http_500"]
        assert cap.value("holysheep.stream_outcomes", outcome="completed") == counts["stream"]
        assert cap.value("holysheep.stream_outcomes", outcome="cancelled") == counts["break"]
        assert cap.value("holysheep.active_requests") == 0


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(scope="module")
def sim_process() -> Iterator[str]:
    """The simulator in its own process, so this process's memory and sockets are the client's alone."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_holysheep.simulator", "--instant", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        yield line.split("listening on ", 1)[1].split()[0]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def _live_calls() -> int:
    return sum(1 for obj in gc.get_objects() if isinstance(obj, Call))


def test_no_memory_or_socket_growth_across_runs(sim_process: str) -> None:
    cap = providers()
    cap.tracer_provider = TracerProvider()  # spans are made and ended, then dropped: an exporter would keep them
    tracemalloc.start()
    try:
        with instrumented(cap, base_urls=[sim_process]):
            readings = []
            for run in range(4):
                asyncio.run(batch(sim_process, 500, seed=10 + run))
                gc.collect()
                readings.append((tracemalloc.get_traced_memory()[0] // 1024, _rss_kib(), _open_fds()))
                assert cap.value("holysheep.active_requests") == 0
                assert _live_calls() == 0  # every attempt finished and released
    finally:
        tracemalloc.stop()
    print("readings (heap KiB, RSS KiB, fds):", readings)
    # runs 1-2 warm caches, pools and the allocator; after them Python memory, RSS and descriptors must be flat
    (_, _, _), (heap2, rss2, fds2), _, (heap4, rss4, fds4) = readings
    assert heap4 - heap2 < 256, readings  # KiB of Python objects over 1,000 more requests
    assert rss4 - rss2 < 16 * 1024, readings
    assert fds4 <= fds2 + 2, readings


async def one_aiohttp(session: aiohttp.ClientSession, base_url: str, kind: str, reading: asyncio.Event) -> str:
    """``one`` through aiohttp."""
    payload = {"model": "gpt-4.1", "messages": MESSAGES}
    url = f"{base_url}/chat/completions"
    try:
        if kind == "json":
            async with session.post(url, json=payload) as r:
                await r.json()
        elif kind == "http_500":
            async with session.post(url, json=payload, headers={"x-sim-scenario": "status=500"}) as r:
                await r.read()
        else:
            scenario = STREAM_SCENARIOS[kind]
            async with session.post(
                url, json={**payload, "stream": True}, headers={"x-sim-scenario": scenario}
            ) as response:
                count = 0
                try:
                    async for _ in response.content:
                        count += 1
                        if kind == "cancel":
                            reading.set()
                        if kind == "break" and count == 2:
                            break
                except aiohttp.ClientPayloadError:
                    return "cut"
    except asyncio.CancelledError:
        return "cancelled"
    except aiohttp.ClientError:
        return "transport_error"
    finally:
        reading.set()
    return kind


async def aiohttp_batch(base_url: str, size: int, seed: int) -> Counter[str]:
    rng = random.Random(seed)
    kinds = [rng.choice(KINDS) for _ in range(size)]
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(headers=AUTH, connector=connector) as session:
        events = [asyncio.Event() for _ in kinds]
        tasks = [
            asyncio.create_task(one_aiohttp(session, base_url, kind, event))
            for kind, event in zip(kinds, events, strict=True)
        ]
        for task, kind, event in zip(tasks, kinds, events, strict=True):
            if kind == "cancel":
                await event.wait()
                task.cancel()
        return Counter(await asyncio.gather(*tasks))


def test_a_thousand_concurrent_aiohttp_requests(sim: GatewaySimulator) -> None:
    with instrumented(base_urls=[sim.base_url]) as cap:
        kinds = asyncio.run(aiohttp_batch(sim.base_url, 1000, seed=3))
        gc.collect()
        check_counts(cap, kinds)
        assert ACTIVE.session is not None and ACTIVE.session.aiohttp_calls == {}


def test_thread_pool_of_requests_calls(sim: GatewaySimulator) -> None:
    rng = random.Random(4)
    kinds = [rng.choice(("json", "http_500", "stream", "break")) for _ in range(400)]
    local = threading.local()

    def run(kind: str) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.headers.update(AUTH)
        url = f"{sim.base_url}/chat/completions"
        payload = {"model": "deepseek-v3.2", "messages": MESSAGES}
        if kind == "json":
            session.post(url, json=payload).json()
        elif kind == "http_500":
            session.post(url, json=payload, headers={"x-sim-scenario": "status=500"})
        else:
            with session.post(url, json={**payload, "stream": True}, stream=True) as response:
                for i, _ in enumerate(response.iter_lines()):
                    if kind == "break" and i == 1:
                        break

    with instrumented(base_urls=[sim.base_url]) as cap:
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(run, kinds))
        counts = Counter(kinds)
        assert cap.value("holysheep.requests", model="deepseek-v3.2") == len(kinds)
        assert cap.value("holysheep.errors", error_type="http_500") == counts["http_500"]
        assert cap.value("holysheep.stream_outcomes", outcome="completed") == counts["stream"]
        assert cap.value("holysheep.stream_outcomes", outcome="cancelled") == counts["break"]
        assert cap.value("holysheep.active_requests") == 0


def test_no_growth_across_runs_through_aiohttp_and_requests(sim_process: str) -> None:
    cap = providers()
    cap.tracer_provider = TracerProvider()
    tracemalloc.start()
    try:
        with instrumented(cap, base_urls=[sim_process]), requests.Session() as session:
            readings = []
            for run in range(4):
                asyncio.run(aiohttp_batch(sim_process, 300, seed=20 + run))
                for i in range(100):
                    stream = i % 2 == 0
                    with session.post(
                        f"{sim_process}/chat/completions",
                        json={"model": "gpt-4.1", "messages": MESSAGES, "stream": stream},
                        headers=AUTH,
                        stream=stream,
                    ) as response:
                        for n, _ in enumerate(response.iter_lines()):
                            if i % 4 == 0 and n == 1:
                                break  # every other stream stopped early
                del response  # the application's last response holds its call (its metrics are already recorded)
                gc.collect()
                readings.append((tracemalloc.get_traced_memory()[0] // 1024, _rss_kib(), _open_fds()))
                assert cap.value("holysheep.active_requests") == 0
                assert _live_calls() == 0
                assert ACTIVE.session is not None and ACTIVE.session.aiohttp_calls == {}
    finally:
        tracemalloc.stop()
    print("readings (heap KiB, RSS KiB, fds):", readings)
    (_, _, _), (heap2, rss2, fds2), _, (heap4, rss4, fds4) = readings
    assert heap4 - heap2 < 256, readings
    assert rss4 - rss2 < 16 * 1024, readings
    assert fds4 <= fds2 + 2, readings
