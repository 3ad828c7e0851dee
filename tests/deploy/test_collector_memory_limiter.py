"""A burst past the Collector's memory_limiter: the app sees no exception and no call slower than its export timeout
(exports run beside the app's requests, and a refused export is retried by the SDK), and once the burst is over the
metric totals in Prometheus recover to exactly what the app counted.

The Collector is collector/otel-collector.yaml with its listening ports moved and its memory limit lowered to
24 MiB (spike 8 MiB: refusing above 16 MiB), so that a burst of large spans (captured prompts of 16 KiB) goes past it
on any machine."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector_checks import report, wait_for_alert, wait_for_totals
from engines import prometheus_config, require_binary, shipped_rule_files, start_prometheus
from instrumented_apps import APPS, BIN, otlp_env
from otel_holysheep.simulator import GatewaySimulator
from otelcol import SINGLE, TraceSink, start_collector
from traffic import attempts

pytestmark = [pytest.mark.engines, pytest.mark.collector, pytest.mark.slow]

EXPORT_TIMEOUT_S = 5.0
TIGHT_MEMORY = {"processors": {"memory_limiter": {"limit_mib": 24, "spike_limit_mib": 8, "check_interval": "100ms"}}}


def test_a_burst_past_the_memory_limiter_costs_the_app_nothing_and_totals_recover(tmp_path: Path) -> None:
    require_binary("otelcol-holysheep")
    require_binary("prometheus")
    with (
        GatewaySimulator() as sim,
        TraceSink(tmp_path) as sink,
        start_collector(SINGLE, tmp_path, extra=TIGHT_MEMORY, env=sink.env) as collector,
        start_prometheus(
            prometheus_config(
                {"otel-collector": [collector.prometheus_address], "otel-collector-self": [collector.telemetry_address]}
            ),
            shipped_rule_files(tmp_path, for_="0s"),
            tmp_path,
        ) as prom,
    ):
        env = otlp_env(
            sim.base_url,
            collector.otlp_http_url,
            service="burst-app",
            tag="burst",
            extra={
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
                "OTEL_INSTRUMENTATION_HOLYSHEEP_CONTENT_MAX_CHARS": str(17 * 1024),
                "OTEL_EXPORTER_OTLP_TIMEOUT": str(int(EXPORT_TIMEOUT_S * 1000)),
                "OTEL_BSP_MAX_QUEUE_SIZE": "8192",
                "BURST": "600",
                "BURST_KB": "16",
            },
        )
        proc = subprocess.Popen(
            [str(BIN / "opentelemetry-instrument"), sys.executable, str(APPS / "burst_app.py")],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            line = proc.stdout.readline()
            if not line.startswith("RESULT "):
                out, err = proc.communicate(timeout=120)
                raise AssertionError(f"{line!r} {out[-1000:]} {err[-3000:]}")
            result = json.loads(line.removeprefix("RESULT "))
            sent = attempts(sim.requests, "burst")
            refused = collector.self_metrics()
            refused_spans = refused.get("otelcol_receiver_refused_spans", 0.0)
            refused_points = refused.get("otelcol_receiver_refused_metric_points", 0.0)
            # the app keeps exporting its cumulative totals every second: the first export the Collector accepts
            # once its memory is down brings them whole
            wait_for_totals(prom, '{job="burst-app"}', sent, result["tokens"])
        finally:
            exit_from = time.monotonic()
            out, err = proc.communicate(timeout=120)  # closes the app's stdin: it exits, its SDK flushes what is left
        exit_s = time.monotonic() - exit_from  # the SDK's flush at exit
        assert proc.returncode == 0, f"{out[-1000:]} {err[-3000:]}"
        # the pipeline alert on the refusals, from the Collector's own metrics
        alert = wait_for_alert(prom, "HolySheepCollectorRefusingData", {"instance": collector.telemetry_address})
        # the last retried span batches (the count is reported, not asserted: the SDK may drop what it cannot retry)
        deadline = time.monotonic() + 15
        while len(sink.genai_spans()) < sum(sent.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        spans = sink.genai_spans()
        report(
            "memory_limiter burst",
            calls=result["calls"],
            exceptions=result["errors"],
            slowest_call_s=round(result["slowest_s"], 3),
            exit_flush_s=round(exit_s, 2),
            refused_spans=refused_spans,
            refused_metric_points=refused_points,
            spans_sent=sum(sent.values()),
            spans_received=len(spans),
            spans_lost=sum(sent.values()) - len(spans),
            alert=alert["labels"]["alertname"],
        )
        assert refused_spans + refused_points > 0, "the burst never went past the memory_limiter: nothing was tested"
        assert result["errors"] == 0
        assert result["calls"] == 600
        # Exports never block a request: the slowest call of the burst is far below the export timeout.
        assert result["slowest_s"] < EXPORT_TIMEOUT_S
        # The flush at exit is bounded by the export timeout (per signal, plus the SDK's retry budget), not hung.
        assert exit_s < 6 * EXPORT_TIMEOUT_S
