"""The commented alternatives of collector/otel-collector.yaml, taken from the file as a user uncomments them:
push with prometheus_remote_write (into Prometheus 2.53 with its remote-write receiver), push with otlp_http into
Prometheus 3's OTLP receiver, and the debug exporter. Every dashboard query and rule answers, totals are exact."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from collector_checks import drive_and_check, report
from engines import (
    prometheus_config,
    require_binary,
    shipped_rule_files,
    start_prometheus,
    start_prometheus3,
)
from instrumented_apps import otlp_env
from otel_holysheep.simulator import GatewaySimulator
from otelcol import SINGLE, TraceSink, commented_block, start_collector

pytestmark = [pytest.mark.engines, pytest.mark.collector, pytest.mark.slow]


def metrics_exporter(name: str, extra_traces_exporters: tuple[str, ...] = ()) -> dict[str, Any]:
    """Override: the commented exporter ``name`` of the shipped file as the metrics pipeline's exporter."""
    exporters = commented_block(SINGLE, name)
    pipelines: dict[str, Any] = {"metrics": {"exporters": [name]}}
    for extra in extra_traces_exporters:
        exporters.update(commented_block(SINGLE, extra))
    if extra_traces_exporters:
        pipelines["traces"] = {"exporters": ["otlp_grpc/traces", *extra_traces_exporters]}
    return {"exporters": exporters, "service": {"pipelines": pipelines}}


def test_prometheus_remote_write_and_debug(tmp_path: Path) -> None:
    require_binary("otelcol-holysheep")
    require_binary("prometheus")
    with (
        GatewaySimulator() as sim,
        TraceSink(tmp_path) as sink,
        start_prometheus(
            prometheus_config({}),
            shipped_rule_files(tmp_path, for_="0s"),
            tmp_path,
            extra_args=["--web.enable-remote-write-receiver"],
        ) as prom,
    ):
        env = {**sink.env, "PROMETHEUS_REMOTE_WRITE_URL": f"{prom.url}/api/v1/write"}
        extra = metrics_exporter("prometheus_remote_write", extra_traces_exporters=("debug",))
        with start_collector(SINGLE, tmp_path, extra=extra, env=env) as collector:
            app_env = otlp_env(sim.base_url, collector.otlp_http_url, service="rw-app", tag="rw")
            sent, _ = drive_and_check(prom, sim, app_env, selector='{job="rw-app"}', tag="rw")
            # debug (verbosity: basic) logs one line per batch of spans it saw
            deadline = time.monotonic() + 15
            while "Traces" not in collector.log_path.read_text() and time.monotonic() < deadline:
                time.sleep(0.3)
            log = collector.log_path.read_text()
        assert '"otelcol.component.id": "debug"' in log and "Traces" in log, log[-2000:]
        report("prometheus_remote_write", attempts_sent=sum(sent.values()))


def test_otlp_http_into_prometheus3(tmp_path: Path) -> None:
    require_binary("otelcol-holysheep")
    require_binary("prometheus3")
    with (
        GatewaySimulator() as sim,
        TraceSink(tmp_path) as sink,
        start_prometheus3(prometheus_config({}), shipped_rule_files(tmp_path, for_="0s"), tmp_path) as prom,
    ):
        env = {**sink.env, "PROMETHEUS_OTLP_URL": prom.otlp_metrics_url}
        with start_collector(SINGLE, tmp_path, extra=metrics_exporter("otlp_http/prometheus"), env=env) as collector:
            app_env = otlp_env(sim.base_url, collector.otlp_http_url, service="p3-col-app", tag="p3c")
            sent, _ = drive_and_check(prom, sim, app_env, selector='{job="p3-col-app"}', tag="p3c")
        report("collector -> prometheus3 otlp", attempts_sent=sum(sent.values()))
