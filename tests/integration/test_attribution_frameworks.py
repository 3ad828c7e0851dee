"""Attribution with real web frameworks: a FastAPI app (uvicorn) and a Flask app, each under `opentelemetry-instrument`
with its framework's own OpenTelemetry instrumentation and OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION=route,
baggage.team; two routes each call the gateway simulator, with and without a `baggage: team=...` header.

Per route and per team, requests, tokens and cost on /metrics are exactly what the simulator served (the usage each
app answered with, priced at the list prices); thousands of distinct paths give one route label (routes are
templates); a flood of baggage values stays within the cap; `otel-holysheep report --by route` prints the split.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from otel_holysheep.report.cli import main as report_main
from otel_holysheep.simulator import GatewaySimulator
from tests.engines import free_port, wait_until_serving
from tests.support import Samples, scrape

pytestmark = pytest.mark.slow

APPS = Path(__file__).parent / "apps"
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
FRAMEWORK_PEERS = REPO / ".cache" / "framework-peers"
# USD per 1M tokens (input, output): the list prices of the built-in book
PRICES = {"gpt-4.1": (2.00, 8.00), "deepseek-v3.2": (0.28, 0.42)}
MODEL_OF = {"chat": "gpt-4.1", "summarize": "deepseek-v3.2"}


@dataclass(frozen=True)
class Framework:
    name: str
    app: str
    chat_route: str  # the route template the framework's instrumentation reports
    summarize_route: str
    needs_peers: bool = False


FASTAPI = Framework("fastapi", "fastapi_app.py", "/chat/{thread_id}", "/summarize")
FLASK = Framework("flask", "flask_app.py", "/chat/<thread_id>", "/summarize", needs_peers=True)


@dataclass
class Served:
    """What the apps answered (the usage the simulator served), per (route, team)."""

    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    prompt: Counter[tuple[str, str]] = field(default_factory=Counter)
    completion: Counter[tuple[str, str]] = field(default_factory=Counter)
    cost: defaultdict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))

    def add(self, route: str, team: str, model: str, usage: dict[str, int]) -> None:
        key = (route, team)
        self.requests[key] += 1
        self.prompt[key] += usage["prompt"]
        self.completion[key] += usage["completion"]
        price_in, price_out = PRICES[model]
        self.cost[key] += (usage["prompt"] * price_in + usage["completion"] * price_out) / 1e6


@dataclass
class App:
    url: str
    metrics_url: str
    proc: subprocess.Popen[str]
    log: Path  # the app's stderr (a file: a pipe nobody reads while the test runs would fill up and block the app)


@contextmanager
def framework_app(fw: Framework, gateway: GatewaySimulator, tmp_path: Path, **extra_env: str) -> Iterator[App]:
    if fw.needs_peers and not (FRAMEWORK_PEERS / "opentelemetry" / "instrumentation" / "flask").is_dir():
        pytest.skip(f"the Flask instrumentation is not installed in {FRAMEWORK_PEERS}: run `make test`")
    port, metrics_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        {
            "GATEWAY_URL": gateway.base_url,
            "APP_PORT": str(port),
            "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": gateway.base_url,
            "OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION": "route,baggage.team",
            "OTEL_METRICS_EXPORTER": "prometheus",
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
            "OTEL_EXPORTER_PROMETHEUS_PORT": str(metrics_port),
            "OTEL_SERVICE_NAME": f"{fw.name}-app",
            **extra_env,
        }
    )
    if fw.needs_peers:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(FRAMEWORK_PEERS), env.get("PYTHONPATH")) if p)
    log = tmp_path / f"{fw.name}-app.log"
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            [str(BIN / "opentelemetry-instrument"), sys.executable, str(APPS / fw.app)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
        )
    app = App(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics", proc, log)
    try:
        wait_until_serving(f"{app.url}/health", proc, log, f"the {fw.name} app")
        yield app
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def drive(app: App, calls: list[tuple[str, str, str, int, int]], workers: int = 8) -> list[dict[str, int]]:
    """POST each (path, route kind, team or "", prompt, completion) concurrently; the usages answered, in order."""

    def one(call: tuple[str, str, str, int, int]) -> dict[str, int]:
        path, _, team, prompt, completion = call
        headers = {"baggage": f"team={team}"} if team else {}
        response = client.post(f"{app.url}{path}", params={"prompt": prompt, "completion": completion}, headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    with httpx.Client(timeout=60) as client, ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, calls))


def sums(samples: Samples, name: str, *labels: str, **match: str) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = defaultdict(float)
    for got, value in samples.get(name, []):
        if all(got.get(k) == v for k, v in match.items()):
            out[tuple(got.get(label, "") for label in labels)] += value
    return dict(out)


def by(counter: dict[tuple[str, str], float], index: int) -> dict[tuple[str], float]:
    out: dict[tuple[str], float] = defaultdict(float)
    for key, value in counter.items():
        out[(key[index],)] += value
    return dict(out)


@pytest.mark.parametrize("fw", [FASTAPI, FLASK], ids=lambda f: f.name)
def test_spend_splits_exactly_by_route_and_team(
    fw: Framework, gateway: GatewaySimulator, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    gateway.reset()
    calls: list[tuple[str, str, str, int, int]] = []
    for i in range(12):
        team = ("search", "ads", "")[i % 3]  # with and without baggage
        calls.append((f"/chat/thread-{i}", "chat", team, 100 + i, 10 + i))
        calls.append(("/summarize", "summarize", ("", "search")[i % 2], 40 + i, 3 + i % 4))
    route = {"chat": fw.chat_route, "summarize": fw.summarize_route}
    served = Served()
    with framework_app(fw, gateway, tmp_path) as app:
        if fw is FLASK:  # the route is read from the server span above the requests instrumentation's CLIENT span
            assert httpx.get(f"{app.url}/health").json()["requests_instrumented"] is True
        for (_, kind, team, prompt, completion), usage in zip(calls, drive(app, calls), strict=True):
            assert usage == {"prompt": prompt, "completion": completion}
            served.add(route[kind], team, MODEL_OF[kind], usage)
        samples = scrape(app.metrics_url)
        assert report_main(["--metrics", app.metrics_url, "--by", "route", "--format", "json"]) == 0
        report = {row["route"]: row for row in json.loads(capsys.readouterr().out)}
        assert report_main(["--metrics", app.metrics_url, "--by", "route"]) == 0
        table = capsys.readouterr().out
    assert len([r for r in gateway.requests if r.path == "/v1/chat/completions"]) == len(calls)

    requests = sums(samples, "holysheep_requests_total", "route", "team", status="success")
    prompt = sums(samples, "holysheep_tokens_total", "route", "team", token_type="prompt")
    completion = sums(samples, "holysheep_tokens_total", "route", "team", token_type="completion")
    cost = sums(samples, "holysheep_cost_usd_total", "route", "team")
    assert requests == dict(served.requests)
    assert prompt == dict(served.prompt)
    assert completion == dict(served.completion)
    assert cost.keys() == served.cost.keys()
    for key, usd in served.cost.items():
        assert cost[key] == pytest.approx(usd, rel=1e-9), key
    # the same per route and per team alone
    for index, label in ((0, "route"), (1, "team")):
        got = sums(samples, "holysheep_cost_usd_total", label)
        want = by(served.cost, index)
        assert got.keys() == want.keys() and all(got[k] == pytest.approx(v, rel=1e-9) for k, v in want.items())
        assert sums(samples, "holysheep_requests_total", label) == by(dict(served.requests), index)
    # histograms never carry the attribution labels
    for labels, _ in samples["holysheep_request_duration_seconds_count"]:
        assert "route" not in labels and "team" not in labels

    # otel-holysheep report --by route prints the split
    assert set(report) == {fw.chat_route, fw.summarize_route}
    for name in report:
        key_cost = by(served.cost, 0)[(name,)]
        assert report[name]["requests"] == by(dict(served.requests), 0)[(name,)]
        assert report[name]["tokens_in"] == by(dict(served.prompt), 0)[(name,)]
        assert report[name]["cost_usd"] == round(key_cost, 6)
    lines = table.splitlines()
    assert lines[0] == f"otel-holysheep report by route: since process start, from {app.metrics_url}"
    assert lines[2].split()[:2] == ["ROUTE", "REQUESTS"]
    assert [line.split()[:2] for line in lines[4:6]] == [[fw.chat_route, "12"], [fw.summarize_route, "12"]]


@pytest.mark.parametrize("fw", [FASTAPI, FLASK], ids=lambda f: f.name)
def test_route_flood_is_one_label_and_baggage_flood_stays_within_the_cap(
    fw: Framework, gateway: GatewaySimulator, tmp_path: Path
) -> None:
    gateway.reset()
    paths = 2000
    calls = [(f"/chat/{i}", "chat", "", 1, 1) for i in range(paths)]
    teams = [(f"/chat/t{i}", "chat", f"team-{i}", 1, 1) for i in range(150)]
    with framework_app(fw, gateway, tmp_path, OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_ATTRIBUTION_VALUES="40") as app:
        drive(app, calls + teams)
        samples = scrape(app.metrics_url)
    stderr = app.log.read_text()
    requests = sums(samples, "holysheep_requests_total", "route", "team")
    assert {route for route, _ in requests} == {fw.chat_route}  # 2,150 distinct paths, one route template
    assert sum(requests.values()) == paths + len(teams)
    team_values = {team for _, team in requests}
    assert len(team_values - {"", "other"}) == 40 and "other" in team_values
    assert requests[(fw.chat_route, "other")] == len(teams) - 40
    assert requests[(fw.chat_route, "")] == paths
    for name in ("holysheep_tokens_total", "holysheep_cost_usd_total"):
        assert {labels["team"] for labels, _ in samples[name]} == team_values
    assert stderr.count("distinct values of attribution label 'team'") == 1, stderr[-2000:]
