"""Real engines, end to end: an instrumented app (under opentelemetry-instrument, talking to the simulator) feeds
a real Prometheus (pull, the shipped prometheus.yml and rules) and a real VictoriaMetrics (OTLP push). Every
dashboard query must return data on both, every rule must evaluate, and the fault traffic must fire alerts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from collector_checks import recording_rules
from engines import (
    dashboard_queries,
    find_binary,
    free_port,
    load_grafana_generate,
    prometheus_config,
    shipped_rule_files,
    start_prometheus,
    start_victoria_metrics,
)
from otel_holysheep.demo.run import stop
from otel_holysheep.simulator import GatewaySimulator

pytestmark = [pytest.mark.engines, pytest.mark.slow]

APP = Path(__file__).parent / "apps" / "traffic_app.py"


def _need(binary: str) -> None:
    if find_binary(binary) is None:
        pytest.skip(f"{binary} not found: `make test` fetches it with scripts/fetch-engines.sh")


@pytest.fixture(scope="module")
def sim() -> Iterator[GatewaySimulator]:
    with GatewaySimulator() as simulator:
        yield simulator


@contextmanager
def traffic(sim: GatewaySimulator, env: dict[str, str]) -> Iterator[None]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    base.update(
        {
            "GATEWAY_URL": sim.base_url,
            "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": sim.base_url,
            # every recording rule must answer, the time-to-headers one too: the opt-in detail histograms on
            "OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS": "true",
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_SERVICE_NAME": "e2e-app",
            **env,
        }
    )
    command = [str(Path(sys.executable).with_name("opentelemetry-instrument")), sys.executable, str(APP)]
    proc = subprocess.Popen(
        command, env=base, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "READY":
            proc.kill()
            pytest.fail(f"the traffic app did not start: {line!r} {proc.communicate(timeout=10)[1]}")
        yield
    finally:
        stop(proc)


def test_pull_path_prometheus(sim: GatewaySimulator, tmp_path: Path) -> None:
    _need("prometheus")
    port = free_port()
    env = {
        "OTEL_METRICS_EXPORTER": "prometheus",
        "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
        "OTEL_EXPORTER_PROMETHEUS_PORT": str(port),
    }
    with (
        traffic(sim, env),
        start_prometheus(
            prometheus_config({"holysheep-apps": [f"127.0.0.1:{port}"]}),
            shipped_rule_files(tmp_path, for_="0s"),
            tmp_path,
        ) as prom,
    ):
        prom.wait_for('up{job="holysheep-apps"} == 1', timeout=30)
        prom.wait_for("sum(increase(holysheep_requests_total[1m])) > 50", timeout=40)
        for query in dashboard_queries(rate_interval="30s", range_="5m"):
            assert prom.wait_for(query.expr, timeout=30), f"{query.panel}: no data for {query.expr}"
        # default settings carry no attribution labels: the spend-by-route row splits nothing and calls it all
        # unattributed, rather than showing the total as if it were one route
        split_panels = load_grafana_generate().ATTRIBUTION_PANELS
        for query in dashboard_queries(rate_interval="30s", range_="5m", attribution=True):
            if query.panel in split_panels:
                assert prom.query(query.expr) == [], query
            elif query.panel == "Unattributed spend":
                assert [float(s["value"][1]) for s in prom.query(query.expr)] == [1.0]
        firing = {
            a["metric"]["alertname"]
            for a in prom.wait_for(
                'ALERTS{alertstate="firing", alertname=~"HolySheepHighErrorRatio|HolySheepAuthFailures"}',
                lambda r: len({s["metric"]["alertname"] for s in r}) == 2,
                timeout=40,
            )
        }
        assert firing == {"HolySheepHighErrorRatio", "HolySheepAuthFailures"}
        rules = [rule for group in prom.rules() for rule in group["rules"]]
        assert rules
        assert all(rule["health"] == "ok" for rule in rules), [r for r in rules if r["health"] != "ok"]
        for record in recording_rules():  # each one answers on live data (the latency alerts use the same quantiles)
            assert prom.wait_for(record, timeout=30), f"recording rule {record} has no data"
        targets = [t for t in prom.targets() if t["labels"].get("job") == "holysheep-apps"]
        assert targets
        assert all(t["health"] == "up" for t in targets)


def test_push_path_victoria_metrics(sim: GatewaySimulator, tmp_path: Path) -> None:
    _need("victoria-metrics")
    with start_victoria_metrics(tmp_path) as vm:
        env = {
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": vm.otlp_metrics_url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "cumulative",
        }
        with traffic(sim, env):
            vm.wait_for("sum(increase(holysheep_requests_total[1m])) > 50", timeout=40)
            for query in dashboard_queries(rate_interval="30s", range_="5m"):
                assert vm.wait_for(query.expr, timeout=30), f"{query.panel}: no data for {query.expr}"
            for record, expr in recording_rules(standalone=True).items():  # the expressions answer on VictoriaMetrics
                assert vm.wait_for(expr, timeout=30), f"recording rule {record} has no data: {expr}"
            names = set(vm.metric_names())
        for expected in (
            "holysheep_requests_total",
            "holysheep_cost_usd_total",
            "holysheep_ratelimit_remaining",
            "holysheep_time_to_first_token_seconds_bucket",
            "holysheep_active_requests",
        ):
            assert expected in names, sorted(n for n in names if n.startswith("holysheep"))
