"""The OpenTelemetry Collector: its health_check extension answers, and its own metrics show what it received and
whether it refused data or failed to export it (totals since the Collector started)."""

from __future__ import annotations

import re
import urllib.parse
from collections import defaultdict
from typing import Final

from ..report.errors import ReportError
from ..report.fetch import http_get, normalize_url
from ..report.sources import HttpGet, MetricsEndpointSource
from .result import Finding, fail, ok, warn
from .symptoms import Sample

HEALTH_PORT: Final = 13133  # the health_check extension's default
TELEMETRY_PORT: Final = 8888  # service.telemetry.metrics' conventional Prometheus pull port
# receiver refused / failed, exporter send / enqueue failed, per signal; the exporter may add a _total suffix
_LOSS: Final = re.compile(
    r"^otelcol_(receiver_(?:refused|failed)|exporter_(?:send_failed|enqueue_failed))_"
    r"(metric_points|spans|log_records)(?:_total)?$"
)
_ACCEPTED: Final = re.compile(r"^otelcol_receiver_accepted_metric_points(?:_total)?$")
_REFUSED: Final = re.compile(r"^otelcol_receiver_(?:refused|failed)_metric_points(?:_total)?$")


def health_url(url: str) -> str:
    """``--collector`` with the health_check default port when none is given."""
    parts = urllib.parse.urlsplit(normalize_url(url))
    netloc = parts.netloc if parts.port else f"{parts.hostname}:{HEALTH_PORT}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def telemetry_url(url: str) -> str:
    """The Collector's own metrics next to ``--collector``: same host, port 8888, /metrics."""
    parts = urllib.parse.urlsplit(normalize_url(url))
    return f"{parts.scheme}://{parts.hostname}:{TELEMETRY_PORT}/metrics"


def check_collector(url: str, metrics_url: str | None, *, timeout: float, get: HttpGet = http_get) -> list[Finding]:
    return [_health(health_url(url), timeout, get), *_telemetry(metrics_url or telemetry_url(url), timeout, get)]


def _health(url: str, timeout: float, get: HttpGet) -> Finding:
    fix = (
        "start the Collector with the health_check extension (extensions: health_check: endpoint: "
        f"0.0.0.0:{HEALTH_PORT}; service: extensions: [health_check], as in collector/otel-collector.yaml) and check "
        "its log"
    )
    try:
        answer = get(url, what="the Collector's health_check endpoint", timeout=timeout, accept="application/json")
    except ReportError as error:
        return fail("collector.health", error.message, fix)
    if answer.status != 200:
        detail = " ".join(answer.text.split())[:200]
        return fail("collector.health", f"{url} answered HTTP {answer.status} {answer.reason}: {detail}", fix)
    return ok("collector.health", f"the Collector is healthy ({url} answered 200)")


def _telemetry(url: str, timeout: float, get: HttpGet) -> list[Finding]:
    try:
        samples = MetricsEndpointSource(url, timeout=timeout, get=get).samples()
    except ReportError as error:
        return [
            warn(
                "collector.telemetry",
                f"cannot read the Collector's own metrics: {error.message}",
                f"expose them (service: telemetry: metrics: readers: - pull: exporter: prometheus: host: 0.0.0.0, "
                f"port: {TELEMETRY_PORT}) or pass --collector-metrics URL",
            )
        ]
    if not any(name.startswith("otelcol_") for name, _, _ in samples):
        return [
            warn(
                "collector.telemetry",
                f"{url} serves no otelcol_* metrics: not the Collector's own telemetry endpoint",
                f"pass --collector-metrics with the Collector's telemetry URL (port {TELEMETRY_PORT} by default)",
            )
        ]
    return [_received(samples), *_losses(samples)]


def _received(samples: list[Sample]) -> Finding:
    accepted = sum(value for name, _, value in samples if _ACCEPTED.match(name))
    refused = sum(value for name, _, value in samples if _REFUSED.match(name))
    if accepted + refused > 0:
        return ok(
            "collector.received",
            f"the Collector received {accepted + refused:,.0f} metric points since it started ({accepted:,.0f} "
            "accepted)",
        )
    return warn(
        "collector.received",
        "the Collector has received no metric points since it started",
        "point the apps at it: OTEL_METRICS_EXPORTER=otlp, OTEL_EXPORTER_OTLP_ENDPOINT=http://<collector>:4318, "
        "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf, and check its otlp receiver's endpoints",
    )


def _losses(samples: list[Sample]) -> list[Finding]:
    refused: dict[str, float] = defaultdict(float)
    failed: dict[str, float] = defaultdict(float)
    for name, labels, value in samples:
        match = _LOSS.match(name)
        if match is None or value <= 0:
            continue
        kind, signal = match.groups()
        if kind.startswith("receiver"):
            refused[f"receiver {labels.get('receiver', '?')} {kind.split('_', 1)[1]} {signal}"] += value
        else:
            failed[f"exporter {labels.get('exporter', '?')} {kind.split('_', 1)[1].replace('_', ' ')} {signal}"] += (
                value
            )
    findings = []
    if refused:
        findings.append(
            fail(
                "collector.refused",
                f"data refused since the Collector started: {_listing(refused)}",
                "the pipeline behind the receiver failed (see collector.exports) or memory_limiter refused it: fix the "
                "exporter, or raise memory_limiter's limit_percentage / the Collector's memory",
            )
        )
    else:
        findings.append(ok("collector.refused", "no data refused by a receiver"))
    if failed:
        findings.append(
            fail(
                "collector.exports",
                f"exports failed since the Collector started: {_listing(failed)}",
                "check each failing exporter's endpoint in the Collector config, that its backend is up and reachable "
                "from the Collector, and the Collector log for the error",
            )
        )
    else:
        findings.append(ok("collector.exports", "no failed exports"))
    return findings


def _listing(values: dict[str, float]) -> str:
    return ", ".join(f"{what} {value:,.0f}" for what, value in sorted(values.items()))
