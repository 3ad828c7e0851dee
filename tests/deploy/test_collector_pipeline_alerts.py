"""The pipeline alerts (prometheus/rules/holysheep-pipeline.yml) on live data: one Collector from
collector/otel-collector.yaml whose trace store is down, with a small span queue (10 requests, one consumer) and,
as a second metrics exporter, an OTLP destination that refuses every connection (retries given up after 1 s).

While an app sends: the span queue fills past 80% (HolySheepCollectorQueueNearlyFull), then refuses data
(HolySheepCollectorDroppingData), and the unreachable exporter's failures count (HolySheepCollectorSendFailures).
Then the trace store starts: the queue drains and HolySheepCollectorQueueNearlyFull resolves."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from collector_checks import report, wait_for_alert
from engines import free_port, prometheus_config, require_binary, shipped_rule_files, start_prometheus
from instrumented_apps import otlp_env, traffic_app
from otel_holysheep.simulator import GatewaySimulator
from otelcol import SINGLE, TraceSink, start_collector

pytestmark = [pytest.mark.engines, pytest.mark.collector, pytest.mark.slow]


def faults(closed_port: int) -> dict[str, object]:
    return {
        "exporters": {
            "otlp_grpc/traces": {
                "sending_queue": {"queue_size": 10, "num_consumers": 1},
                "retry_on_failure": {"initial_interval": "200ms", "max_interval": "1s"},
            },
            "otlp_http/down": {
                "metrics_endpoint": f"http://127.0.0.1:{closed_port}/v1/metrics",
                "retry_on_failure": {"initial_interval": "100ms", "max_interval": "500ms", "max_elapsed_time": "1s"},
            },
        },
        "service": {"pipelines": {"metrics": {"exporters": ["prometheus", "otlp_http/down"]}}},
    }


def test_queue_full_dropping_and_send_failures_fire_and_the_queue_alert_resolves(tmp_path: Path) -> None:
    require_binary("otelcol-holysheep")
    require_binary("prometheus")
    sink = TraceSink(tmp_path)  # its ports are chosen; it starts later (the trace store is down until then)
    with (
        GatewaySimulator() as sim,
        start_collector(SINGLE, tmp_path, extra=faults(free_port()), env=sink.env) as collector,
        start_prometheus(
            prometheus_config({"otel-collector-self": [collector.telemetry_address]}),
            shipped_rule_files(tmp_path, for_="0s"),
            tmp_path,
        ) as prom,
    ):
        me = {"instance": collector.telemetry_address}
        env = otlp_env(sim.base_url, collector.otlp_http_url, service="fault-app", tag="fault")
        with traffic_app(env) as app:
            full = wait_for_alert(prom, "HolySheepCollectorQueueNearlyFull", {**me, "exporter": "otlp_grpc/traces"})
            dropping = wait_for_alert(prom, "HolySheepCollectorDroppingData", {**me, "exporter": "otlp_grpc/traces"})
            failing = wait_for_alert(prom, "HolySheepCollectorSendFailures", {**me, "exporter": "otlp_http/down"})
            with sink:
                wait_for_alert(
                    prom,
                    "HolySheepCollectorQueueNearlyFull",
                    {**me, "exporter": "otlp_grpc/traces"},
                    firing=False,
                    timeout=120,
                )
                deadline = time.monotonic() + 60
                while not sink.genai_spans() and time.monotonic() < deadline:
                    time.sleep(0.5)
                delivered = len(sink.genai_spans())
            app.finish()
    assert delivered > 0, "the queue drained but nothing reached the trace store"
    report(
        "pipeline alerts",
        fired=[a["labels"]["alertname"] for a in (full, dropping, failing)],
        spans_delivered_after_recovery=delivered,
    )
