"""The fleet layout, end to end, with faults: two "hosts" (app processes with their own host.name and
service.instance.id), each with an agent Collector from collector/otel-collector-agent.yaml, load-balancing over TLS
with a bearer token (a CA and certificates the test makes) to a pool of two gateways from
collector/otel-collector-gateway.yaml, which push into Prometheus with remote write; spans to a trace store.
Prometheus scrapes every Collector's own metrics (job otel-collector-self) and evaluates the shipped rules.

One scenario, in order: healthy traffic (every dashboard query and rule answers); one gateway stopped for more than
20 s while the apps keep sending (HolySheepCollectorDown fires for it); the apps finish; both agents restarted while
that gateway is still down (what they hold for it waits in their persistent queues on disk); the gateway comes back
(the alert resolves). Then metric totals in Prometheus equal each app's own counts, no counter was ever reset, and
every GenAI span the apps made reached the trace store once."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from collector_checks import by_labels, check_dashboard_and_rules, counter_resets, report, wait_for_alert
from engines import (
    dashboard_queries,
    load_grafana_generate,
    prometheus_config,
    require_binary,
    shipped_rule_files,
    start_prometheus,
)
from instrumented_apps import otlp_env, traffic_app
from otel_holysheep.simulator import GatewaySimulator
from otelcol import (
    AGENT,
    GATEWAY,
    CollectorServer,
    Credentials,
    Ports,
    TraceSink,
    make_credentials,
    start_collector,
    static_ring,
)
from traffic import attempts

pytestmark = [pytest.mark.engines, pytest.mark.collector, pytest.mark.slow]

OUTAGE_S = 22.0
HOSTS = {"a": "host-a", "b": "host-b"}


def agent_env(gateway: CollectorServer) -> dict[str, str]:
    """The agent's gateway name and port: where its spans go (on loopback each agent names one gateway; the name the
    agents check in the gateways' certificate is then 127.0.0.1)."""
    return {"OTEL_GATEWAY_HOSTNAME": "127.0.0.1", "OTEL_GATEWAY_PORT": str(gateway.ports.grpc)}


def start_fleet(
    tmp_path: Path,
    sink: TraceSink,
    prom: Any,
    creds: Credentials,
    gateway_ports: list[Ports],
    agent_ports: dict[str, Ports],
) -> tuple[list[CollectorServer], dict[str, CollectorServer]]:
    """The gateways (TLS, token, remote write into ``prom``) and one agent per host, each agent's spans to its own
    gateway and its metrics over the static list of every gateway."""
    gateway_env = {**sink.env, **creds.server_env(), "PROMETHEUS_REMOTE_WRITE_URL": f"{prom.url}/api/v1/write"}
    gateways: list[CollectorServer] = []
    agents: dict[str, CollectorServer] = {}
    try:
        for i, ports in enumerate(gateway_ports, start=1):
            gateways.append(start_collector(GATEWAY, tmp_path, name=f"gateway-{i}", env=gateway_env, ports=ports))
        for (tag, ports), gateway in zip(agent_ports.items(), gateways, strict=True):
            agents[tag] = start_collector(
                AGENT,
                tmp_path,
                name=f"agent-{tag}",
                extra=static_ring(gateways),
                env={**agent_env(gateway), **creds.agent_env()},
                ports=ports,
            )
    except BaseException:
        for server in [*agents.values(), *gateways]:
            server.stop()
        raise
    return gateways, agents


def wait_spans(sink: TraceSink, expected: int, timeout: float = 90) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while len(sink.genai_spans()) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    return sink.genai_spans()


