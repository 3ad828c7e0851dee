"""A gateway pool that changes while the apps keep sending: no double series, no counter reset.

Two apps, each with an agent (collector/otel-collector-agent.yaml) load-balancing its metrics over the gateway pool
(collector/otel-collector-gateway.yaml: TLS, a bearer token, remote write into Prometheus). The pool changes twice
while the apps send, as a rolling update does: {gateway-1} -> {gateway-1, gateway-2} (scaled out: streams move to
the new gateway) -> {gateway-2} (gateway-1 out of the pool but still running, as while a DNS change spreads or an
old pod drains: every stream moves). Each change restarts the agents onto the new list (the static resolver; a DNS
or Kubernetes resolver changes its list without a restart).

With the gateways scraped (the design before), the retired gateway kept exposing each moved stream's last values
until metric_expiration while the new one exposed the current ones: two writers of one series, every switch between
them a counter reset to rate(). Pushed samples carry the apps' own timestamps and values, so whichever gateway
forwards them the series stays one monotonic counter: resets() is 0 for every holysheep counter over the whole run,
and the totals equal what the apps counted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector_checks import by_labels, counter_resets, report, wait_for_totals
from engines import prometheus_config, require_binary, shipped_rule_files, start_prometheus
from instrumented_apps import otlp_env, traffic_app
from otel_holysheep.simulator import GatewaySimulator
from otelcol import (
    AGENT,
    GATEWAY,
    CollectorServer,
    Ports,
    TraceSink,
    make_credentials,
    merge,
    start_collector,
    static_ring,
)
from traffic import attempts

pytestmark = [pytest.mark.engines, pytest.mark.collector, pytest.mark.slow]

TAGS = ("a", "b")


def move_agent(agent: CollectorServer, gateways: list[CollectorServer]) -> None:
    """Restart ``agent`` onto a new pool: the ring, and its spans to the first gateway of the pool."""
    override = agent.configs[-1]
    config = merge(yaml.safe_load(override.read_text()), static_ring(gateways))
    override.write_text(yaml.safe_dump(config, sort_keys=False))
    agent.env["OTEL_GATEWAY_PORT"] = str(gateways[0].ports.grpc)
    agent.restart()


def wait_both_sending(prom: Any, since: dict[tuple[str, ...], float], timeout: float = 60) -> None:
    """Wait until each app's request total grew past ``since`` (its data flows through the current pool)."""
    prom.wait_for(
        "sum by (instance) (holysheep_requests_total)",
        lambda r: all(by_labels(r, "instance").get(k, 0.0) > v for k, v in since.items()),
        timeout=timeout,
    )


def test_a_gateway_pool_change_leaves_every_counter_without_a_reset(tmp_path: Path) -> None:
    require_binary("otelcol-holysheep")
    require_binary("prometheus")
    creds = make_credentials(tmp_path)
    with (
        GatewaySimulator() as sim,
        TraceSink(tmp_path) as sink,
        start_prometheus(
            prometheus_config({}),
            shipped_rule_files(tmp_path),
            tmp_path,
            extra_args=["--web.enable-remote-write-receiver"],
        ) as prom,
    ):
        gateway_env = {**sink.env, **creds.server_env(), "PROMETHEUS_REMOTE_WRITE_URL": f"{prom.url}/api/v1/write"}
        servers: list[CollectorServer] = []
        try:
            for i in (1, 2):
                servers.append(start_collector(GATEWAY, tmp_path, name=f"gateway-{i}", env=gateway_env, ports=Ports()))
            g1, g2 = servers
            agent_env = {"OTEL_GATEWAY_HOSTNAME": "127.0.0.1", "OTEL_GATEWAY_PORT": str(g1.ports.grpc)}
            agents = {
                tag: start_collector(
                    AGENT,
                    tmp_path,
                    name=f"agent-{tag}",
                    extra=static_ring([g1]),
                    env={**agent_env, **creds.agent_env()},
                )
                for tag in TAGS
            }
            servers += agents.values()
            envs = {
                tag: otlp_env(
                    sim.base_url,
                    agents[tag].otlp_http_url,
                    service="ring-app",
                    tag=tag,
                    resource={"service.instance.id": f"app-{tag}", "host.name": f"host-{tag}"},
                )
                for tag in TAGS
            }
            started = time.time()
            with traffic_app(envs["a"]) as app_a, traffic_app(envs["b"]) as app_b:
                wait_both_sending(prom, {("app-a",): 0.0, ("app-b",): 0.0})
                accepted_1 = g1.self_metrics().get("otelcol_receiver_accepted_metric_points", 0.0)
                for pool in ([g1, g2], [g2]):
                    for agent in agents.values():
                        move_agent(agent, pool)
                    before = by_labels(prom.query("sum by (instance) (holysheep_requests_total)"), "instance")
                    wait_both_sending(prom, before)
                accepted_2 = g2.self_metrics().get("otelcol_receiver_accepted_metric_points", 0.0)
                tokens = {"a": app_a.finish(), "b": app_b.finish()}
            for tag in TAGS:
                wait_for_totals(prom, f'{{instance="app-{tag}"}}', attempts(sim.requests, tag), tokens[tag], 120)
            window = f"{int(time.time() - started) + 60}s"
            resets = counter_resets(prom, window)
        finally:
            for server in servers:
                server.stop()
    report(
        "ring change",
        window=window,
        gateway_1_points=accepted_1,
        gateway_2_points=accepted_2,
        counter_series=resets.series,
        counter_resets=resets.total,
    )
    assert accepted_1 > 0 and accepted_2 > 0, "both gateways carried metrics"
    assert resets.series > 0
    assert resets.total == 0, resets.where
