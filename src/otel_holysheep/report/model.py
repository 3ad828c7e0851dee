"""The report's numbers: raw per-model aggregates in, one immutable row per model out. Pure, no I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeAlias

TOTAL_LABEL = "TOTAL"
BY_MODEL = ("model",)
Group: TypeAlias = str | tuple[str, ...]  # a model name, or the values of the --by labels in order


@dataclass(frozen=True)
class RawStats:
    """Additive per-model aggregates over the report's window (or since process start for /metrics).

    ``cost_usd`` is ``None`` when the model has no cost series at all (the price book never priced it).
    """

    requests: float = 0.0
    successes: float = 0.0
    duration_sum: float = 0.0
    duration_count: float = 0.0
    tokens_in: float = 0.0  # prompt tokens (cached ones included)
    tokens_out: float = 0.0  # completion tokens
    cost_usd: float | None = None
    unpriced_tokens: float = 0.0
    # the gateway's own cost of the calls it reported one for, and ours of those calls (None: it reported none)
    gateway_cost_usd: float | None = None
    gateway_cost_ours_usd: float | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.requests > 0 or self.tokens_in + self.tokens_out > 0 or (self.cost_usd or 0.0) > 0)

    @property
    def known_cost(self) -> float | None:
        """The cost to show, or ``None`` ("n/a") when it would otherwise be a silent, wrong $0."""
        if self.cost_usd is None:
            return None if self.tokens_in + self.tokens_out > 0 else 0.0
        if self.cost_usd == 0 and self.unpriced_tokens > 0:
            return None
        return self.cost_usd


@dataclass(frozen=True)
class ModelRow:
    """One line of the report. Latencies in seconds; ``None`` means "no data" (rendered "-" or "n/a").

    ``labels`` are the values of the report's ``by`` labels (``(model,)`` by default); ``model`` is them joined.
    """

    model: str
    requests: float
    success_rate_pct: float | None
    avg_latency_s: float | None
    p95_latency_s: float | None
    p95_ttft_s: float | None
    tokens_in: float
    tokens_out: float
    cost_usd: float | None
    priced_tokens: float  # tokens the cost covers (all of them for a model row; priced models' only for TOTAL)
    is_total: bool = False
    labels: tuple[str, ...] = ()
    gateway_cost_usd: float | None = None
    gateway_cost_ours_usd: float | None = None

    @property
    def gateway_drift_pct(self) -> float | None:
        """How far our cost of the calls the gateway priced is from the gateway's figure, in percent of it
        (positive: our price book says more than the gateway billed)."""
        gateway, ours = self.gateway_cost_usd, self.gateway_cost_ours_usd
        if gateway is None or ours is None or gateway <= 0:
            return None
        return (ours - gateway) / gateway * 100

    @property
    def usd_per_1m_tokens(self) -> float | None:
        if self.cost_usd is None or self.priced_tokens <= 0:
            return None
        return self.cost_usd / self.priced_tokens * 1e6

    @property
    def tokens_per_usd(self) -> float | None:
        if self.cost_usd is None or self.cost_usd <= 0:
            return None
        return self.priced_tokens / self.cost_usd


@dataclass(frozen=True)
class Substitution:
    """Responses to requests for ``model`` that ``served_model`` served (``holysheep_model_substitutions_total``)."""

    model: str
    served_model: str
    responses: float
    requests: float  # all requests for ``model`` (0 when unknown)

    @property
    def share_pct(self) -> float | None:
        return None if self.requests <= 0 else min(self.responses / self.requests, 1.0) * 100


@dataclass(frozen=True)
class Report:
    rows: tuple[ModelRow, ...]  # sorted: requests desc, then model name
    total: ModelRow
    unpriced_models: tuple[str, ...]  # rows whose cost is n/a (the TOTAL cost leaves them out)
    by: tuple[str, ...] = BY_MODEL  # the labels rows are grouped by
    # Grouped by attribution labels: models with unpriced tokens, which no group's cost includes.
    unpriced_elsewhere: tuple[str, ...] = ()
    substitutions: tuple[Substitution, ...] = ()  # most responses first

    @property
    def gateway_costs(self) -> bool:
        """Whether any row has the gateway's own cost (the gateway columns are shown then)."""
        return any(row.gateway_cost_usd is not None for row in self.rows)

    @property
    def per_model(self) -> bool:
        """Rows per model: the latency columns exist (histograms carry no attribution labels)."""
        return self.by == BY_MODEL


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def make_row(group: Group, raw: RawStats, p95_latency: float | None, p95_ttft: float | None) -> ModelRow:
    labels = (group,) if isinstance(group, str) else group
    cost = raw.known_cost
    success = _ratio(raw.successes, raw.requests)
    return ModelRow(
        model=", ".join(labels),
        labels=labels,
        requests=raw.requests,
        success_rate_pct=None if success is None else min(success, 1.0) * 100,
        avg_latency_s=_ratio(raw.duration_sum, raw.duration_count),
        p95_latency_s=_finite(p95_latency),
        p95_ttft_s=_finite(p95_ttft),
        tokens_in=raw.tokens_in,
        tokens_out=raw.tokens_out,
        cost_usd=cost,
        priced_tokens=raw.tokens_in + raw.tokens_out if cost is not None else 0.0,
        gateway_cost_usd=raw.gateway_cost_usd,
        gateway_cost_ours_usd=raw.gateway_cost_ours_usd,
    )


