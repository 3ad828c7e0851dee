"""The report against a live Prometheus (the real server) fed by the demo workload under opentelemetry-instrument."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_report_from_prometheus_and_from_metrics_agree(tmp_path: Path) -> None:
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
            code, text, err = run_report("--prometheus", prom.url, "--window", "10m", "--format", "json")
        finally:
            assert workload.stdin is not None
            workload.stdin.close()
            workload.wait(timeout=15)
            if workload.stdout:
                workload.stdout.close()
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
