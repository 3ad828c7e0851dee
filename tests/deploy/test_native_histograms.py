"""The push path with exponential histograms, end to end: the SDK's base-2 exponential aggregation (selected by the
standard OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION) into Prometheus 3's OTLP receiver, which stores
them as native histograms. The dashboard's queries and the shipped rules are the ones the classic-bucket tests run:
each must answer on native histograms too, the report must read them, and a model must cost at most 50 series."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector_checks import check_dashboard_and_rules, recording_rules
from engines import prometheus_config, require_binary, shipped_rule_files, start_prometheus3
from instrumented_apps import otlp_env, traffic_app
from otel_holysheep.report.sources import PrometheusSource
from otel_holysheep.simulator import GatewaySimulator
from traffic import MODELS

pytestmark = [pytest.mark.engines, pytest.mark.slow]

NATIVE = {"OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION": "base2_exponential_bucket_histogram"}
# the last three are opt-in (OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS=true, which otlp_env sets)
HISTOGRAMS = (
    "holysheep_request_duration_seconds",
    "holysheep_time_to_first_token_seconds",
    "holysheep_time_to_headers_seconds",
    "holysheep_output_tokens_per_second",
    "holysheep_retry_after_seconds",
)
SERIES_PER_MODEL_LIMIT = 50


def test_prometheus3_native_histograms(tmp_path: Path) -> None:
    require_binary("prometheus3")
    with (
        GatewaySimulator() as sim,
        start_prometheus3(prometheus_config({}), shipped_rule_files(tmp_path, for_="0s"), tmp_path) as prom,
    ):
        env = otlp_env(
            sim.base_url, None, service="native-app", traces=False, metrics_url=prom.otlp_metrics_url, extra=NATIVE
        )
        with traffic_app(env):
            prom.wait_for("sum(increase(holysheep_requests_total[1m])) > 50", timeout=60)
            for name in HISTOGRAMS:  # one native series per label set, no classic buckets
                stored = prom.wait_for(name, timeout=30)
                assert all("histogram" in sample for sample in stored), (name, stored[:1])
                assert prom.query(f"{name}_bucket") == [], name
            check_dashboard_and_rules(prom)
            for record in recording_rules():
                assert prom.wait_for(record, timeout=30), f"recording rule {record} has no data"
            per_model = {
                r["metric"]["model"]: float(r["value"][1])
                for r in prom.query('count by (model) ({__name__=~"holysheep_.+|gen_ai_.+", model!=""})')
            }
            assert set(per_model) == set(MODELS), per_model
            assert max(per_model.values()) <= SERIES_PER_MODEL_LIMIT, per_model
            report = PrometheusSource(prom.url, window="5m").fetch()
        rows = {row.model: row for row in report.rows}
        assert set(rows) == set(MODELS)
        for row in rows.values():  # P95s from native histograms, the mean from histogram_avg
            assert row.p95_latency_s and row.p95_ttft_s and row.avg_latency_s, row
        print(f"series per model on Prometheus 3 (native histograms): {per_model}")
