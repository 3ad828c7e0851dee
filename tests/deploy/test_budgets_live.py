"""The budget rules and ``report --budgets`` against a real Prometheus (2.53, and 3 when built): the generated rules
load and evaluate (the calendar arithmetic, ``@ end()`` inside the month-to-date subquery), and the report's
month-to-date query runs and sees the spend a scraped app reports; the dashboard's Budgets row has data."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from engines import (
    PrometheusServer,
    dashboard_queries,
    find_binary,
    prometheus_config,
    start_prometheus,
    start_prometheus3,
)
from otel_holysheep.budgets import rules
from otel_holysheep.budgets.spec import parse_budgets
from otel_holysheep.report.cli import main as report

pytestmark = [pytest.mark.engines, pytest.mark.slow]

BUDGETS = "budgets:\n  - team: search\n    monthly_usd: 500\n  - model: gpt-4.1\n    monthly_usd: 40\n"


class _Spender:
    """A /metrics page whose cost counter grows by 0.25 USD on every scrape (one series, team search, gpt-4.1)."""

    def __init__(self) -> None:
        self.value = 0.0
        self.lock = threading.Lock()

    def page(self) -> str:
        with self.lock:
            self.value += 0.25
            value = self.value
        return (
            "# TYPE holysheep_cost_usd_total counter\n"
            f'holysheep_cost_usd_total{{model="gpt-4.1",team="search",route="/chat"}} {value}\n'
        )


@contextlib.contextmanager
def serve_spender() -> Iterator[tuple[str, _Spender]]:
    spender = _Spender()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = spender.page().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", spender
    finally:
        server.shutdown()
        server.server_close()


Starter = Callable[..., PrometheusServer]
ENGINES = [("prometheus", start_prometheus), ("prometheus3", start_prometheus3)]


@pytest.mark.parametrize(("binary", "start"), ENGINES, ids=[b for b, _ in ENGINES])
def test_rules_evaluate_and_the_report_reads_the_month(tmp_path: Path, binary: str, start: Starter) -> None:
    if find_binary(binary) is None:
        pytest.skip(f"{binary} not found: `make engines` fetches or builds it")
    document = rules.rule_document(parse_budgets(BUDGETS, "budgets.yaml"))
    # every 2 s instead of every minute, so the first evaluation comes quickly; the expressions are the same
    document["groups"][0]["interval"] = "2s"
    rule_file = tmp_path / "holysheep-budgets.yml"
    rule_file.write_text(yaml.safe_dump(document, sort_keys=False))
    budgets_file = tmp_path / "budgets.yaml"
    budgets_file.write_text(BUDGETS)
    with serve_spender() as (target, spender):
        config = prometheus_config({"holysheep-apps": [target]})
        with start(config, [rule_file], tmp_path) as prom:
            prom.wait_for('holysheep_cost_usd_total{job="holysheep-apps"} >= 2', timeout=60)
            prom.wait_for(f"{rules.MTD}", lambda r: len(r) == 2, timeout=60)
            health = prom.get_json("/api/v1/rules", {})["data"]["groups"]
            [group] = [g for g in health if g["name"] == rules.GROUP]
            assert {r["health"] for r in group["rules"]} == {"ok"}, [r.get("lastError") for r in group["rules"]]
            elapsed = float(prom.query(rules.ELAPSED)[0]["value"][1])
            now = time.time()
            month_start = datetime.fromtimestamp(now, tz=UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            assert abs(elapsed - (now - month_start.timestamp())) < 30
            budgets = {r["metric"]["budget"]: float(r["value"][1]) for r in prom.query(rules.BUDGET_USD)}
            assert budgets == {"team=search": 500.0, "model=gpt-4.1": 40.0}
            # the pace: before the rules have seen a whole hour, the last hour's increase (never absent)
            paces = {r["metric"]["budget"]: float(r["value"][1]) for r in prom.query(rules.RATE)}
            assert set(paces) == set(budgets) and all(pace >= 0 for pace in paces.values()), paces
            # the dashboard's Budgets row: every query answers one series per budget
            budget_panels = [pq for pq in dashboard_queries(budgets=True) if pq not in dashboard_queries()]
            assert len(budget_panels) == 5
            for pq in budget_panels:
                assert {r["metric"]["budget"] for r in prom.query(pq.expr)} == set(budgets), pq
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = report(["--prometheus", prom.url, "--budgets", str(budgets_file), "--format", "json"])
            scraped = float(prom.query("max(holysheep_cost_usd_total)")[0]["value"][1])
    assert code == 0, err.getvalue()
    rows = {row["budget"]: row for row in json.loads(out.getvalue())["budgets"]}
    # increase() over the month so far: the whole life of the series, extrapolated a little at its start
    for name in ("team=search", "model=gpt-4.1"):
        assert 0.5 * (scraped - 0.25) <= rows[name]["month_to_date_usd"] <= scraped * 1.2 + 0.5, rows[name]
        assert rows[name]["projected_month_end_usd"] >= rows[name]["month_to_date_usd"]
    assert spender.value >= scraped
