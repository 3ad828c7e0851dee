"""Smoke tests of tests/engines.py against the real servers: Prometheus scrapes with the shipped prometheus.yml and
loads every shipped rule; VictoriaMetrics ingests a real OTLP/HTTP export and answers PromQL with Prometheus names."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from engines import (
    PrometheusServer,
    VictoriaMetricsServer,
    prometheus_config,
    require_binary,
    shipped_rule_files,
    start_prometheus,
    start_victoria_metrics,
    static_exposition_server,
)

pytestmark = pytest.mark.engines

SCOPE = 'otel_scope_name="otel_holysheep",otel_scope_version="0.1.0",otel_scope_schema_url=""'
APP_EXPOSITION = f"""\
# HELP holysheep_requests_total HTTP attempts to the gateway
# TYPE holysheep_requests_total counter
holysheep_requests_total{{model="gpt-4o",endpoint="chat.completions",status="success",{SCOPE}}} 7
holysheep_requests_total{{model="gpt-4o",endpoint="embeddings",status="success",{SCOPE}}} EMBEDDINGS
# HELP holysheep_active_requests Requests in flight
# TYPE holysheep_active_requests gauge
holysheep_active_requests{{model="gpt-4o",{SCOPE}}} 2
# TYPE holysheep_ratelimit_remaining gauge
holysheep_ratelimit_remaining{{model="gpt-4o",kind="requests",{SCOPE}}} 5
# TYPE holysheep_ratelimit_limit gauge
holysheep_ratelimit_limit{{model="gpt-4o",kind="requests",{SCOPE}}} 100
"""
_scrapes = itertools.count()


def app_exposition() -> str:
    """The app keeps calling gpt-4o (its embeddings counter rises with every scrape): the headroom reading is fresh."""
    return APP_EXPOSITION.replace("EMBEDDINGS", str(10 * next(_scrapes)))


# What an OpenTelemetry Collector's prometheus exporter serves: job / instance already set from the resource.
COLLECTOR_EXPOSITION = """\
# TYPE holysheep_requests_total counter
holysheep_requests_total{job="billing-api",instance="billing-1",model="claude-sonnet-4",status="success"} 3
"""


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """One Prometheus for the module (its first scrape comes ~5 s after start: service discovery is throttled)."""
    require_binary("prometheus")
    tmp_path = tmp_path_factory.mktemp("prometheus")
    with (
        static_exposition_server(app_exposition) as app,
        static_exposition_server(COLLECTOR_EXPOSITION) as collector,
    ):
        config = prometheus_config({"holysheep-apps": [app], "otel-collector": [collector]})
        # for: 0s on every alert, so an alert whose condition holds fires at the first evaluation
        with start_prometheus(config, shipped_rule_files(tmp_path, for_="0s"), tmp_path) as prom:
            yield prom


@pytest.fixture
def victoria_metrics(tmp_path: Path) -> Iterator[VictoriaMetricsServer]:
    require_binary("victoria-metrics")
    with start_victoria_metrics(tmp_path) as vm:
        yield vm


def test_prometheus_scrapes_with_the_shipped_config(prometheus: PrometheusServer) -> None:
    up = prometheus.wait_for('up{job="holysheep-apps"} == 1')
    assert len(up) == 1
    result = prometheus.wait_for('holysheep_requests_total{job="holysheep-apps", endpoint="chat.completions"}')
    assert result[0]["metric"]["model"] == "gpt-4o"
    assert result[0]["value"][1] == "7"
    # honor_labels on the otel-collector job keeps the job/instance the Collector set.
    via_collector = prometheus.wait_for('holysheep_requests_total{model="claude-sonnet-4"}')
    assert via_collector[0]["metric"]["job"] == "billing-api"
    assert via_collector[0]["metric"]["instance"] == "billing-1"


def test_prometheus_loads_every_shipped_rule_healthy(prometheus: PrometheusServer) -> None:
    import time

    deadline = time.monotonic() + 15
    while True:
        rules = [rule for group in prometheus.rules() for rule in group["rules"]]
        if rules and all(rule["health"] == "ok" for rule in rules):
            break
        assert time.monotonic() < deadline, [(r["name"], r["health"], r.get("lastError")) for r in rules]
        time.sleep(0.25)
    names = {rule["name"] for rule in rules}
    assert "model:holysheep_requests:rate5m" in names
    assert "HolySheepAuthFailures" in names
    assert len(rules) >= 20


def test_prometheus_fires_a_shipped_alert(prometheus: PrometheusServer) -> None:
    """5 of 100 requests left (5%) is below the 10% headroom threshold, while the app calls the model."""
    import time

    deadline = time.monotonic() + 15
    while not any(a["labels"]["alertname"] == "HolySheepRateLimitHeadroomLow" for a in prometheus.firing_alerts()):
        assert time.monotonic() < deadline, prometheus.alerts()
        time.sleep(0.25)
    (alert,) = [a for a in prometheus.firing_alerts() if a["labels"]["alertname"] == "HolySheepRateLimitHeadroomLow"]
    assert alert["labels"]["model"] == "gpt-4o" and alert["labels"]["kind"] == "requests"
    assert "5%" in alert["annotations"]["description"]


def test_prometheus_stop_is_clean(tmp_path: Path) -> None:
    require_binary("prometheus")
    prom = start_prometheus(prometheus_config({"holysheep-apps": ["127.0.0.1:9"]}), [], tmp_path)
    assert prom.running()
    prom.stop()
    assert not prom.running()
    prom.stop()  # idempotent


def test_victoria_metrics_ingests_otlp_with_prometheus_names(victoria_metrics: VictoriaMetricsServer) -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    exporter = OTLPMetricExporter(endpoint=victoria_metrics.otlp_metrics_url, timeout=10)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create({"service.name": "smoke-app", "service.instance.id": "smoke-1"}),
    )
    try:
        meter = provider.get_meter("otel_holysheep", "0.1.0")
        meter.create_counter("holysheep.requests", unit="{request}").add(3, {"model": "gpt-4o", "status": "success"})
        meter.create_histogram("holysheep.request.duration", unit="s").record(1.25, {"model": "gpt-4o"})
        meter.create_up_down_counter("holysheep.active_requests", unit="{request}").add(1, {"model": "gpt-4o"})
        meter.create_counter("holysheep.cost.usd", unit="{USD}").add(0.5, {"model": "gpt-4o"})
        # A unit that is not an {annotation} is appended by the Prometheus naming rules, case kept:
        meter.create_counter("holysheep.cost.usd.probe", unit="USD").add(0.5, {"model": "gpt-4o"})
        # ... and a gauge with unit "1" gets _ratio (the Python Prometheus exporter adds nothing): use {annotations}.
        meter.create_gauge("holysheep.ratelimit.remaining", unit="{request}").set(5, {"model": "gpt-4o"})
        meter.create_gauge("holysheep.ratelimit.probe", unit="1").set(5, {"model": "gpt-4o"})
        assert provider.force_flush(10_000)
    finally:
        provider.shutdown()

    result = victoria_metrics.wait_for("holysheep_requests_total")
    assert len(result) == 1
    metric = result[0]["metric"]
    assert metric["__name__"] == "holysheep_requests_total"
    assert metric["model"] == "gpt-4o"
    assert float(result[0]["value"][1]) == 3
    # Resource attributes become labels (dots -> underscores); VictoriaMetrics does not derive job / instance.
    assert metric["service_name"] == "smoke-app"
    assert metric["service_instance_id"] == "smoke-1"
    assert "job" not in metric

    names = set(victoria_metrics.metric_names())
    assert {
        "holysheep_request_duration_seconds_bucket",
        "holysheep_request_duration_seconds_count",
        "holysheep_request_duration_seconds_sum",
        "holysheep_active_requests",
        "holysheep_cost_usd_total",
        "holysheep_cost_usd_probe_USD_total",
        "holysheep_ratelimit_remaining",
        "holysheep_ratelimit_probe_ratio",
    } <= names, sorted(names)
    p95 = victoria_metrics.query(
        "histogram_quantile(0.95, sum by (model, le) (holysheep_request_duration_seconds_bucket))"
    )
    assert p95 and 0 < float(p95[0]["value"][1]) <= 5  # the SDK's default buckets: 0, 5, 10, ...
