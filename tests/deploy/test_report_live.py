"""The report against a live Prometheus (the real server) fed by the demo workload under opentelemetry-instrument."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from browser import chromium, parse, render, text_rows, what_if_groups
from engines import find_binary, free_port, prometheus_config, start_prometheus
from otel_holysheep.demo.run import PROFILE
from otel_holysheep.report.cli import main as report
from otel_holysheep.simulator import GatewaySimulator, Profile

pytestmark = [pytest.mark.engines, pytest.mark.slow]


def run_report(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = report(list(args))
    return code, out.getvalue(), err.getvalue()


@dataclass
class Fed:
    prom: Any
    metrics_url: str
    truth: dict[str, dict[str, Any]]


@contextlib.contextmanager
def fed_prometheus(tmp_path: Path) -> Iterator[Fed]:
    """A real Prometheus scraping the demo workload (240 requests, under opentelemetry-instrument), yielded once the
    workload is done and Prometheus holds its final values; the app keeps serving /metrics until the block ends."""
    if find_binary("prometheus") is None:
        pytest.skip("prometheus not found: `make test` fetches it with scripts/fetch-engines.sh")
    port = free_port()
    with (
        GatewaySimulator(profile=Profile.load(PROFILE), time_scale=0.1, seed=3) as sim,
        start_prometheus(prometheus_config({"holysheep-apps": [f"127.0.0.1:{port}"]}), [], tmp_path) as prom,
    ):
        # Prometheus throttles its first scrape by ~5 s: let it start scraping (the target is still down) before the
        # workload runs, so its series are seen from their first seconds.
        prom.wait_for('up{job="holysheep-apps"}', timeout=30)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(
            {
                "OTEL_METRICS_EXPORTER": "prometheus",
                "OTEL_TRACES_EXPORTER": "none",
                "OTEL_LOGS_EXPORTER": "none",
                "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
                "OTEL_EXPORTER_PROMETHEUS_PORT": str(port),
                "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": sim.base_url,
            }
        )
        workload = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("opentelemetry-instrument")),
                sys.executable,
                "-m",
                "otel_holysheep.demo.workload",
                "--base-url",
                sim.base_url,
                "--requests",
                "240",
                "--timeout",
                "1.5",
            ],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert workload.stdout is not None
            prom.wait_for('up{job="holysheep-apps"} == 1', timeout=10)  # scraped from early in the run
            for line in workload.stdout:
                if line.startswith("DONE"):
                    break
            metrics_url = f"http://127.0.0.1:{port}/metrics"
            code, text, err = run_report("--metrics", metrics_url, "--format", "json")
            assert code == 0, err
            truth = {row["model"]: row for row in json.loads(text)}
            total = sum(row["requests"] for row in truth.values())
            # wait until Prometheus has scraped the final values
            prom.wait_for(f"sum(holysheep_requests_total) == {total}", timeout=30)
            yield Fed(prom, metrics_url, truth)
        finally:
            assert workload.stdin is not None
            workload.stdin.close()
            workload.wait(timeout=15)
            if workload.stdout:
                workload.stdout.close()


def test_report_from_prometheus_and_from_metrics_agree(tmp_path: Path) -> None:
    with fed_prometheus(tmp_path) as fed:
        code, text, err = run_report("--prometheus", fed.prom.url, "--window", "10m", "--format", "json")
        truth = fed.truth
    assert code == 0, err
    rows = {row["model"]: row for row in json.loads(text)}
    assert set(rows) == set(truth) == {"gpt-4.1", "claude-sonnet-4", "gemini-2.5-flash", "deepseek-v3.2"}
    for model, row in rows.items():
        # increase() cannot see a series' first sample and extrapolates to the window's edges: close, not exact
        assert 0.6 * truth[model]["requests"] <= row["requests"] <= 1.3 * truth[model]["requests"] + 1, (model, row)
        assert row["avg_latency_s"] == pytest.approx(truth[model]["avg_latency_s"], rel=0.5)
        assert 0 <= row["success_rate_pct"] <= 100
    assert rows["gemini-2.5-flash"]["avg_latency_s"] < rows["claude-sonnet-4"]["avg_latency_s"]
    assert rows["deepseek-v3.2"]["usd_per_1m_tokens"] < rows["claude-sonnet-4"]["usd_per_1m_tokens"]


def test_report_errors_against_a_real_server(tmp_path: Path) -> None:
    if find_binary("prometheus") is None:
        pytest.skip("prometheus not found: `make test` fetches it with scripts/fetch-engines.sh")
    with start_prometheus(prometheus_config({"holysheep-apps": ["127.0.0.1:9"]}), [], tmp_path) as prom:
        code, _, err = run_report("--prometheus", prom.url, "--window", "1h")
        assert code == 1
        assert "no otel-holysheep requests" in err
        code, _, err = run_report("--metrics", prom.url + "/metrics")
        assert code == 1
        assert "none from otel-holysheep" in err


def test_html_page_from_prometheus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--range --format html against a real Prometheus: the page's table is the text report's at the same instant,
    the charts over the range carry every model, and headless Chromium draws them all (screenshot kept)."""
    page = tmp_path / "week.html"
    with fed_prometheus(tmp_path) as fed:
        frozen = time.time()  # both reports at one instant: increase() moves as the flat samples accumulate
        monkeypatch.setattr(time, "time", lambda: frozen)
        code, text, err = run_report("--prometheus", fed.prom.url, "--range", "10m")
        assert code == 0, err
        code, what_if_text, err = run_report("--prometheus", fed.prom.url, "--range", "10m", "--what-if")
        assert code == 0, err
        code, _, err = run_report("--prometheus", fed.prom.url, "--range", "10m", "--format", "html", "-o", str(page))
        monkeypatch.undo()
        assert code == 0, err
    tables = parse(page.read_text(encoding="utf-8"))
    assert tables.table(id="report-table") == text_rows(text)
    groups = what_if_groups(what_if_text)
    assert len(groups) == 4
    for index, (_, rows, _) in enumerate(groups):
        assert tables.table(**{"class": "what-if", "data-group": str(index)}) == rows
    models = {"gpt-4.1", "claude-sonnet-4", "gemini-2.5-flash", "deepseek-v3.2"}
    assert {row[0] for row in tables.table(id="rates-table")[1:]} == models
    charts = {c["key"]: c for c in json.loads(tables.json_blocks[0])["charts"]}
    assert set(charts) == {"p95_latency", "p95_ttft", "error_rate", "truncation_rate", "cost_per_day_model"}
    for key in ("p95_latency", "p95_ttft", "cost_per_day_model"):
        assert {s["name"] for s in charts[key]["series"]} == models, key
    assert len(charts["p95_latency"]["x"]) >= 30  # 10 minutes, a point every 15 s
    day_total = sum(v or 0.0 for s in charts["cost_per_day_model"]["series"] for v in s["values"])
    total_cost = float(text_rows(text)[-1][8].replace(",", ""))
    assert day_total == pytest.approx(total_cost, rel=0.35)  # increase() per day piece vs over the range

    browser, why = chromium()
    if browser is None:
        pytest.skip(why)
    shown = render(browser, page, "report-html-prometheus")
    assert shown.body.get("data-rendered") == "true", shown.body
    for key, chart in charts.items():
        canvas = shown.canvases[f"chart-{key}"]
        assert canvas.series == [s["name"] for s in chart["series"]], key
        assert all(n > 0 for n in canvas.points), key
        assert canvas.painted > 1000, key
