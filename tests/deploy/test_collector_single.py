"""The push path with one Collector, end to end: a gunicorn web app with two pre-forked workers (the case the README
warns about for pull) under opentelemetry-instrument pushes OTLP/HTTP to our Collector started from
collector/otel-collector.yaml (listening ports overridden, nothing else), which Prometheus (the shipped prometheus.yml
and rules) scrapes and which forwards the spans to a trace store."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from collector_checks import (
    add_tokens,
    by_labels,
    check_dashboard_and_rules,
    in_background,
    report,
    wait_for_totals,
)
from engines import prometheus_config, require_binary, shipped_rule_files, start_prometheus
from instrumented_apps import gunicorn_app, otlp_env
from otel_holysheep.simulator import GatewaySimulator
from otelcol import SINGLE, TraceSink, start_collector
from traffic import attempts

pytestmark = [pytest.mark.engines, pytest.mark.collector, pytest.mark.slow]


def test_gunicorn_workers_push_through_one_collector(tmp_path: Path) -> None:
    require_binary("otelcol-holysheep")
    require_binary("prometheus")
    with (
        GatewaySimulator() as sim,
        TraceSink(tmp_path) as sink,
        start_collector(SINGLE, tmp_path, env=sink.env) as collector,
        start_prometheus(
            prometheus_config({"otel-collector": [collector.prometheus_address]}),
            shipped_rule_files(tmp_path, for_="0s"),
            tmp_path,
        ) as prom,
    ):
        env = otlp_env(sim.base_url, collector.otlp_http_url, service="web-app", tag="web")
        with gunicorn_app(env, tmp_path / "gunicorn.log", workers=2) as web:
            tokens: Counter[str] = Counter()
            pids: set[int] = set()
            started = time.monotonic()
            with in_background(web.round, threads=2) as rounds:
                prom.wait_for('up{job="otel-collector"} == 1', timeout=30)
                # rates need a few samples: keep the traffic going while every panel and rule is checked
                prom.wait_for("sum(increase(holysheep_requests_total[1m])) > 50", timeout=60)
                check_dashboard_and_rules(prom)
                while time.monotonic() - started < 15 or len({r["pid"] for r in rounds}) < 2:
                    assert time.monotonic() - started < 120, "both workers never served a round"
                    time.sleep(0.5)
            for result in rounds:
                pids.add(int(result["pid"]))
                add_tokens(tokens, result["tokens"])
            sent = attempts(sim.requests, "web")
            # What the app counted (the gateway's attempts, the tokens it reported) is what Prometheus has.
            wait_for_totals(prom, '{job="web-app"}', sent, tokens)
            # Each worker is its own series (service.instance.id differs per process): nothing overwritten.
            instances = by_labels(prom.query('sum by (instance) (holysheep_requests_total{job="web-app"})'), "instance")
            assert len(pids) == 2
            assert len(instances) == 2, instances
            assert all(value > 0 for value in instances.values())
            # Every GenAI span (one per attempt) reached the trace store through the Collector's traces pipeline.
            deadline = time.monotonic() + 30
            while len(sink.genai_spans()) < sum(sent.values()) and time.monotonic() < deadline:
                time.sleep(0.5)
            spans = sink.genai_spans()
            report(
                "single collector",
                workers=sorted(pids),
                rounds=len(rounds),
                attempts_sent=sum(sent.values()),
                spans_received=len(spans),
                spans_lost=sum(sent.values()) - len(spans),
                tokens=sum(tokens.values()),
            )
            assert len(spans) == sum(sent.values())
            assert Counter(s["attributes"]["gen_ai.request.model"] for s in spans) == sent
            assert {s["resource"]["service.name"] for s in spans} == {"web-app"}
            assert {s["resource"]["deployment.environment.name"] for s in spans} == {"production"}