def make_report(
    stats: Mapping[Group, tuple[RawStats, float | None, float | None]],
    total_p95_latency: float | None,
    total_p95_ttft: float | None,
    by: tuple[str, ...] = BY_MODEL,
    unpriced_elsewhere: tuple[str, ...] = (),
    substitutions: Mapping[tuple[str, str], float] | None = None,
) -> Report:
    """``stats`` maps model (or the ``by`` labels' values) -> (raw aggregates, P95 latency, P95 TTFT). Groups
    without any activity are dropped."""
    rows = [make_row(group, raw, lat, ttft) for group, (raw, lat, ttft) in stats.items() if not raw.is_empty]
    rows.sort(key=lambda r: (-r.requests, r.labels))
    raws = [raw for raw, _, _ in stats.values() if not raw.is_empty]
    requests = sum(r.requests for r in raws)
    success = _ratio(sum(r.successes for r in raws), requests)
    priced = [r for r in rows if r.cost_usd is not None]
    reported = [r for r in rows if r.gateway_cost_usd is not None]
    total = ModelRow(
        model=TOTAL_LABEL,
        requests=requests,
        success_rate_pct=None if success is None else min(success, 1.0) * 100,
        avg_latency_s=_ratio(sum(r.duration_sum for r in raws), sum(r.duration_count for r in raws)),
        p95_latency_s=_finite(total_p95_latency),
        p95_ttft_s=_finite(total_p95_ttft),
        tokens_in=sum(r.tokens_in for r in raws),
        tokens_out=sum(r.tokens_out for r in raws),
        cost_usd=sum((r.cost_usd or 0.0) for r in priced) if priced or not rows else None,
        priced_tokens=sum(r.priced_tokens for r in priced),
        is_total=True,
        labels=(TOTAL_LABEL,) + ("",) * (len(by) - 1),
        gateway_cost_usd=sum(r.gateway_cost_usd or 0.0 for r in reported) if reported else None,
        gateway_cost_ours_usd=sum(r.gateway_cost_ours_usd or 0.0 for r in reported) if reported else None,
    )
    requests_of = {row.model: row.requests for row in rows}
    swaps = [
        Substitution(model, served, responses, requests_of.get(model, 0.0))
        for (model, served), responses in (substitutions or {}).items()
        if responses > 0
    ]
    swaps.sort(key=lambda s: (-s.responses, s.model, s.served_model))
    return Report(
        rows=tuple(rows),
        total=total,
        unpriced_models=tuple(r.model for r in rows if r.cost_usd is None),
        by=by,
        unpriced_elsewhere=unpriced_elsewhere,
        substitutions=tuple(swaps),
    )


def histogram_quantile(q: float, buckets: Mapping[float, float] | Iterable[tuple[float, float]]) -> float:
    """Prometheus' ``histogram_quantile`` for classic buckets: ``buckets`` maps upper bound ``le`` -> cumulative count.

    Same rules as promql/quantile.go: NaN without a +Inf bucket, with fewer than two buckets or with no observations;
    non-monotonic counts are forced monotonic; linear interpolation inside the bucket holding the rank (the first
    bucket starts at 0 unless its upper bound is <= 0); a rank in the +Inf bucket returns the previous upper bound.
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    items = buckets.items() if isinstance(buckets, Mapping) else buckets
    merged: dict[float, float] = {}
    for upper, count in items:  # coalesce equal upper bounds (as Prometheus does)
        merged[float(upper)] = merged.get(float(upper), 0.0) + float(count)
    ordered = sorted(merged.items())
    if not ordered or not math.isinf(ordered[-1][0]) or ordered[-1][0] < 0:
        return math.nan
    monotonic: list[tuple[float, float]] = []
    highest = -math.inf
    for upper, count in ordered:
        highest = max(highest, count)
        monotonic.append((upper, highest))
    if len(monotonic) < 2:
        return math.nan
    observations = monotonic[-1][1]
    if observations <= 0:
        return math.nan
    rank = q * observations
    last = len(monotonic) - 1
    b = next((i for i in range(last) if monotonic[i][1] >= rank), last)
    if b == last:
        return monotonic[last - 1][0]
    if b == 0 and monotonic[0][0] <= 0:
        return monotonic[0][0]
    bucket_start, bucket_end, count = 0.0, monotonic[b][0], monotonic[b][1]
    if b > 0:
        bucket_start = monotonic[b - 1][0]
        count -= monotonic[b - 1][1]
        rank -= monotonic[b - 1][1]
    if count <= 0:  # only reachable with q == 0 and an empty first bucket: Go's 0/0
        return math.nan
    return bucket_start + (bucket_end - bucket_start) * (rank / count)