def test_fleet_agents_and_gateways_survive_a_gateway_outage_and_agent_restarts(tmp_path: Path) -> None:
    require_binary("otelcol-holysheep")
    require_binary("prometheus")
    creds = make_credentials(tmp_path)
    gateway_ports = [Ports(), Ports()]
    agent_ports = {tag: Ports() for tag in HOSTS}
    own_metrics = [f"127.0.0.1:{p.telemetry}" for p in [*gateway_ports, *agent_ports.values()]]
    config = prometheus_config({"otel-collector-self": own_metrics})
    with (
        GatewaySimulator() as sim,
        TraceSink(tmp_path) as sink,
        start_prometheus(
            config,
            shipped_rule_files(tmp_path, for_="0s"),
            tmp_path,
            extra_args=["--web.enable-remote-write-receiver"],
        ) as prom,
    ):
        gateways, agents = start_fleet(tmp_path, sink, prom, creds, gateway_ports, agent_ports)
        try:
            prom.wait_for('count(up{job="otel-collector-self"} == 1) == 4', timeout=60)
            run_scenario(sim, sink, gateways, agents, prom)
        finally:
            for server in [*agents.values(), *gateways]:
                server.stop()


def check_pipeline_panels(prom: Any) -> None:
    """The dashboard's "Pipeline health" row on the fleet's own metrics: every query evaluates (a query error raises),
    and the panels of a healthy pipeline have data (the failure panels have none while nothing fails)."""
    generate = load_grafana_generate()
    healthy = {"Collectors up", "Exporter queue fill", "Accepted by the Collectors / s"}
    assert healthy <= generate.PIPELINE_PANELS
    for query in dashboard_queries(rate_interval="30s", range_="5m", pipeline=True):
        if query.panel not in generate.PIPELINE_PANELS:
            continue
        if query.panel in healthy:
            assert prom.wait_for(query.expr, timeout=30), f"{query.panel}: no data for {query.expr}"
        else:
            prom.query(query.expr)


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
        check_pipeline_panels(prom)
        host_names = by_labels(
            prom.query("count by (instance, host_name) (holysheep_requests_total)"), "instance", "host_name"
        )
        assert {k for k in host_names} == {("app-a", "host-a"), ("app-b", "host-b")}, host_names

        # fault 1: a gateway is down for more than OUTAGE_S while the apps keep sending; the pipeline alert fires
        down = gateways[0]
        down.stop(timeout=30)
        outage_started = time.monotonic()
        fired = wait_for_alert(prom, "HolySheepCollectorDown", {"instance": down.telemetry_address}, timeout=60)
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - outage_started)))  # the outage lasts OUTAGE_S at least
        tokens = {"a": app_a.finish(), "b": app_b.finish()}

    # fault 2: both agents restart while that gateway is still down; what they hold is in their persistent queues
    queued = {tag: agent.self_metrics().get("otelcol_exporter_queue_size", 0.0) for tag, agent in agents.items()}
    for agent in agents.values():
        agent.restart()
    down.start()
    down.wait_ready(30)
    outage_s = time.monotonic() - outage_started
    wait_for_alert(prom, "HolySheepCollectorDown", {"instance": down.telemetry_address}, firing=False, timeout=60)

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
    accepted = {g.name: g.self_metrics().get("otelcol_receiver_accepted_spans", 0.0) for g in gateways}
    resets = counter_resets(prom, "30m")
    report(
        "fleet",
        outage_s=round(outage_s, 1),
        queued_at_restart=queued,
        attempts_sent=total_sent,
        spans_received=len(spans),
        spans_unique=len(unique),
        spans_lost=total_sent - len(unique),
        all_spans_accepted_by_gateway=accepted,  # GenAI spans and the generic httpx instrumentation's HTTP spans
        collector_down_alert=fired.get("labels", {}).get("instance"),
        counter_series=resets.series,
        counter_resets=resets.total,
    )
    assert len(unique) == total_sent, "spans lost"
    assert len(spans) == total_sent, "spans delivered twice"
    assert Counter(s["resource"]["service.instance.id"] for s in spans) == {
        f"app-{tag}": sum(sent[tag].values()) for tag in HOSTS
    }
    # pushed through either gateway, every counter stayed one monotonic series
    assert resets.series > 0 and resets.total == 0, resets
    # both gateways carried spans (each agent sends to its own here)
    assert all(value > 0 for value in accepted.values()), accepted
