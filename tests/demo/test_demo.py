"""`make demo`'s program, end to end: simulator + workload under opentelemetry-instrument + report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def run_demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otel_holysheep.demo", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )


def test_demo_report_agrees_with_the_simulator_profile(tmp_path: Path) -> None:
    page = tmp_path / "pages" / "demo.html"  # a directory the demo creates
    result = run_demo("--requests", "400", "--format", "json", "--seed", "11", "--page", str(page))  # latencies x1
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # it ends by writing the report as a page and saying where
    assert out.rstrip().splitlines()[-1].endswith(f"opens without a network): {page.resolve()}")
    written = page.read_text(encoding="utf-8")
    assert written.startswith("<!DOCTYPE html>") and 'id="report-table"' in written and "Chart.js v4.5.1" in written
    for model in ("gpt-4.1", "claude-sonnet-4", "gemini-2.5-flash", "deepseek-v3.2"):
        assert f"<td>{model}</td>" in written
    # its charts are over the run: the demo reads /metrics as each tenth of the workload is done
    data = written.split('<script type="application/json" id="report-data">', 1)[1].split("</script>", 1)[0]
    latency = next(c for c in json.loads(data)["charts"] if c["key"] == "p95_latency")
    assert latency["kind"] == "line" and len(latency["x"]) >= 5, latency["x"]
    assert {s["name"] for s in latency["series"]} == {"gpt-4.1", "claude-sonnet-4", "gemini-2.5-flash", "deepseek-v3.2"}
    assert "Prometheus metrics served at http://127.0.0.1:" in out
    rows = {row["model"]: row for row in json.loads(re.search(r"^\[\n.*?^\]$", out, re.S | re.M).group(0))}
    assert set(rows) == {"gpt-4.1", "claude-sonnet-4", "gemini-2.5-flash", "deepseek-v3.2"}
    # latency ordering and scale from the profile (the tutorial's means)
    assert rows["gemini-2.5-flash"]["avg_latency_s"] < rows["deepseek-v3.2"]["avg_latency_s"]
    assert rows["deepseek-v3.2"]["avg_latency_s"] < rows["gpt-4.1"]["avg_latency_s"]
    assert rows["gemini-2.5-flash"]["avg_latency_s"] < rows["claude-sonnet-4"]["avg_latency_s"]
    assert rows["gpt-4.1"]["avg_latency_s"] == pytest.approx(1.85, rel=0.4)
    assert rows["gemini-2.5-flash"]["avg_latency_s"] == pytest.approx(0.58, rel=0.4)
    # success per attempt matches the configured mix (96 / 95 / 99 / 98 %) within sampling tolerance
    for model, configured in (
        ("gpt-4.1", 96),
        ("claude-sonnet-4", 95),
        ("gemini-2.5-flash", 99),
        ("deepseek-v3.2", 98),
    ):
        assert abs(rows[model]["success_rate_pct"] - configured) <= 7, (model, rows[model])
    # cost per 1M tokens follows the price book's ordering
    assert rows["deepseek-v3.2"]["usd_per_1m_tokens"] < rows["gemini-2.5-flash"]["usd_per_1m_tokens"]
    assert rows["gemini-2.5-flash"]["usd_per_1m_tokens"] < rows["gpt-4.1"]["usd_per_1m_tokens"]
    assert rows["gpt-4.1"]["usd_per_1m_tokens"] < rows["claude-sonnet-4"]["usd_per_1m_tokens"]
    assert all(row["p95_ttft_s"] for row in rows.values())
    # everything it started is gone: no child of this test process survives
    children = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(os.getpid())], capture_output=True, text=True, check=False
    ).stdout.split()
    assert [pid for pid in children if _is_demo_process(pid)] == []


def _is_demo_process(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return False
    return b"otel_holysheep" in cmdline


def test_live_mode_needs_a_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "HOLYSHEEP_API_KEY"}
    result = run_demo("--live", env=env)
    assert result.returncode == 2
    assert "HOLYSHEEP_API_KEY" in result.stderr
