"""The shipped Collectors as an attacker on the network meets them: TLS and a bearer token on every port that takes
data from other hosts (collector/tls-receivers.yaml over the single Collector; built into the gateways), with a CA
and certificates this test makes.

- No token, or a wrong one: HTTP 401, and nothing of what was sent appears in the Collector's exposition.
- The token: accepted; a real app (the OpenTelemetry SDK, https with the CA, the token in OTEL_EXPORTER_OTLP_HEADERS)
  arrives exactly.
- Plain text to a TLS port: the client gets no answer it could take for success. An agent configured for plain text
  with the token refuses to start (the token never crosses in clear); without the token it logs every failed export
  at error level (it does not fail silently) while the gateway accepts nothing."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from collector_checks import report, wait_for_totals
from engines import EngineError, prometheus_config, require_binary, start_prometheus
from instrumented_apps import otlp_env, traffic_app
from otel_holysheep.simulator import GatewaySimulator
from otelcol import (
    AGENT,
    GATEWAY,
    SINGLE,
    TLS_RECEIVERS,
    TraceSink,
    make_credentials,
    merge,
    start_collector,
    static_ring,
)
from traffic import attempts

pytestmark = [pytest.mark.engines, pytest.mark.collector, pytest.mark.slow]


def otlp_metrics(service: str, value: int) -> bytes:
    """One OTLP/JSON export: holysheep.requests = value for gpt-4.1, from resource service.name=service."""
    point = {
        "asInt": str(value),
        "startTimeUnixNano": str(time.time_ns() - 10**9),
        "timeUnixNano": str(time.time_ns()),
        "attributes": [{"key": "model", "value": {"stringValue": "gpt-4.1"}}],
    }
    metric = {
        "name": "holysheep.requests",
        "unit": "{request}",
        "sum": {"aggregationTemporality": 2, "isMonotonic": True, "dataPoints": [point]},
    }
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    body = {
        "resourceMetrics": [{"resource": resource, "scopeMetrics": [{"scope": {"name": "t"}, "metrics": [metric]}]}]
    }
    return json.dumps(body).encode()


def push(url: str, body: bytes, *, ca: Path | None, token: str | None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    context = ssl.create_default_context(cafile=str(ca)) if ca else None
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        try:
            body = err.read().decode(errors="replace")
        except OSError as reset:  # Go answers plain text on a TLS port with a 400 and resets at once
            body = repr(reset)
        return err.code, body
    except (urllib.error.URLError, OSError) as err:  # no HTTP answer at all (reset, handshake failure)
        return 0, repr(err)


def test_only_a_client_with_the_token_can_write_and_a_real_app_arrives_over_tls(tmp_path: Path) -> None:
    require_binary("otelcol-holysheep")
    require_binary("prometheus")
    creds = make_credentials(tmp_path)
    with (
        GatewaySimulator() as sim,
        TraceSink(tmp_path) as sink,
        start_collector(
            SINGLE, tmp_path, overlays=[TLS_RECEIVERS], env={**sink.env, **creds.server_env()}
        ) as collector,
        start_prometheus(prometheus_config({"otel-collector": [collector.prometheus_address]}), [], tmp_path) as prom,
    ):
        https = f"https://127.0.0.1:{collector.ports.http}"
        url = f"{https}/v1/metrics"
        refused = {
            "no token": push(url, otlp_metrics("intruder", 1000), ca=creds.ca, token=None),
            "wrong token": push(url, otlp_metrics("intruder", 1000), ca=creds.ca, token="not-" + creds.token),
        }
        plain = push(f"http://127.0.0.1:{collector.ports.http}/v1/metrics", otlp_metrics("intruder", 1), ca=None,
                     token=creds.token)  # fmt: skip
        accepted = push(url, otlp_metrics("trusted", 7), ca=creds.ca, token=creds.token)
        for what, (status, body) in refused.items():
            assert status == 401, (what, status, body)
        assert plain[0] in (0, 400), plain  # reset, or Go's "client sent an HTTP request to an HTTPS server"
        assert accepted[0] == 200, accepted

        # the real SDK: https with the CA, the token in its headers
        env = otlp_env(sim.base_url, https, service="tls-app", tag="tls", extra=creds.app_env())
        # requests prefers these over the session's CA (the SDK's OTEL_EXPORTER_OTLP_CERTIFICATE): see
        # collector/README.md, "The apps' side"
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            env.pop(name, None)
        with traffic_app(env) as app:
            prom.wait_for('sum(holysheep_requests_total{job="tls-app"}) > 0', timeout=60)
            tokens = app.finish()
        wait_for_totals(prom, '{job="tls-app"}', attempts(sim.requests, "tls"), tokens)
        exposition = collector.exposition()
    assert 'job="trusted"' in exposition
    assert "intruder" not in exposition, "a refused push left series"
    report("tls + token", refused={k: v[0] for k, v in refused.items()}, plain_text=plain[0], accepted=accepted[0])


def plain_text_agent(with_token: bool) -> dict[str, object]:
    """An agent override: both exporters in plain text (insecure alone is not enough: with a CA file set, the
    Collector still speaks TLS), with or without the bearer token."""
    hop: dict[str, object] = {"tls": {"insecure": True, "ca_file": "", "server_name_override": ""}}
    if not with_token:
        hop["auth"] = None
    return {"exporters": {"otlp_grpc/traces": dict(hop), "load_balancing": {"protocol": {"otlp": dict(hop)}}}}


def test_an_agent_in_plain_text_with_the_token_refuses_to_start(tmp_path: Path) -> None:
    """The token never crosses the network in clear: a misconfigured agent stops at start-up, and says why."""
    require_binary("otelcol-holysheep")
    creds = make_credentials(tmp_path)
    env = {"OTEL_GATEWAY_HOSTNAME": "127.0.0.1", "OTEL_GATEWAY_PORT": "4317", **creds.agent_env()}
    with pytest.raises(EngineError) as failed:
        start_collector(AGENT, tmp_path, name="agent", extra=plain_text_agent(with_token=True), env=env).stop()
    assert "credentials require transport level security" in str(failed.value), str(failed.value)[-2000:]


def test_an_agent_speaking_plain_text_to_a_tls_gateway_logs_its_failures_and_delivers_nothing(tmp_path: Path) -> None:
    require_binary("otelcol-holysheep")
    creds = make_credentials(tmp_path)
    extra = plain_text_agent(with_token=False)
    with GatewaySimulator() as sim, TraceSink(tmp_path) as sink:
        env = {**sink.env, **creds.server_env(), "PROMETHEUS_REMOTE_WRITE_URL": "http://127.0.0.1:9/api/v1/write"}
        with start_collector(GATEWAY, tmp_path, name="gateway", env=env) as gateway:
            merge(extra, static_ring([gateway]))
            agent_env = {"OTEL_GATEWAY_HOSTNAME": "127.0.0.1", "OTEL_GATEWAY_PORT": str(gateway.ports.grpc)}
            with start_collector(
                AGENT, tmp_path, name="agent", extra=extra, env={**agent_env, **creds.agent_env()}
            ) as agent:
                app_env = otlp_env(sim.base_url, agent.otlp_http_url, service="plain-app", tag="plain")
                with traffic_app(app_env) as app:
                    deadline = time.monotonic() + 60
                    failed: list[str] = []
                    while not failed and time.monotonic() < deadline:
                        failed = [
                            line
                            for line in agent.log_path.read_text().splitlines()
                            if "\terror\t" in line and "Exporting failed" in line and "Unavailable" in line
                        ]
                        time.sleep(0.5)
                    app.finish()
                accepted = {
                    k: v for k, v in gateway.self_metrics().items() if k.startswith("otelcol_receiver_accepted_")
                }
    assert failed, "the agent logged no failed export"
    assert not any(accepted.values()), accepted
    report("plain text to tls", first_error=failed[0][:300])
