"""The app side: its /metrics page answers, serves otel-holysheep's series, how many per model, and whether
``holysheep_active_requests`` is stuck (read twice, ``interval`` seconds apart)."""

from __future__ import annotations

import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from .._config import ENV_BASE_URLS, ENV_DETAIL_HISTOGRAMS, ENV_GENAI_METRICS, ENV_MAX_MODELS
from .._series import DETAIL_SERIES
from ..report.errors import ReportError
from ..report.fetch import http_get, normalize_url
from ..report.sources import HttpGet, MetricsEndpointSource
from .result import Finding, fail, ok, skip, warn
from .symptoms import REQUESTS, Sample

ACTIVE: Final = "holysheep_active_requests"
OTHER_MODEL: Final = "other"  # the label the model cap gives every model past OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS
PROMETHEUS_PORT: Final = "OTEL_EXPORTER_PROMETHEUS_PORT"
PROMETHEUS_HOST: Final = "OTEL_EXPORTER_PROMETHEUS_HOST"
DEFAULT_EXPORTER_PORT: Final = 9464
PROMETHEUS_SERVER_PORT: Final = 9090


@dataclass(frozen=True)
class AppResult:
    findings: list[Finding]
    samples: list[Sample] | None  # the last scrape, when it had our series (for the gateway symptoms)


def check_app(
    url: str,
    env: Mapping[str, str],
    *,
    interval: float,
    timeout: float,
    max_series_per_model: int,
    base_urls: str,
    get: HttpGet = http_get,
    sleep: Callable[[float], None] = time.sleep,
) -> AppResult:
    try:
        source = MetricsEndpointSource(url, timeout=timeout, get=get)
        first = source.samples()
    except ReportError as error:
        return AppResult([fail("app.reachable", error.message, _unreachable_fix(url, env))], None)
    findings = [ok("app.reachable", f"{source.url} answers with {len(first):,} samples")]
    ours = [sample for sample in first if sample[0].startswith("holysheep_")]
    if not ours:
        findings.append(_no_series(source.url, first, base_urls))
        return AppResult(findings, None)
    requests = sum(value for name, _, value in ours if name == REQUESTS)
    findings.append(ok("app.series", f"{len({_key(s) for s in ours}):,} holysheep_* series, {requests:,.0f} requests"))
    findings.append(_series_budget(first, max_series_per_model))
    if interval <= 0:
        findings.append(skip("app.active_requests", "not checked: --interval 0"))
        return AppResult(findings, first)
    sleep(interval)
    try:
        second = source.samples()
    except ReportError as error:
        findings.append(
            warn("app.active_requests", f"second read failed: {error.message}", "run otel-holysheep doctor again")
        )
        return AppResult(findings, first)
    findings.append(_active_requests(first, second, interval))
    return AppResult(findings, second)


def _key(sample: Sample) -> tuple[str, tuple[tuple[str, str], ...]]:
    return sample[0], tuple(sorted(sample[1].items()))


def _unreachable_fix(url: str, env: Mapping[str, str]) -> str:
    port = urllib.parse.urlsplit(normalize_url(url)).port
    configured = env.get(PROMETHEUS_PORT, "").strip() or str(DEFAULT_EXPORTER_PORT)
    source = "is" if env.get(PROMETHEUS_PORT, "").strip() else "defaults to"
    host = env.get(PROMETHEUS_HOST, "").strip() or "localhost"
    fix = (
        "start the app first, under opentelemetry-instrument with OTEL_METRICS_EXPORTER=prometheus (see the "
        f"install.exporter.* lines: a missing exporter stops start-up); it serves http://{host}:{configured}/metrics "
        f"({PROMETHEUS_HOST}:{PROMETHEUS_PORT})"
    )
    if port is not None and str(port) != configured:
        fix += f"; you asked port {port} but {PROMETHEUS_PORT} {source} {configured}"
    if port == PROMETHEUS_SERVER_PORT:
        fix += (
            f"; {PROMETHEUS_SERVER_PORT} is the Prometheus server's own port: give the app's metrics their own "
            f"(the exporter's default is {DEFAULT_EXPORTER_PORT})"
        )
    return fix


