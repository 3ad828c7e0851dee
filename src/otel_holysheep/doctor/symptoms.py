"""Gateway symptoms read from the data: 401s (the key), 429s and the advised waits (rate limits), timeouts and
connection errors by model, responses without usage, models without a price.

The numbers come either from an app's /metrics page (totals since it started) or from Prometheus (a window), and
are judged the same way, with the thresholds of the shipped alerts where one exists.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from .._config import ENV_PRICES_FILE, ENV_REQUEST_STREAM_USAGE
from .._instruments import Telemetry
from .._pricing import PriceBook
from .result import Finding, fail, ok, skip, warn

Labels = dict[str, str]
Sample = tuple[str, Labels, float]

AUTH_ERRORS: Final = ("http_401", "http_403")
RATE_LIMITED: Final = "http_429"
NETWORK_ERRORS: Final = ("timeout", "connect_error")
RATE_LIMIT_RATIO: Final = 0.05  # HolySheepRateLimited in prometheus/rules/holysheep-alerts.yml

REQUESTS: Final = Telemetry.requests.series
ERRORS: Final = Telemetry.errors.series
RETRY_AFTER_SUM: Final = Telemetry.retry_after.series + "_sum"
RETRY_AFTER_COUNT: Final = Telemetry.retry_after.series + "_count"
USAGE_MISSING: Final = Telemetry.usage_missing.series
UNPRICED: Final = Telemetry.unpriced_tokens.series


@dataclass
class GatewayStats:
    """Per-model counts over one span of time, described by ``source`` ("since the app started", "last 15m...")."""

    source: str
    requests: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    errors: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    retry_after_sum: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    retry_after_count: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    usage_missing: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    unpriced_tokens: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, name: str, labels: Mapping[str, str], value: float) -> None:
        model = labels.get("model") or "unknown"
        per_model = {
            REQUESTS: self.requests,
            RETRY_AFTER_SUM: self.retry_after_sum,
            RETRY_AFTER_COUNT: self.retry_after_count,
            USAGE_MISSING: self.usage_missing,
            UNPRICED: self.unpriced_tokens,
        }.get(name)
        if per_model is not None:
            per_model[model] += value
        elif name == ERRORS:
            self.errors[(model, labels.get("error_type", ""))] += value

    def errors_of(self, kinds: Iterable[str]) -> dict[str, float]:
        wanted = set(kinds)
        found: dict[str, float] = defaultdict(float)
        for (model, kind), value in self.errors.items():
            if kind in wanted and value > 0:
                found[model] += value
        return dict(found)


def stats_from_samples(samples: Iterable[Sample], source: str) -> GatewayStats:
    stats = GatewayStats(source)
    for name, labels, value in samples:
        stats.add(name, labels, value)
    return stats


def stats_from_prometheus(
    query: Callable[[str], list[tuple[Labels, float]]], window: str, selector: str
) -> GatewayStats:
    """Counts over the last ``window``. A series born inside the window counts with its whole value (``increase``
    alone would miss the first requests of an app Prometheus has just discovered)."""
    stats = GatewayStats(f"in the last {window} (Prometheus)")
    for name, by in (
        (REQUESTS, "model"),
        (ERRORS, "model, error_type"),
        (RETRY_AFTER_SUM, "model"),
        (RETRY_AFTER_COUNT, "model"),
        (USAGE_MISSING, "model"),
        (UNPRICED, "model"),
    ):
        series = f"{name}{{{selector}}}" if selector else name
        promql = f"sum by ({by}) ((increase({series}[{window}]) and {series} offset {window}) or {series})"
        for labels, value in query(promql):
            stats.add(name, labels, value)
    return stats


def _per_model(values: Mapping[str, float]) -> str:
    return ", ".join(f"{model} {value:,.0f}" for model, value in sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))


def check_gateway(stats: GatewayStats, prices: PriceBook) -> list[Finding]:
    total = sum(stats.requests.values())
    if total <= 0:
        return [skip("gateway", f"no requests to the gateway {stats.source}: nothing to judge yet")]
    return [
        _auth(stats),
        _rate_limits(stats),
        _network(stats),
        _usage(stats),
        _prices(stats, prices),
    ]


def _auth(stats: GatewayStats) -> Finding:
    rejected = stats.errors_of(AUTH_ERRORS)
    if not rejected:
        return ok("gateway.auth", f"no 401/403 answers {stats.source}")
    return fail(
        "gateway.auth",
        f"{sum(rejected.values()):,.0f} requests answered 401/403 ({_per_model(rejected)}) {stats.source}: "
        "the gateway rejects the API key (missing, wrong, revoked, or not allowed this model)",
        "set the key your client sends (HOLYSHEEP_API_KEY or OPENAI_API_KEY, read from the environment, not a "
        "hard-coded string) to a valid key from the HolySheep console; `otel-holysheep doctor --live` checks it with "
        "one request",
    )


def _rate_limits(stats: GatewayStats) -> Finding:
    limited = stats.errors_of([RATE_LIMITED])
    if not limited:
        return ok("gateway.rate_limits", f"no 429 answers {stats.source}")
    ratios = {model: count / stats.requests[model] for model, count in limited.items() if stats.requests.get(model)}
    hot = {model: ratio for model, ratio in ratios.items() if ratio > RATE_LIMIT_RATIO}
    if not hot:
        worst = max(ratios.values(), default=0.0)
        return ok(
            "gateway.rate_limits",
            f"{sum(limited.values()):,.0f} answers were 429 {stats.source}, at most {worst:.1%} of a model's "
            f"requests (threshold {RATE_LIMIT_RATIO:.0%})",
        )
    parts = []
    for model, ratio in sorted(hot.items(), key=lambda kv: (-kv[1], kv[0])):
        count = stats.retry_after_count.get(model, 0.0)
        wait = f", advised wait {stats.retry_after_sum[model] / count:.1f} s on average" if count > 0 else ""
        parts.append(f"{model} {limited[model]:,.0f} of {stats.requests[model]:,.0f} ({ratio:.0%}){wait}")
    return warn(
        "gateway.rate_limits",
        f"rate limited (429) {stats.source}: {'; '.join(parts)}",
        "send fewer requests at once (lower concurrency or a client-side rate limiter), let the openai SDK retry "
        "(max_retries honours retry-after) instead of retrying at once, watch holysheep_ratelimit_remaining, or ask "
        "HolySheep for a higher limit",
    )


def _network(stats: GatewayStats) -> Finding:
    timeouts = stats.errors_of(["timeout"])
    refused = stats.errors_of(["connect_error"])
    if not timeouts and not refused:
        return ok("gateway.timeouts", f"no timeouts or connection errors {stats.source}")
    parts = []
    if timeouts:
        parts.append(f"timeouts: {_per_model(timeouts)}")
    if refused:
        parts.append(f"connection errors: {_per_model(refused)}")
    fixes = []
    if timeouts:
        fixes.append(
            "give slow models more time (openai.OpenAI(timeout=120) or httpx.Timeout), stream long generations so "
            "tokens arrive early, retry with backoff, or fall back to a faster model"
        )
    if refused:
        fixes.append("check the base URL, DNS, proxy (HTTPS_PROXY) and firewall between the app and the gateway")
    return warn("gateway.timeouts", f"{'; '.join(parts)} {stats.source}", "; ".join(fixes))


def _usage(stats: GatewayStats) -> Finding:
    missing = {model: value for model, value in stats.usage_missing.items() if value > 0}
    if not missing:
        return ok("gateway.usage", f"every successful response reported its token usage {stats.source}")
    return warn(
        "gateway.usage",
        f"{sum(missing.values()):,.0f} responses without usage ({_per_model(missing)}) {stats.source}, mostly streams "
        "without include_usage: their tokens and cost are not counted",
        'pass stream_options={"include_usage": True} on streaming calls, or set '
        f"{ENV_REQUEST_STREAM_USAGE}=true to have otel-holysheep ask for it",
    )


def _prices(stats: GatewayStats, prices: PriceBook) -> Finding:
    unpriced = {model: value for model, value in stats.unpriced_tokens.items() if value > 0}
    if not unpriced:
        return ok("gateway.prices", f"every model with tokens has a price {stats.source}")
    message = (
        f"models without a price {stats.source}: {_per_model(unpriced)} tokens; their cost is not counted "
        "(never guessed)"
    )
    if all(prices.lookup(model) is not None for model in unpriced):
        return warn(
            "gateway.prices",
            message,
            f"the price book configured here prices them: restart the app so it loads {ENV_PRICES_FILE}",
        )
    example = sorted(unpriced)[0]
    return warn(
        "gateway.prices",
        message,
        f"add them to a price file (models: {{{example}: {{input: ..., output: ...}}}}, USD per 1M tokens) and set "
        f"{ENV_PRICES_FILE} to its path",
    )
