"""The HTML page's charts: per model over the report's range from Prometheus (range queries), or one point "since
the process started" from an app's /metrics page. Pure data in, ``Chart`` tuples out (``render_page`` draws them).

Over a range every point is the report's own PromQL (``queries.report_queries``) over a short lookback window (the
step, at least a minute) at that instant: P95 latency and TTFT, error rate (failed requests over all), truncation rate
(``finish_reason="length"`` over all finishes); cost per UTC calendar day (the first and last day partial: the range's
edges) per model, and per team when the cost series carry a ``team`` attribution label.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from . import queries as q
from .errors import ReportError
from .sources import NO_MODEL, Labels, PrometheusSource, report_from_samples
from .whatif_data import TRUNCATED, Observations, _finishes, extra_queries

STEPS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)  # seconds
POINTS = 200  # at most about this many points per series
MIN_LOOKBACK = 60  # seconds: several scrapes at any usual scrape interval
DAY = 86400
TEAM = "team"
SINCE_START = "since process start"
_UNITS = {"y": 365 * DAY, "w": 7 * DAY, "d": DAY, "h": 3600, "m": 60, "s": 1, "ms": 0.001}


@dataclass(frozen=True)
class Series:
    name: str  # a model (or team)
    values: tuple[float | None, ...]  # one per x label; None: no data at that point


@dataclass(frozen=True)
class Chart:
    key: str  # the canvas id is chart-<key>
    title: str
    unit: str
    kind: str  # line (over time) | bar (per day, or one point since start)
    x: tuple[str, ...]
    series: tuple[Series, ...]
    stacked: bool = False
    note: str = ""


def window_seconds(window: str) -> float:
    match = q._DURATION.fullmatch(q.validate_window(window))
    assert match is not None  # validated
    names = ("y", "w", "d", "h", "m", "s", "ms")
    return sum(int(v) * _UNITS[n] for n, v in zip(names, match.groups(), strict=True) if v)


def choose_step(range_s: float) -> int:
    return next((s for s in STEPS if s >= range_s / POINTS), STEPS[-1])


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _model(labels: Labels, name: str = "model") -> str:
    return labels.get(name) or NO_MODEL


def _time_label(at: float, step: int) -> str:
    moment = dt.datetime.fromtimestamp(at, dt.timezone.utc)
    return moment.strftime("%m-%d %H:%M:%S" if step < 60 else "%m-%d %H:%M")


def _series(per_name: Mapping[str, Mapping[float, float | None]], times: list[float]) -> tuple[Series, ...]:
    return tuple(
        Series(name, tuple(points.get(t) for t in times))
        for name, points in sorted(per_name.items())
        if any(points.get(t) is not None for t in times)
    )


def _ratio_pct(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return min(max(numerator / denominator, 0.0), 1.0) * 100


class _Range:
    """Range queries of one Prometheus source over [end - range, end], points aligned to the step."""

    def __init__(self, source: PrometheusSource, end: float) -> None:
        self.source = source
        self.range_s = window_seconds(source.window)
        self.step = choose_step(self.range_s)
        # The last point at ``end`` itself (the newest data is on the chart), one every step back across the range.
        count = max(int(self.range_s // self.step), 1)
        self.times = [end - (count - 1 - i) * self.step for i in range(count)]
        self.lookback = max(self.step, MIN_LOOKBACK)
        self.look = PrometheusSource(
            source.url,
            window=f"{self.lookback}s",
            selector=source.selector,
            timeout=source.timeout,
            now=end,
            get=source._get,
        )

    def by(self, promql: str, *labels: str) -> dict[tuple[str, ...], dict[float, float | None]]:
        out: dict[tuple[str, ...], dict[float, float | None]] = defaultdict(dict)
        if not self.times:
            return out
        for found, points in self.source.query_range(promql, self.times[0], self.times[-1], self.step):
            key = tuple(_model(found, name) for name in labels)
            for t, v in points:
                out[key][self._nearest(t)] = _finite(v)
        return out

    def _nearest(self, t: float) -> float:
        """The asked time a returned one stands for (Prometheus answers them with millisecond precision)."""
        index = round((t - self.times[0]) / self.step)
        return self.times[min(max(index, 0), len(self.times) - 1)]

    def per_model(self, key: str) -> dict[str, dict[float, float | None]]:
        return {k[0]: v for k, v in self.by(self.look.queries[key], "model").items()}


def from_prometheus(source: PrometheusSource, end: float) -> tuple[Chart, ...]:
    """Charts over the source's window ending at ``end`` (the instant the page's tables were read at)."""
    r = _Range(source, end)
    x = tuple(_time_label(t, r.step) for t in r.times)
    every = f"each point: the last {_duration(r.lookback)}, every {_duration(r.step)}"
    charts = [
        Chart("p95_latency", "P95 latency per model", "s", "line", x, _series(r.per_model("p95_latency"), r.times)),
        Chart(
            "p95_ttft", "P95 time to first token per model", "s", "line", x, _series(r.per_model("p95_ttft"), r.times)
        ),
    ]
    charts = [Chart(c.key, c.title, c.unit, c.kind, c.x, c.series, note=every) for c in charts]
    requests, successes = r.per_model("requests"), r.per_model("successes")
    errors = {
        model: {t: _ratio_pct(_minus(points.get(t), successes.get(model, {}).get(t)), points.get(t)) for t in r.times}
        for model, points in requests.items()
    }
    charts.append(Chart("error_rate", "Error rate per model", "%", "line", x, _series(errors, r.times), note=every))
    finishes = r.by(extra_queries(r.look)["finishes"], "model", "finish_reason")
    all_finishes: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for (model, _reason), points in finishes.items():
        for t, v in points.items():
            all_finishes[model][t] += v or 0.0
    truncation = {
        model: {t: _ratio_pct(finishes.get((model, TRUNCATED), {}).get(t, 0.0), totals.get(t)) for t in r.times}
        for model, totals in all_finishes.items()
    }
    charts.append(
        Chart(
            "truncation_rate",
            'Truncation rate per model (finish_reason="length")',
            "%",
            "line",
            x,
            _series(truncation, r.times),
            note=every,
        )
    )
    charts += _cost_per_day(source, end)
    return tuple(charts)


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None else a - (b or 0.0)


def _duration(seconds: float) -> str:
    for unit, size in (("d", DAY), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def day_edges(start: float, end: float) -> list[tuple[float, float, str]]:
    """The UTC calendar days (or parts of them) of [start, end]: (from, to, label)."""
    edges: list[tuple[float, float, str]] = []
    cursor = start
    while cursor < end:
        day = dt.datetime.fromtimestamp(cursor, dt.timezone.utc).date()
        next_midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.timezone.utc).timestamp()
        upto = min(next_midnight, end)
        label = day.isoformat()
        if cursor > next_midnight - DAY:
            label += f" (from {dt.datetime.fromtimestamp(cursor, dt.timezone.utc):%H:%M})"
        elif upto < next_midnight:
            label += f" (to {dt.datetime.fromtimestamp(upto, dt.timezone.utc):%H:%M})"
        edges.append((cursor, upto, label))
        cursor = upto
    return edges


def _cost_per_day(source: PrometheusSource, end: float) -> list[Chart]:
    edges = [e for e in day_edges(end - window_seconds(source.window), end) if e[1] - e[0] >= 1]
    x = tuple(label for _, _, label in edges)
    charts = []
    for by, key, title in (
        (q.BY_MODEL, "cost_per_day_model", "Cost per day per model"),
        ((TEAM,), "cost_per_day_team", "Cost per day per team"),
    ):
        per_name: dict[str, dict[float, float | None]] = defaultdict(dict)

        def piece(seconds: float, by: tuple[str, ...] = by) -> PrometheusSource:
            return PrometheusSource(
                source.url,
                window=f"{round(seconds)}s",
                selector=source.selector,
                timeout=source.timeout,
                get=source._get,
                by=by,
            )

        # Whole days in one range query (each point: the day before a midnight), partial ones one by one.
        whole = [upto for begin, upto, _ in edges if upto - begin == DAY]
        if whole:
            days = piece(DAY)
            for labels, points in source.query_range(days.queries["cost"], whole[0], whole[-1], DAY):
                for t, v in points:
                    per_name[_model(labels, by[0])][float(round(t))] = _finite(v)
        for begin, upto, _ in edges:
            if upto - begin != DAY:
                part = piece(upto - begin)
                for labels, value in part.query(part.queries["cost"], upto):
                    per_name[_model(labels, by[0])][upto] = _finite(value)
        if by == (TEAM,) and set(per_name) <= {NO_MODEL}:
            continue  # no attribution by team in this data
        series = _series(per_name, [upto for _, upto, _ in edges])
        note = "UTC calendar days; the first and last are the parts inside the range"
        charts.append(Chart(key, title, "USD", "bar", x, series, stacked=True, note=note))
    return charts


def from_samples(
    samples: Iterable[tuple[str, Labels, float]], observations: Observations, url: str
) -> tuple[Chart, ...]:
    """One point per model since the process started (a /metrics page has no history)."""
    samples = list(samples)
    rows = observations.per_model.rows
    x = (SINCE_START,)

    def chart(key: str, title: str, unit: str, values: Mapping[str, float | None]) -> Chart:
        series = tuple(Series(name, (value,)) for name, value in sorted(values.items()) if value is not None)
        return Chart(key, title, unit, "bar", x, series, note="totals since the app's process started (/metrics)")

    charts = [
        chart("p95_latency", "P95 latency per model", "s", {r.model: r.p95_latency_s for r in rows}),
        chart("p95_ttft", "P95 time to first token per model", "s", {r.model: r.p95_ttft_s for r in rows}),
        chart(
            "error_rate",
            "Error rate per model",
            "%",
            {r.model: None if r.success_rate_pct is None else 100 - r.success_rate_pct for r in rows},
        ),
        chart(
            "truncation_rate",
            'Truncation rate per model (finish_reason="length")',
            "%",
            {r.model: observations.truncation_pct(r.model) for r in rows},
        ),
        chart("cost_per_day_model", "Cost per model", "USD", {r.model: r.cost_usd for r in rows}),
    ]
    if any(name == q.COST and labels.get(TEAM) for name, labels, _ in samples):
        teams = report_from_samples(samples, url=url, by=(TEAM,))
        charts.append(chart("cost_per_day_team", "Cost per team", "USD", {r.model: r.cost_usd for r in teams.rows}))
    return tuple(charts)


def _delta(
    before: Iterable[tuple[str, Labels, float]], after: Iterable[tuple[str, Labels, float]]
) -> list[tuple[str, Labels, float]]:
    """What the counters and histogram buckets of ``after`` added since ``before`` (a series new in ``after`` counts
    from zero; a reset, a smaller value, counts as its new value)."""
    earlier = {(name, tuple(sorted(labels.items()))): value for name, labels, value in before}
    out = []
    for name, labels, value in after:
        previous = earlier.get((name, tuple(sorted(labels.items()))), 0.0)
        out.append((name, labels, value - previous if value >= previous else value))
    return out


def from_snapshots(
    snapshots: list[tuple[float, list[tuple[str, Labels, float]]]], observations: Observations, url: str
) -> tuple[Chart, ...]:
    """Charts over time from successive reads of one /metrics page (``(unix time, samples)``, oldest first): each
    point is what happened since the read before it. Fewer than two reads: ``from_samples`` of the last."""
    if len(snapshots) < 2:
        return from_samples(snapshots[-1][1] if snapshots else [], observations, url)
    times: list[float] = []  # the reads that closed an interval with requests in it
    latency: dict[str, dict[float, float | None]] = defaultdict(dict)
    ttft: dict[str, dict[float, float | None]] = defaultdict(dict)
    errors: dict[str, dict[float, float | None]] = defaultdict(dict)
    truncation: dict[str, dict[float, float | None]] = defaultdict(dict)
    cost: dict[str, dict[float, float | None]] = defaultdict(dict)
    for (_, before), (at, after) in itertools.pairwise(snapshots):
        delta = _delta(before, after)
        try:
            rows = report_from_samples(delta, url=url).rows
        except ReportError:  # no request in this interval: no point
            continue
        times.append(at)
        finishes = _finishes((labels, v) for name, labels, v in delta if name == q.FINISHES)
        for row in rows:
            latency[row.model][at] = row.p95_latency_s
            ttft[row.model][at] = row.p95_ttft_s
            errors[row.model][at] = None if row.success_rate_pct is None else 100 - row.success_rate_pct
            reasons = finishes.get(row.model, {})
            truncation[row.model][at] = _ratio_pct(reasons.get(TRUNCATED, 0.0), sum(reasons.values()))
            cost[row.model][at] = row.cost_usd
    first = snapshots[0][0]
    x = tuple(f"+{t - first:.1f} s" for t in times)
    note = "seconds since the first read; each point: what happened since the read of /metrics before it"
    return (
        Chart("p95_latency", "P95 latency per model", "s", "line", x, _series(latency, times), note=note),
        Chart("p95_ttft", "P95 time to first token per model", "s", "line", x, _series(ttft, times), note=note),
        Chart("error_rate", "Error rate per model", "%", "line", x, _series(errors, times), note=note),
        Chart(
            "truncation_rate",
            'Truncation rate per model (finish_reason="length")',
            "%",
            "line",
            x,
            _series(truncation, times),
            note=note,
        ),
        Chart(
            "cost_per_day_model",
            "Cost per model, per interval",
            "USD",
            "bar",
            x,
            _series(cost, times),
            stacked=True,
            note=note,
        ),
    )