def _no_series(url: str, samples: list[Sample], base_urls: str) -> Finding:
    names = {name for name, _, _ in samples}
    if any(name.startswith("prometheus_") for name in names):
        what = "a Prometheus server's own metrics, not the app's"
        fix = (
            f"point --metrics at the app's exporter (OTEL_EXPORTER_PROMETHEUS_PORT, default {DEFAULT_EXPORTER_PORT}); "
            f"do not give the app port {PROMETHEUS_SERVER_PORT}, which Prometheus itself uses"
        )
    elif any(name.startswith("otelcol_") for name in names):
        what = "an OpenTelemetry Collector's own telemetry (:8888), not the apps' metrics"
        fix = "point --metrics at the Collector's prometheus exporter (:8889 in collector/otel-collector.yaml)"
    else:
        exporter = " from the OpenTelemetry Prometheus exporter" if "target_info" in names else ""
        what = f"{len(names)} metric names{exporter}, none from otel-holysheep"
        fix = (
            f"set {ENV_BASE_URLS} to the base URL the app really calls (now {base_urls}; check it with --app-url URL), "
            "and make sure otel-holysheep is installed and enabled in the app's environment (install.* lines); the "
            "series appear after the first request"
        )
    return fail("app.series", f"{url} serves {what}", fix)


def _series_budget(samples: list[Sample], max_series_per_model: int) -> Finding:
    per_model: dict[str, int] = defaultdict(int)
    genai = detail = 0
    for name, labels, _ in samples:
        if name.startswith("holysheep_"):
            per_model[labels.get("model", "")] += 1
            if name.startswith(DETAIL_SERIES):
                detail += 1
        elif name.startswith("gen_ai_"):
            per_model[labels.get("gen_ai_request_model", "")] += 1
            genai += 1
    total = sum(per_model.values())
    listing = ", ".join(f"{model or '(none)'} {count}" for model, count in sorted(per_model.items()))
    message = f"{total:,} series from otel-holysheep ({genai:,} of them gen_ai_*); per model: {listing}"
    if OTHER_MODEL in per_model:
        return warn(
            "app.series_budget",
            f'{message}; model="{OTHER_MODEL}" means more distinct models than {ENV_MAX_MODELS} allows',
            f"raise {ENV_MAX_MODELS} if these are real models, or find what sends varying model names",
        )
    over = sorted(model or "(none)" for model, count in per_model.items() if count > max_series_per_model)
    if over:
        return warn(
            "app.series_budget",
            f"{message}; above {max_series_per_model} per model: {', '.join(over)}",
            (
                f"set {ENV_GENAI_METRICS}=false (the default) to drop the {genai:,} gen_ai_* series"
                if genai
                else f"set {ENV_DETAIL_HISTOGRAMS}=false (the default) to drop the {detail:,} series of the time to "
                "headers, tokens per second and retry-after histograms"
                if detail
                else "on the push path, export base-2 exponential histograms into a store that keeps native histograms "
                "(OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION=base2_exponential_bucket_histogram: one "
                "series per histogram)"
            )
            + ", or raise --max-series-per-model if your Prometheus can take it",
        )
    return ok("app.series_budget", message)


def _by_model(samples: list[Sample], name: str) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for sample_name, labels, value in samples:
        if sample_name == name:
            totals[labels.get("model", "")] += value
    return totals


def _active_requests(first: list[Sample], second: list[Sample], interval: float) -> Finding:
    before, after = _by_model(first, ACTIVE), _by_model(second, ACTIVE)
    done_before, done_after = _by_model(first, REQUESTS), _by_model(second, REQUESTS)
    stuck = {
        model: after[model]
        for model in after
        if after[model] > 0 and before.get(model, 0) > 0 and done_after.get(model, 0) == done_before.get(model, 0)
    }
    if stuck:
        listing = ", ".join(f"{model} {value:,.0f}" for model, value in sorted(stuck.items()))
        return warn(
            "app.active_requests",
            f"requests in flight for {interval:g} s with none finishing: {listing} (holysheep_active_requests): "
            "stalled connections or streams",
            "give the client a timeout (openai.OpenAI(timeout=60), httpx.Timeout) so stalled calls end; if the gauge "
            "stays up while the app is idle, report it as an otel-holysheep bug",
        )
    in_flight = sum(after.values())
    if in_flight <= 0:
        return ok("app.active_requests", "no request in flight")
    return ok("app.active_requests", f"{in_flight:,.0f} requests in flight, and requests are finishing")
