"""The Prometheus side: the target that scrapes the app is up (else the scrape error, with the container hint),
our rule groups are loaded and healthy, the series arrive, and which HolySheep alerts fire now."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..report.errors import ReportError
from ..report.fetch import http_get
from ..report.sources import HttpGet, Labels, PrometheusSource
from .result import Finding, fail, ok, skip, warn
from .symptoms import REQUESTS, GatewayStats, stats_from_prometheus

# The jobs of the shipped prometheus.yml: their targets are ours even before any series arrived.
JOBS: Final = ("holysheep-apps", "otel-collector")
# The groups and rules of prometheus/rules/*.yml (a test keeps this in step with the files).
RULES: Final[Mapping[str, tuple[str, ...]]] = {
    "holysheep-alerts": (
        "HolySheepHighErrorRatio",
        "HolySheepErrorBudgetBurnFast",
        "HolySheepErrorBudgetBurnSlow",
        "HolySheepHighLatencyP95",
        "HolySheepSlowTimeToFirstTokenP95",
        "HolySheepAuthRejected",
        "HolySheepAuthFailures",
        "HolySheepRateLimited",
        "HolySheepRateLimitHeadroomLow",
        "HolySheepCallsStopped",
        "HolySheepSpendAboveBudget",
        "HolySheepTeamSpendAboveBudget",
        "HolySheepTruncatedCompletionsHigh",
        "HolySheepMetricsAbsent",
        "HolySheepScrapeTargetDown",
    ),
    "holysheep-recording": (
        "model:holysheep_requests:rate5m",
        "model_status:holysheep_requests:rate5m",
        "model:holysheep_errors:rate5m",
        "model:holysheep_gateway_errors:rate5m",
        "model:holysheep_slo_requests:rate5m",
        "model:holysheep_error_ratio:rate5m",
        "model:holysheep_gateway_errors:rate30m",
        "model:holysheep_slo_requests:rate30m",
        "model:holysheep_error_ratio:rate30m",
        "model:holysheep_gateway_errors:rate1h",
        "model:holysheep_slo_requests:rate1h",
        "model:holysheep_error_ratio:rate1h",
        "model:holysheep_gateway_errors:rate6h",
        "model:holysheep_slo_requests:rate6h",
        "model:holysheep_error_ratio:rate6h",
        "job_instance:holysheep_last_call:timestamp_seconds",
        "holysheep:calls_stopped_after:seconds",
        "model_token_type:holysheep_tokens:rate5m",
        "model:holysheep_cost_usd_per_hour:rate5m",
        "team:holysheep_cost_usd:increase5m",
        "model:holysheep_finishes:rate5m",
        "model:holysheep_truncation_ratio:rate5m",
        "model:holysheep_finishes:rate30m",
        "model:holysheep_truncation_ratio:rate30m",
        "model:holysheep_request_duration_seconds:p50_rate5m",
        "model:holysheep_request_duration_seconds:p95_rate5m",
        "model:holysheep_request_duration_seconds:p99_rate5m",
        "model:holysheep_time_to_first_token_seconds:p95_rate5m",
        "model:holysheep_time_to_headers_seconds:p95_rate5m",  # empty without the detail histograms: loaded is enough
    ),
    "holysheep-pipeline": (
        "HolySheepCollectorDown",
        "HolySheepCollectorQueueNearlyFull",
        "HolySheepCollectorDroppingData",
        "HolySheepCollectorSendFailures",
        "HolySheepCollectorRefusingData",
    ),
}
ALERT_PREFIX: Final = "HolySheep"
MAX_LISTED: Final = 5  # targets up in one job named one by one; more are counted
_LOCAL_HOSTS: Final = ("localhost", "127.0.0.1", "::1", "[::1]")
_CONTAINER_HINT: Final = (
    "if Prometheus runs in a container, localhost is that container itself: scrape host.docker.internal:{port} "
    '(on Linux add extra_hosts: ["host.docker.internal:host-gateway"] to the Prometheus service) or the app\'s '
    "service name on a shared Docker network, and start the app with OTEL_EXPORTER_PROMETHEUS_HOST=0.0.0.0"
)


@dataclass(frozen=True)
class PrometheusResult:
    findings: list[Finding]
    stats: GatewayStats | None  # per-model counts over the window, when our series are there


class PrometheusApi:
    """The few read-only endpoints the doctor reads, through the report's Prometheus client."""

    def __init__(self, url: str, *, window: str, selector: str | None, timeout: float, get: HttpGet) -> None:
        self.source = PrometheusSource(url, window=window, selector=selector, timeout=timeout, get=get)
        self.url = self.source.url
        self.timeout = timeout
        self._get = get

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        answer = self._get(
            self.url + path, what="Prometheus", timeout=self.timeout, accept="application/json", params=params
        )
        payload = answer.json()
        if not 200 <= answer.status < 300 or not isinstance(payload, dict) or payload.get("status") != "success":
            raise ReportError(
                f"{self.url}{path} answered HTTP {answer.status} {answer.reason}, not a Prometheus API answer: "
                "is this the Prometheus server's base URL?"
            )
        return payload.get("data")

    def query(self, promql: str) -> list[tuple[Labels, float]]:
        return self.source.query(promql, time.time())


