"""Prometheus 3 (built from its Go module) taking OTLP itself, as many users now run it: an app pushes straight into
its OTLP receiver; every dashboard query and rule works on the names Prometheus 3 derives, totals are exact; and the
latency exemplars of a slow request point at that request's own GenAI span (exemplar storage on, spans in a trace
store next to it)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from collector_checks import drive_and_check, report
from engines import prometheus_config, require_binary, shipped_rule_files, start_prometheus3
from instrumented_apps import APPS, BIN, otlp_env
from otel_holysheep.simulator import GatewaySimulator
from otelcol import TraceSink

pytestmark = [pytest.mark.engines, pytest.mark.slow]


def test_app_pushes_otlp_straight_into_prometheus3(tmp_path: Path) -> None:
    require_binary("prometheus3")
    with (
        GatewaySimulator() as sim,
        start_prometheus3(prometheus_config({}), shipped_rule_files(tmp_path, for_="0s"), tmp_path) as prom,
    ):
        env = otlp_env(sim.base_url, None, service="p3-app", tag="p3", traces=False, metrics_url=prom.otlp_metrics_url)
        sent, tokens = drive_and_check(prom, sim, env, selector='{job="p3-app"}', tag="p3")
        # Prometheus 3 sets job from service.name and instance from service.instance.id, as the Collector does.
        instances = prom.query('count by (job, instance) (holysheep_requests_total{job="p3-app"})')
        assert len(instances) == 1 and instances[0]["metric"]["instance"], instances
        report("prometheus3 otlp", attempts_sent=sum(sent.values()), tokens=sum(tokens.values()))


def flat_exemplars(result: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for series in result for e in series["exemplars"]]


def test_exemplars_of_a_slow_request_point_at_its_own_span(tmp_path: Path) -> None:
    require_binary("prometheus3")
    require_binary("otelcol-holysheep")
    with (
        GatewaySimulator() as sim,
        TraceSink(tmp_path) as sink,
        start_prometheus3(prometheus_config({}), [], tmp_path) as prom,
    ):
        started = time.time()
        env = otlp_env(
            sim.base_url, sink.otlp_http_url, service="exemplar-app", tag="ex", metrics_url=prom.otlp_metrics_url
        )
        done = subprocess.run(
            [str(BIN / "opentelemetry-instrument"), sys.executable, str(APPS / "slow_call_app.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0 and "DONE" in done.stdout, done.stderr[-3000:]
        expected = sum(1 for r in sim.requests if r.headers.get("x-app-tag") == "ex")
        deadline = time.monotonic() + 30
        while len(sink.genai_spans()) < expected and time.monotonic() < deadline:
            time.sleep(0.3)
        spans = sink.genai_spans()
        assert len(spans) == expected
        slow = max(spans, key=lambda s: s["duration_s"])
        assert slow["duration_s"] > 1.0 and slow["attributes"]["gen_ai.request.model"] == "gpt-4.1"

        def exemplars_of(metric: str) -> list[dict[str, Any]]:
            query = f'{metric}_bucket{{job="exemplar-app"}}'
            return flat_exemplars(prom.wait_for_exemplars(query, started - 60, time.time() + 60, timeout=30))

        for metric in ("holysheep_request_duration_seconds", "holysheep_time_to_first_token_seconds"):
            exemplars = exemplars_of(metric)
            slowest = max(exemplars, key=lambda e: float(e["value"]))
            report(
                f"exemplar {metric}",
                exemplars=len(exemplars),
                slowest_value_s=round(float(slowest["value"]), 3),
                trace_id=slowest["labels"].get("trace_id"),
                span_id=slowest["labels"].get("span_id"),
                span=f"{slow['trace_id']}/{slow['span_id']}",
            )
            assert slowest["labels"]["trace_id"] == slow["trace_id"], metric
            assert slowest["labels"]["span_id"] == slow["span_id"], metric
            # every exemplar names one of our GenAI spans, never another span
            ours = {(s["trace_id"], s["span_id"]) for s in spans}
            assert {(e["labels"]["trace_id"], e["labels"]["span_id"]) for e in exemplars} <= ours, metric
