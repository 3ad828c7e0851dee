"""The fleet layout, end to end, with faults: two "hosts" (app processes with their own host.name and
service.instance.id), each with an agent Collector from collector/otel-collector-agent.yaml, load-balancing to a pool
of two gateways from collector/otel-collector-gateway.yaml, scraped by Prometheus, spans to a trace store.

One scenario, in order: healthy traffic (every dashboard query and rule answers); one gateway stopped for more than
20 s while the apps keep sending; the apps finish; both agents restarted while that gateway is still down (what they
hold for it waits in their persistent queues on disk); the gateway comes back. Then metric totals in Prometheus equal
each app's own counts, every GenAI span the apps made reached the trace store once, and each app instance's series
are exposed by exactly one gateway."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from collector_checks import by_labels, check_dashboard_and_rules, report
from engines import prometheus_config, require_binary, shipped_rule_files, start_prometheus
from instrumented_apps import otlp_env, traffic_app
from otel_holysheep.simulator import GatewaySimulator
from otelcol import AGENT, GATEWAY, CollectorServer, TraceSink, start_collector
from traffic import attempts

pytestmark = [pytest.mark.engines, pytest.mark.collector, pytest.mark.slow]

OUTAGE_S = 22.0
HOSTS = {"a": "host-a", "b": "host-b"}


def static_gateways(gateways: list[CollectorServer]) -> dict[str, Any]:
    """The metrics load balancer's resolver on loopback: both gateways by address, as no DNS name has two loopback
    gateways on different ports (dns switched off)."""
    resolver = {"dns": {"enabled": False}, "static": {"hostnames": [g.otlp_grpc_address for g in gateways]}}
    return {"exporters": {"load_balancing": {"resolver": resolver}}}


def gateway_env(gateway: CollectorServer) -> dict[str, str]:
    """The agent's gateway name and port: where its spans go (on loopback each agent names one gateway)."""
    return {"OTEL_GATEWAY_HOSTNAME": "127.0.0.1", "OTEL_GATEWAY_PORT": str(gateway.ports.grpc)}


def instances_exposed(gateway: CollectorServer) -> set[str]:
    """service.instance.id (the instance label) of every holysheep_* series a gateway's prometheus exporter serves."""
    return {
        m.group(1)
        for line in gateway.exposition().splitlines()
        if line.startswith("holysheep_")
        for m in [re.search(r'[{,]instance="([^"]*)"', line)]
        if m
    }


def wait_spans(sink: TraceSink, expected: int, timeout: float = 90) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while len(sink.genai_spans()) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    return sink.genai_spans()


def test_fleet_agents_and_gateways_survive_a_gateway_outage_and_agent_restarts(tmp_path: Path) -> None:
    require_binary("otelcol-holysheep")
    require_binary("prometheus")
    with GatewaySimulator() as sim, TraceSink(tmp_path) as sink:
        gateways = [start_collector(GATEWAY, tmp_path, name=f"gateway-{i}", env=sink.env) for i in (1, 2)]
        agents: dict[str, CollectorServer] = {}
        try:
            for tag, gateway in zip(HOSTS, gateways, strict=True):
                agents[tag] = start_collector(
                    AGENT, tmp_path, name=f"agent-{tag}", extra=static_gateways(gateways), env=gateway_env(gateway)
                )
            config = prometheus_config({"otel-collector": [g.prometheus_address for g in gateways]})
            with start_prometheus(config, shipped_rule_files(tmp_path, for_="0s"), tmp_path) as prom:
                run_scenario(sim, sink, gateways, agents, prom)
        finally:
            for server in [*agents.values(), *gateways]:
                server.stop()


def run_scenario(
    sim: GatewaySimulator,
    sink: TraceSink,
    gateways: list[CollectorServer],
    agents: dict[str, CollectorServer],
    prom: Any,
) -> None:
    envs = {
        tag: otlp_env(
            sim.base_url,
            agents[tag].otlp_http_url,
            service="fleet-app",
            tag=tag,
            resource={"host.name": host, "service.instance.id": f"app-{tag}"},
        )
        for tag, host in HOSTS.items()
    }
    with traffic_app(envs["a"]) as app_a, traffic_app(envs["b"]) as app_b:
        # healthy: every panel and rule answers on data that came through agents and gateways
        prom.wait_for("sum(increase(holysheep_requests_total[1m])) > 50", timeout=60)
        # both hosts' first exports through their agents and gateways arrived (one app may start a little later)
        prom.wait_for("count(count by (instance) (holysheep_requests_total)) >= 2", timeout=60)
        check_dashboard_and_rules(prom)
        host_names = by_labels(
            prom.query("count by (instance, host_name) (holysheep_requests_total)"), "instance", "host_name"
        )
        assert {k for k in host_names} == {("app-a", "host-a"), ("app-b", "host-b")}, host_names

        # fault 1: a gateway is down for more than OUTAGE_S while the apps keep sending
        down = gateways[0]
        down.stop(timeout=30)
        outage_started = time.monotonic()
        time.sleep(OUTAGE_S)
        tokens = {"a": app_a.finish(), "b": app_b.finish()}

    # fault 2: both agents restart while that gateway is still down; what they hold is in their persistent queues
    queued = {tag: agent.self_metrics().get("otelcol_exporter_queue_size", 0.0) for tag, agent in agents.items()}
    for agent in agents.values():
        agent.restart()
    down.start()
    down.wait_ready(30)
    outage_s = time.monotonic() - outage_started

    sent = {tag: attempts(sim.requests, tag) for tag in HOSTS}
    total_sent = sum(sum(c.values()) for c in sent.values())
    for tag in HOSTS:
        want_requests = {(m,): float(n) for m, n in sent[tag].items()}
        want_tokens = {tuple(k.split("/")): float(v) for k, v in tokens[tag].items()}
        prom.wait_for(
            f'sum by (model) (holysheep_requests_total{{instance="app-{tag}"}})',
            lambda r, want=want_requests: by_labels(r, "model") == want,
            timeout=120,
        )
        prom.wait_for(
            f'sum by (model, token_type) (holysheep_tokens_total{{instance="app-{tag}"}})',
            lambda r, want=want_tokens: by_labels(r, "model", "token_type") == want,
            timeout=60,
        )
    spans = wait_spans(sink, total_sent)
    unique = {(s["trace_id"], s["span_id"]) for s in spans}
    exposed = {g.name: instances_exposed(g) for g in gateways}
    accepted = {g.name: g.self_metrics().get("otelcol_receiver_accepted_spans", 0.0) for g in gateways}
    report(
        "fleet",
        outage_s=round(outage_s, 1),
        queued_at_restart=queued,
        attempts_sent=total_sent,
        spans_received=len(spans),
        spans_unique=len(unique),
        spans_lost=total_sent - len(unique),
        series_by_gateway={k: sorted(v) for k, v in exposed.items()},
        all_spans_accepted_by_gateway=accepted,  # GenAI spans and the generic httpx instrumentation's HTTP spans
    )
    assert len(unique) == total_sent, "spans lost"
    assert len(spans) == total_sent, "spans delivered twice"
    assert Counter(s["resource"]["service.instance.id"] for s in spans) == {
        f"app-{tag}": sum(sent[tag].values()) for tag in HOSTS
    }
    # each app instance's series are exposed by exactly one gateway: no series twice, none missing
    owners = Counter(instance for instances in exposed.values() for instance in instances)
    assert owners == {"app-a": 1, "app-b": 1}, exposed
    # both gateways carried spans (each agent sends to its own here)
    assert all(value > 0 for value in accepted.values()), accepted