def check_prometheus(
    url: str,
    *,
    metrics_url: str | None,
    window: str,
    selector: str | None,
    timeout: float,
    get: HttpGet = http_get,
) -> PrometheusResult:
    try:
        api = PrometheusApi(url, window=window, selector=selector, timeout=timeout, get=get)
        info = api.get("/api/v1/status/buildinfo")
        targets = api.get("/api/v1/targets", {"state": "active"})["activeTargets"]
        groups = api.get("/api/v1/rules")["groups"]
        alerts = api.get("/api/v1/alerts")["alerts"]
        with_series = api.query(_series_query(REQUESTS, api.source.selector))
    except (ReportError, KeyError, TypeError) as error:
        message = error.message if isinstance(error, ReportError) else f"{url} answered an unexpected shape ({error})"
        return PrometheusResult(
            [
                fail(
                    "prometheus.reachable",
                    message,
                    "pass the Prometheus server's base URL (e.g. --prometheus http://localhost:9090) and check it runs",
                )
            ],
            None,
        )
    version = info.get("version", "?") if isinstance(info, dict) else "?"
    findings = [ok("prometheus.reachable", f"Prometheus {version} at {api.url}")]
    instances = {(labels.get("job", ""), labels.get("instance", "")) for labels, _ in with_series}
    findings += _targets(targets, instances, metrics_url)
    findings += _rules(groups)
    findings.append(_series(with_series, targets, instances, metrics_url, api.source.selector))
    findings += _alerts(alerts)
    stats = None
    if with_series:
        try:
            stats = stats_from_prometheus(api.query, api.source.window, api.source.selector)
        except ReportError as error:
            findings.append(warn("prometheus.query", error.message, "run otel-holysheep doctor again"))
    return PrometheusResult(findings, stats)


def _series_query(name: str, selector: str) -> str:
    return f"count by (job, instance) ({name}{{{selector}}})" if selector else f"count by (job, instance) ({name})"


def _port_of(url: str) -> int | None:
    parts = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
    try:
        return parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None


def _relevant(
    targets: list[dict[str, Any]], instances: set[tuple[str, str]], metrics_url: str | None
) -> list[dict[str, Any]]:
    """With --metrics: the targets on that port. Else: the shipped jobs' targets and those that have our series."""
    if metrics_url is not None:
        port = _port_of(metrics_url)
        return [t for t in targets if _port_of(str(t.get("scrapeUrl", ""))) == port]
    jobs = set(JOBS) | {job for job, _ in instances}
    return [t for t in targets if t.get("labels", {}).get("job") in jobs]


