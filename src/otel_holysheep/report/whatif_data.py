"""The what-if's inputs from a source: tokens by type per group, each model's own observed numbers, finish reasons.

Reads through the report's sources (``PrometheusSource.query``, ``MetricsEndpointSource.samples``) and builds on
their per-model report, so the what-if's latency, success and request numbers are the report's, to the digit.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .._pricing import PriceBook
from . import queries as q
from .model import Report
from .sources import NO_MODEL, Labels, MetricsEndpointSource, PrometheusSource, report_from_samples
from .whatif import Bounds, Observed, TokenMix, WhatIf, reprice

_CACHED = 'token_type="cached"'
TRUNCATED = "length"  # the finish reason of a completion cut at max_tokens / the context length
NO_FINISHES_NOTE = (
    f'Truncation "not observed": the data has no {q.FINISHES} series (finish reasons per model), '
    "so no candidate can be checked against --max-truncation."
)


@dataclass(frozen=True)
class Observations:
    """Everything the what-if and the page need from one source, read once."""

    report: Report  # grouped by the --by labels
    per_model: Report  # the same data per model (latency columns included)
    cached: Mapping[tuple[str, ...], float]  # cached input tokens per group
    finishes: Mapping[str, Mapping[str, float]]  # model -> finish_reason -> count (empty: no such series)

    def truncation_pct(self, model: str) -> float | None:
        reasons = self.finishes.get(model)
        total = sum(reasons.values()) if reasons else 0.0
        if not reasons or total <= 0:
            return None
        return reasons.get(TRUNCATED, 0.0) / total * 100

    def observed(self) -> dict[str, Observed]:
        return {
            row.model: Observed(
                requests=row.requests,
                p95_latency_s=row.p95_latency_s,
                p95_ttft_s=row.p95_ttft_s,
                success_rate_pct=row.success_rate_pct,
                truncation_rate_pct=self.truncation_pct(row.model),
            )
            for row in self.per_model.rows
        }

    def what_if(self, book: PriceBook, bounds: Bounds) -> WhatIf:
        groups = {}
        for row in self.report.rows:
            tokens = TokenMix(row.tokens_in, self.cached.get(row.labels, 0.0), row.tokens_out)
            groups[row.labels] = (row.requests, tokens, row.cost_usd)
        notes = [] if self.finishes else [NO_FINISHES_NOTE]
        if any(row.cost_usd is None for row in self.report.rows):
            notes.append('Saving "-": the price book had no price for the tokens actually used, so no observed cost.')
        return reprice(groups, self.observed(), book, bounds, by=self.report.by, notes=notes)


def _group(labels: Labels, by: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(labels.get(name) or NO_MODEL for name in by)


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _finishes(items: Iterable[tuple[Labels, float]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for labels, value in items:
        out[labels.get("model") or NO_MODEL][labels.get("finish_reason") or "unknown"] += _finite(value)
    return {model: dict(reasons) for model, reasons in out.items()}


def from_samples(samples: list[tuple[str, Labels, float]], *, url: str, by: tuple[str, ...]) -> Observations:
    """From an exposition's samples (``MetricsEndpointSource.samples()``): totals since the process started."""
    report = report_from_samples(samples, url=url, by=by)
    per_model = report if by == q.BY_MODEL else report_from_samples(samples, url=url)
    cached: dict[tuple[str, ...], float] = defaultdict(float)
    finishes: list[tuple[Labels, float]] = []
    for name, labels, value in samples:
        if name == q.TOKENS and labels.get("token_type") == "cached":
            cached[_group(labels, by)] += value
        elif name == q.FINISHES:
            finishes.append((labels, value))
    return Observations(report, per_model, dict(cached), _finishes(finishes))


def from_metrics(source: MetricsEndpointSource) -> Observations:
    return from_samples(source.samples(), url=source.url, by=source.by)


def extra_queries(source: PrometheusSource) -> dict[str, str]:
    """The PromQL the what-if adds to the report's (cached tokens per group, finish reasons per model)."""
    w, m = source.window, source.selector

    def series(name: str, *extra: str) -> str:
        matchers = ",".join(x for x in (m, *extra) if x)
        return f"{name}{{{matchers}}}" if matchers else name

    labels = ", ".join(source.by)
    return {
        "cached_tokens": f"sum by ({labels}) (increase({series(q.TOKENS, _CACHED)}[{w}]))",
        "finishes": f"sum by (model, finish_reason) (increase({series(q.FINISHES)}[{w}]))",
    }


def from_prometheus(source: PrometheusSource) -> Observations:
    """Over the source's window at one instant (its ``now``, else the time of the call)."""
    at = time.time() if source.now is None else source.now
    if source.now is None:
        source.now = at  # every query of this run at the same instant
    report = source.fetch()
    if source.by == q.BY_MODEL:
        per_model = report
    else:
        per_model = PrometheusSource(
            source.url, window=source.window, selector=source.selector, timeout=source.timeout, now=at, get=source._get
        ).fetch()
    extra = extra_queries(source)
    cached = {_group(labels, source.by): _finite(v) for labels, v in source.query(extra["cached_tokens"], at)}
    return Observations(report, per_model, cached, _finishes(source.query(extra["finishes"], at)))
