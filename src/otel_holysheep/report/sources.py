"""Where the numbers come from: a Prometheus HTTP API (a window) or an app's /metrics page (since it started)."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from . import queries as q
from .errors import EXIT_NO_DATA, ReportError
from .fetch import Response, http_get, normalize_url
from .model import Group, RawStats, Report, histogram_quantile, make_report

NO_MODEL = "(none)"
# report query -> RawStats field of the gateway's own cost and of ours for the same calls
_GATEWAY_FIELDS = (("gateway_cost", "gateway_cost_usd"), ("gateway_cost_ours", "gateway_cost_ours_usd"))
Labels = dict[str, str]
HttpGet = Callable[..., Response]


@dataclass
class _Accumulator:
    """Per-group numbers as they are read (a group: the values of the ``by`` labels); ``RawStats`` at the end."""

    by: tuple[str, ...] = q.BY_MODEL
    raw: dict[tuple[str, ...], RawStats] = field(default_factory=lambda: defaultdict(RawStats))

    def add(self, labels: Labels, **values: float) -> None:
        group = self.group(labels)
        current = self.raw[group]
        updates = {name: (getattr(current, name) or 0.0) + value for name, value in values.items()}
        self.raw[group] = replace(current, **updates)

    def group(self, labels: Labels) -> tuple[str, ...]:
        return tuple(labels.get(name) or NO_MODEL for name in self.by)

    def stats(
        self, p95_latency: dict[str, float], p95_ttft: dict[str, float]
    ) -> dict[Group, tuple[RawStats, float | None, float | None]]:
        if self.by != q.BY_MODEL:
            return {group: (raw, None, None) for group, raw in self.raw.items()}
        return {g[0]: (raw, p95_latency.get(g[0]), p95_ttft.get(g[0])) for g, raw in self.raw.items()}


# --- Prometheus HTTP API ------------------------------------------------------------------------------------------


class PrometheusSource:
    """Instant queries at one ``time=`` (now) over ``window``, optionally narrowed by a label ``selector``."""

    def __init__(
        self,
        url: str,
        *,
        window: str = q.DEFAULT_WINDOW,
        selector: str | None = None,
        timeout: float = 10.0,
        now: float | None = None,
        get: HttpGet = http_get,
        by: str | tuple[str, ...] | None = None,
    ) -> None:
        self.window = q.validate_window(window)
        self.selector = q.validate_selector(selector)
        self.by = q.validate_by(by)
        self.queries = q.report_queries(self.window, self.selector, self.by)
        self.url = normalize_url(url).rstrip("/")
        self.api = self.url if self.url.endswith("/api/v1/query") else self.url + "/api/v1/query"
        self.timeout = timeout
        self.now = now
        self._get = get

    def describe(self) -> str:
        narrowed = f" {{{self.selector}}}" if self.selector else ""
        return f"last {self.window} from Prometheus at {self.url}{narrowed}"

    def query(self, promql: str, at: float) -> list[tuple[Labels, float]]:
        answer = self._get(
            self.api,
            what="Prometheus",
            timeout=self.timeout,
            accept="application/json",
            params={"query": promql, "time": f"{at:.3f}"},
            shown_as=self.url,
        )
        payload = answer.json()
        if isinstance(payload, dict) and payload.get("status") == "error":
            detail = f"{payload.get('errorType', 'error')}: {payload.get('error', '?')}"
            raise ReportError(f"Prometheus at {self.url} rejected the query {promql!r} ({detail})")
        if not 200 <= answer.status < 300:
            raise ReportError(
                f"Prometheus at {self.url} answered HTTP {answer.status} {answer.reason} for {self.api}: "
                "is this the Prometheus server's base URL?"
            )
        data = payload.get("data") if isinstance(payload, dict) and payload.get("status") == "success" else None
        if not isinstance(data, dict) or data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
            got = _describe_body(answer)
            raise ReportError(
                f"{self.url} answered, but not like a Prometheus HTTP API ({got} from {self.api}): "
                "is this the Prometheus server's base URL?"
            )
        samples: list[tuple[Labels, float]] = []
        for item in data["result"]:
            try:
                labels = {str(k): str(v) for k, v in item["metric"].items()}
                samples.append((labels, float(item["value"][1])))
            except (KeyError, IndexError, TypeError, ValueError, AttributeError):
                raise ReportError(f"{self.url} answered a malformed Prometheus vector for {promql!r}") from None
        return samples

    def query_range(
        self, promql: str, start: float, end: float, step: float
    ) -> list[tuple[Labels, list[tuple[float, float]]]]:
        """A range query (``/api/v1/query_range``): per series its labels and (time, value) points."""
        api = self.api + "_range"
        answer = self._get(
            api,
            what="Prometheus",
            timeout=self.timeout,
            accept="application/json",
            params={"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"},
            shown_as=self.url,
        )
        payload = answer.json()
        if isinstance(payload, dict) and payload.get("status") == "error":
            detail = f"{payload.get('errorType', 'error')}: {payload.get('error', '?')}"
            raise ReportError(f"Prometheus at {self.url} rejected the range query {promql!r} ({detail})")
        data = payload.get("data") if isinstance(payload, dict) and payload.get("status") == "success" else None
        if not isinstance(data, dict) or data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
            raise ReportError(
                f"{self.url} answered, but not like a Prometheus HTTP API ({_describe_body(answer)} from {api}, "
                f"HTTP {answer.status}): is this the Prometheus server's base URL?"
            )
        out: list[tuple[Labels, list[tuple[float, float]]]] = []
        for item in data["result"]:
            try:
                labels = {str(k): str(v) for k, v in item["metric"].items()}
                out.append((labels, [(float(t), float(v)) for t, v in item["values"]]))
            except (KeyError, IndexError, TypeError, ValueError, AttributeError):
                raise ReportError(f"{self.url} answered a malformed Prometheus matrix for {promql!r}") from None
        return out

    def fetch(self) -> Report:
        at = time.time() if self.now is None else self.now
        results = {name: self.query(promql, at) for name, promql in self.queries.items()}
        acc = _Accumulator(self.by)
        per_model = self.by == q.BY_MODEL
        unpriced: dict[str, float] = {}
        for key in ("requests", "successes", "duration_sum", "duration_count", "unpriced_tokens"):
            for labels, value in results.get(key, []):
                if key == "unpriced_tokens" and not per_model:
                    unpriced[_model(labels)] = _finite_or_zero(value)
                    continue
                acc.add(labels, **{key: _finite_or_zero(value)})
        for labels, value in results["cost"]:
            acc.add(labels, cost_usd=_finite_or_zero(value))
        for key, gateway_field in _GATEWAY_FIELDS:
            for labels, value in results.get(key, []):
                acc.add(labels, **{gateway_field: _finite_or_zero(value)})
        substitutions = {
            (_model(labels), labels.get("served_model") or NO_MODEL): _finite_or_zero(value)
            for labels, value in results.get("substitutions", [])
        }
        for labels, value in results["tokens"]:
            field_name = {"prompt": "tokens_in", "completion": "tokens_out"}.get(labels.get("token_type", ""))
            if field_name:
                acc.add(labels, **{field_name: _finite_or_zero(value)})
        if sum(raw.requests for raw in acc.raw.values()) <= 0:
            narrowed = f" matching {{{self.selector}}}" if self.selector else ""
            message = f"no otel-holysheep requests at {self.url} in the last {self.window}{narrowed}"
            raise ReportError(message, EXIT_NO_DATA)
        p95_latency = {_model(labels): value for labels, value in results.get("p95_latency", [])}
        p95_ttft = {_model(labels): value for labels, value in results.get("p95_ttft", [])}
        return make_report(
            acc.stats(p95_latency, p95_ttft),
            _single(results.get("total_p95_latency", [])),
            _single(results.get("total_p95_ttft", [])),
            by=self.by,
            unpriced_elsewhere=tuple(sorted(m for m, tokens in unpriced.items() if tokens > 0)),
            substitutions=substitutions,
        )


def _describe_body(answer: Response) -> str:
    kind = answer.content_type.split(";")[0].strip() or "no content type"
    if "html" in kind or answer.text.lstrip()[:1] == "<":
        return "an HTML page"
    if answer.json() is None:
        return f"{kind}, not JSON"
    return "JSON without a vector result"


def _single(samples: list[tuple[Labels, float]]) -> float | None:
    return samples[0][1] if samples else None


def _finite_or_zero(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _model(labels: Labels) -> str:
    return labels.get("model") or NO_MODEL


# --- an app's /metrics page (cumulative since the process started) --------------------------------------------------

_MISSING_SERIES = (
    "{url} serves metrics, but none from otel-holysheep ({name} is missing): "
    "is the app running under opentelemetry-instrument with the holysheep instrumentor?"
)


class MetricsEndpointSource:
    """Reads the exposition text the OpenTelemetry Prometheus exporter serves, totals since the process started."""

    def __init__(
        self, url: str, *, timeout: float = 10.0, get: HttpGet = http_get, by: str | tuple[str, ...] | None = None
    ) -> None:
        self.url = normalize_url(url)
        self.timeout = timeout
        self.by = q.validate_by(by)
        self._get = get

    def describe(self) -> str:
        return f"since process start, from {self.url}"

    def fetch(self) -> Report:
        return report_from_samples(self.samples(), url=self.url, by=self.by)

    def samples(self) -> list[tuple[str, Labels, float]]:
        """Every sample of the page; ``ReportError`` when it is unreachable or not Prometheus metrics text."""
        answer = self._get(
            self.url,
            what="the metrics endpoint",
            timeout=self.timeout,
            accept="text/plain;version=0.0.4;q=1.0,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1",
        )
        if not 200 <= answer.status < 300:
            raise ReportError(
                f"{self.url} answered HTTP {answer.status} {answer.reason}: expected the app's Prometheus /metrics page"
            )
        kind = answer.content_type.split(";")[0].strip().lower()
        head = answer.text.lstrip()[:1]
        if "html" in kind or "json" in kind or head in ("<", "{", "["):
            got = "an HTML page" if ("html" in kind or head == "<") else "JSON"
            raise ReportError(f"{self.url} answered with {got}, not Prometheus metrics text")
        return parse_exposition(answer.text, url=self.url, openmetrics="openmetrics" in kind)


def parse_exposition(text: str, *, url: str, openmetrics: bool = False) -> list[tuple[str, Labels, float]]:
    """(sample name, labels, value) for every sample of a Prometheus text (or OpenMetrics) exposition."""
    parse = openmetrics_families if openmetrics else text_string_to_metric_families
    try:
        return [
            (sample.name, dict(sample.labels), float(sample.value))
            for family in parse(text)
            for sample in family.samples
        ]
    except (ValueError, IndexError, KeyError, TypeError) as error:
        raise ReportError(f"{url} answered, but not with Prometheus metrics text ({error})") from None


def report_from_samples(
    samples: Iterable[tuple[str, Labels, float]], *, url: str, by: tuple[str, ...] = q.BY_MODEL
) -> Report:
    """Sum the contract series across every label but ``by`` (``model`` by default) and ``le``, then compute the
    rows. Grouped by anything but ``model`` alone there are no latency columns (histograms carry no attribution
    labels) and unpriced tokens, which are counted per model only, are named in a note."""
    acc = _Accumulator(by)
    by_model = by == q.BY_MODEL
    buckets: dict[str, dict[str, dict[float, float]]] = {q.DURATION: {}, q.TTFT: {}}
    unpriced: dict[str, float] = defaultdict(float)
    substitutions: dict[tuple[str, str], float] = defaultdict(float)
    seen_requests = False
    counters = {q.REQUESTS: "requests", q.COST: "cost_usd"}
    if by_model:
        counters.update(
            {
                q.DURATION + "_sum": "duration_sum",
                q.DURATION + "_count": "duration_count",
                q.UNPRICED: "unpriced_tokens",
                q.GATEWAY_COST: "gateway_cost_usd",
                q.GATEWAY_COST_OURS: "gateway_cost_ours_usd",
            }
        )
    for name, labels, value in samples:
        model = _model(labels)
        if name in counters:
            seen_requests = seen_requests or name == q.REQUESTS
            acc.add(labels, **{counters[name]: value})
            if name == q.REQUESTS and labels.get("status") == "success":
                acc.add(labels, successes=value)
        elif name == q.TOKENS:
            field_name = {"prompt": "tokens_in", "completion": "tokens_out"}.get(labels.get("token_type", ""))
            if field_name:
                acc.add(labels, **{field_name: value})
        elif name == q.UNPRICED:
            unpriced[model] += value
        elif by_model and name == q.SUBSTITUTIONS:
            substitutions[(model, labels.get("served_model") or NO_MODEL)] += value
        elif by_model and name.endswith("_bucket") and name[: -len("_bucket")] in buckets and "le" in labels:
            per_model = buckets[name[: -len("_bucket")]].setdefault(model, {})
            upper = float(labels["le"])
            per_model[upper] = per_model.get(upper, 0.0) + value
    if not seen_requests:
        raise ReportError(_MISSING_SERIES.format(url=url, name=q.REQUESTS), EXIT_NO_DATA)
    if sum(raw.requests for raw in acc.raw.values()) <= 0:
        raise ReportError(f"no otel-holysheep requests at {url} since the process started", EXIT_NO_DATA)

    def p95(histograms: dict[str, dict[float, float]], model: str) -> float | None:
        return histogram_quantile(q.QUANTILE, histograms[model]) if model in histograms else None

    def merged(histograms: dict[str, dict[float, float]]) -> dict[float, float]:
        total: dict[float, float] = defaultdict(float)
        for per_model in histograms.values():
            for upper, count in per_model.items():
                total[upper] += count
        return total

    p95_latency: dict[str, float] = {}
    p95_ttft: dict[str, float] = {}
    for model in {group[0] for group in acc.raw} if by_model else ():
        for quantiles, histograms in ((p95_latency, buckets[q.DURATION]), (p95_ttft, buckets[q.TTFT])):
            found = p95(histograms, model)
            if found is not None:
                quantiles[model] = found
    total_latency = histogram_quantile(q.QUANTILE, merged(buckets[q.DURATION])) if buckets[q.DURATION] else None
    total_ttft = histogram_quantile(q.QUANTILE, merged(buckets[q.TTFT])) if buckets[q.TTFT] else None
    return make_report(
        acc.stats(p95_latency, p95_ttft),
        total_latency,
        total_ttft,
        by=by,
        unpriced_elsewhere=tuple(sorted(m for m, tokens in unpriced.items() if tokens > 0)),
        substitutions=substitutions,
    )