def _targets(targets: list[dict[str, Any]], instances: set[tuple[str, str]], metrics_url: str | None) -> list[Finding]:
    relevant = _relevant(targets, instances, metrics_url)
    if not relevant:
        if metrics_url is not None:
            port = _port_of(metrics_url)
            what = f"no Prometheus target scrapes port {port} (the app's --metrics {metrics_url})"
            fix = (
                f'add the app to a scrape job in prometheus.yml (static_configs: targets: ["<app host>:{port}"], '
                "as in the shipped holysheep-apps job) and reload Prometheus"
            )
        else:
            what = f"Prometheus has no {' / '.join(JOBS)} job and no target with holysheep_* series"
            fix = "add the holysheep-apps job of the shipped prometheus.yml (targets: your apps' host:9464) and reload"
        return [fail("prometheus.target", what, fix)]
    up: dict[str, list[str]] = {}
    findings = []
    for target in relevant:
        if target.get("health") == "up":
            up.setdefault(str(target.get("labels", {}).get("job", "?")), []).append(str(target.get("scrapeUrl", "?")))
        else:
            findings.append(_target(target))
    for job, urls in sorted(up.items()):
        shown = ", ".join(sorted(urls)) if len(urls) <= MAX_LISTED else f"{len(urls)} targets"
        findings.insert(0, ok("prometheus.target", f"Prometheus scrapes {shown} (job {job}): up"))
    return findings


def _target(target: Mapping[str, Any]) -> Finding:
    """The line for a target that is not up."""
    labels = target.get("labels", {})
    scrape_url = str(target.get("scrapeUrl", "?"))
    name = f"{scrape_url} (job {labels.get('job', '?')})"
    if target.get("health") != "down":
        return warn(
            "prometheus.target",
            f"{name} has not been scraped yet",
            "wait one scrape interval and run otel-holysheep doctor again",
        )
    error = str(target.get("lastError") or "no error reported")
    return fail("prometheus.target", f"Prometheus cannot scrape {name}: {error}", scrape_error_fix(scrape_url, error))


def scrape_error_fix(scrape_url: str, error: str) -> str:
    """What to do about a target Prometheus reports down with ``error`` (its lastError text)."""
    parts = urllib.parse.urlsplit(scrape_url)
    host, port = parts.hostname or "?", _port_of(scrape_url)
    lowered = error.lower()
    if "connection refused" in lowered:
        start = (
            f"start the app (under opentelemetry-instrument, OTEL_METRICS_EXPORTER=prometheus) and check it listens on "
            f"port {port} (OTEL_EXPORTER_PROMETHEUS_PORT, default 9464)"
        )
        if host in _LOCAL_HOSTS:
            return f"{start}; {_CONTAINER_HINT.format(port=port)}"
        return f"{start}; an app in a container must listen on 0.0.0.0 (OTEL_EXPORTER_PROMETHEUS_HOST=0.0.0.0)"
    if "no such host" in lowered or "lookup" in lowered or "server misbehaving" in lowered:
        return (
            f"Prometheus cannot resolve {host}: host.docker.internal exists by default only on Docker Desktop; on "
            'Linux add extra_hosts: ["host.docker.internal:host-gateway"], or use the service name on a shared network'
        )
    if "deadline exceeded" in lowered or "timeout" in lowered:
        return (
            f"nothing answers at {host}:{port} in time: a firewall, or an app that listens on 127.0.0.1 inside its "
            "container (set OTEL_EXPORTER_PROMETHEUS_HOST=0.0.0.0 and publish the port)"
        )
    if "404" in lowered:
        return "set metrics_path: /metrics in the scrape job (the OpenTelemetry Prometheus exporter serves /metrics)"
    return f"fix what the error says, then check: curl {scrape_url} | grep holysheep"


def _rules(groups: list[dict[str, Any]]) -> list[Finding]:
    loaded = {str(group.get("name")): group for group in groups}
    missing = []
    for group_name, rule_names in RULES.items():
        present = {str(rule.get("name")) for rule in loaded.get(group_name, {}).get("rules", [])}
        if group_name not in loaded:
            missing.append(f"group {group_name}")
        else:
            missing += [f"{name} ({group_name})" for name in rule_names if name not in present]
    findings = []
    if missing:
        findings.append(
            fail(
                "prometheus.rules",
                f"otel-holysheep rules not loaded: {', '.join(missing)}",
                "add prometheus/rules/*.yml (both files) to rule_files in prometheus.yml, copy them next to it, and "
                "reload Prometheus (check with: promtool check rules prometheus/rules/*.yml)",
            )
        )
    else:
        count = sum(len(names) for names in RULES.values())
        findings.append(ok("prometheus.rules", f"{count} otel-holysheep rules loaded ({', '.join(RULES)})"))
    ours = [
        (group_name, rule)
        for group_name, group in loaded.items()
        if group_name.startswith("holysheep")
        for rule in group.get("rules", [])
    ]
    broken = [(g, r) for g, r in ours if r.get("health") == "err"]
    if broken:
        for group_name, rule in broken:
            findings.append(
                fail(
                    "prometheus.rule_health",
                    f"rule {rule.get('name')} ({group_name}) fails to evaluate: {rule.get('lastError') or '?'}",
                    f"fix its expr in the rule file (compare with the shipped prometheus/rules/{group_name}.yml) and "
                    "reload Prometheus",
                )
            )
    elif ours:
        pending = sum(1 for _, rule in ours if rule.get("health") != "ok")
        note = f" ({pending} not evaluated yet)" if pending else ""
        findings.append(ok("prometheus.rule_health", f"{len(ours)} rules in holysheep* groups evaluate{note}"))
    return findings


def _series(
    with_series: list[tuple[Labels, float]],
    targets: list[dict[str, Any]],
    instances: set[tuple[str, str]],
    metrics_url: str | None,
    selector: str,
) -> Finding:
    narrowed = f" matching {{{selector}}}" if selector else ""
    if not with_series:
        return fail(
            "prometheus.series",
            f"no {REQUESTS} series{narrowed} in Prometheus now",
            "fix the prometheus.target lines first; if the targets are up, the apps have not called a configured "
            "base URL yet or run without otel-holysheep (see the app.* and install.* lines)",
        )
    silent = [
        t
        for t in _relevant(targets, instances, metrics_url)
        if t.get("health") == "up"
        and (t.get("labels", {}).get("job", ""), t.get("labels", {}).get("instance", "")) not in instances
    ]
    listing = ", ".join(sorted(f"{job}/{instance}" for job, instance in instances))
    if silent and not selector:
        names = ", ".join(str(t.get("scrapeUrl")) for t in silent)
        return warn(
            "prometheus.series",
            f"{REQUESTS} arrives from {listing}, but not from {names} (up, scraped, without otel-holysheep series)",
            "run those apps under opentelemetry-instrument with otel-holysheep enabled, and check they call a "
            "configured base URL (otel-holysheep doctor --metrics <their /metrics URL>)",
        )
    return ok("prometheus.series", f"{REQUESTS} arrives from {listing}{narrowed}")


def _alerts(alerts: list[dict[str, Any]]) -> list[Finding]:
    ours = [a for a in alerts if str(a.get("labels", {}).get("alertname", "")).startswith(ALERT_PREFIX)]
    firing = [a for a in ours if a.get("state") == "firing"]
    pending = len(ours) - len(firing)
    if not firing:
        note = f" ({pending} pending)" if pending else ""
        return [ok("prometheus.alerts", f"no HolySheep alert is firing{note}")]
    findings = []
    for alert in sorted(firing, key=lambda a: (str(a["labels"].get("alertname")), json.dumps(a["labels"]))):
        labels, annotations = alert.get("labels", {}), alert.get("annotations", {})
        where = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("alertname", "severity"))
        summary = annotations.get("summary") or labels.get("alertname")
        message = f"alert {labels.get('alertname')} firing ({where or 'all'}): {summary}"
        fix = " ".join(str(annotations.get("description") or "see the alert's description").split())
        if annotations.get("runbook_url"):
            fix += f" Runbook: {annotations['runbook_url']}"
        severe = labels.get("severity") == "page"
        findings.append((fail if severe else warn)("prometheus.alerts", message, fix))
    return findings


def skipped() -> list[Finding]:
    return [skip("prometheus", "not checked: pass --prometheus URL (the Prometheus server's base URL)")]
