"""``python -m benchmarks.p95_accuracy [--seeds 50] [--jobs 4]``: how far the report's P95s are from the exact ones.

Replays the demo's workload (`make demo`: the simulator's demo profile at the tutorial's latencies, 240 requests)
in process, keeps every duration and time to first token the histograms were given, and compares the report's
P95 (from the exported buckets) with the exact nearest-rank P95 of the same requests, per model and in total.
The same requests are also bucketed with the ladder shipped before the series cut (f958f5f), for comparison.

"Exact" is the nearest-rank P95: the smallest recorded value that at least 95% of the requests did not exceed (what
Prometheus' histogram_quantile estimates from cumulative bucket counts). The report's value lies in the same bucket
as that request, so its error is below the bucket's width ratio: under 10% wherever the boundaries are a 10% ladder
(`DURATION_LADDER` / `TTFT_LADDER`). ``tests/demo/test_report_accuracy.py`` asserts that guarantee on one run; this
program runs many seeds (one process each: the instrumentor is a singleton) and prints the mean and worst errors.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from otel_holysheep import _buckets
from otel_holysheep.report.model import TOTAL_LABEL, histogram_quantile

# What main shipped before the series cut (f958f5f): the "before" side of the comparison.
BEFORE_DURATION_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0)
BEFORE_DURATION_BUCKETS += (15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)
BEFORE_TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 20.0, 30.0, 60.0)
FIGURES = {
    # figure: (report row attribute, buckets today, the ladder inside them, buckets before)
    "latency": ("p95_latency_s", _buckets.DURATION_BUCKETS, _buckets.DURATION_LADDER, BEFORE_DURATION_BUCKETS),
    "ttft": ("p95_ttft_s", _buckets.TTFT_BUCKETS, _buckets.TTFT_LADDER, BEFORE_TTFT_BUCKETS),
}


@dataclass(frozen=True)
class Row:
    """One figure of one report row: the exact P95, the report's, and both errors."""

    figure: str
    row: str
    count: int
    exact: float
    reported: float
    error: float
    error_before: float

    @property
    def bucket(self) -> tuple[float, float]:
        """The bucket (lower, upper] of today's boundaries that holds the exact P95."""
        return bucket_of(self.exact, FIGURES[self.figure][1])

    @property
    def in_ladder(self) -> bool:
        """Whether that bucket is a rung of the 10% ladder, where the error is bounded by 10%."""
        low, high = FIGURES[self.figure][2]
        return low < self.exact <= high


class Kept:
    """A histogram stand-in that keeps every value (with the model label) and passes it on."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.values: dict[str, list[float]] = defaultdict(list)

    def record(self, amount: float, attributes: Any = None, context: Any = None) -> None:
        self.values[attributes["model"]].append(amount)
        self.inner.record(amount, attributes, context)


@contextlib.contextmanager
def demo_workload(seed: int) -> Iterator[tuple[str, Kept, Kept]]:
    """Run the demo's workload against the demo profile; yield the exporter's page and the kept values."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader  # noqa: PLC0415
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
    from prometheus_client import CollectorRegistry, generate_latest  # noqa: PLC0415

    from otel_holysheep import HolySheepInstrumentor  # noqa: PLC0415
    from otel_holysheep._state import ACTIVE  # noqa: PLC0415
    from otel_holysheep.demo import run as demo  # noqa: PLC0415
    from otel_holysheep.demo import workload  # noqa: PLC0415
    from otel_holysheep.simulator import GatewaySimulator, Profile  # noqa: PLC0415

    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    profile = Profile.load(demo.PROFILE)
    instrumentor = HolySheepInstrumentor()
    with GatewaySimulator(profile=profile, time_scale=demo.TIME_SCALE, seed=seed) as sim:
        instrumentor.instrument(meter_provider=provider, base_urls=[sim.base_url])
        try:
            assert ACTIVE.hook is not None
            telemetry = ACTIVE.hook.telemetry
            durations, ttfts = Kept(telemetry.duration), Kept(telemetry.time_to_first_token)
            telemetry.duration, telemetry.time_to_first_token = durations, ttfts  # type: ignore[assignment]
            argv = ["--base-url", sim.base_url, "--requests", str(demo.REQUESTS), "--no-wait"]
            argv += ["--concurrency", str(demo.CONCURRENCY), "--timeout", str(demo.default_timeout(demo.TIME_SCALE))]
            with contextlib.redirect_stdout(io.StringIO()):
                workload.main(argv)
            telemetry.duration, telemetry.time_to_first_token = durations.inner, ttfts.inner
            yield generate_latest(registry).decode(), durations, ttfts
        finally:
            instrumentor.uninstrument()
            provider.shutdown()


def nearest_rank_p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def bucket_p95(values: Sequence[float], bounds: Sequence[float]) -> float:
    cumulative = {bound: float(sum(1 for v in values if v <= bound)) for bound in bounds}
    cumulative[math.inf] = float(len(values))
    return histogram_quantile(0.95, cumulative)


def bucket_of(value: float, bounds: Sequence[float]) -> tuple[float, float]:
    """The explicit bucket (lower, upper] holding ``value`` (an OTel bucket includes its upper bound)."""
    lower = 0.0
    for upper in bounds:
        if value <= upper:
            return lower, upper
        lower = upper
    return lower, math.inf


def with_total(per_model: dict[str, list[float]]) -> dict[str, list[float]]:
    return {**per_model, TOTAL_LABEL: [v for values in per_model.values() for v in values]}


def measure(seed: int) -> list[Row]:
    """One replay of the demo's workload: every report row's P95 latency and TTFT against the exact ones."""
    from otel_holysheep.report.sources import parse_exposition, report_from_samples  # noqa: PLC0415

    with demo_workload(seed) as (page, durations, ttfts):
        report = report_from_samples(parse_exposition(page, url="memory"), url="memory")
    rows = {**{row.model: row for row in report.rows}, TOTAL_LABEL: report.total}
    kept = {"latency": with_total(durations.values), "ttft": with_total(ttfts.values)}
    found = []
    for figure, (attribute, _, _, before) in FIGURES.items():
        for name, values in kept[figure].items():
            exact = nearest_rank_p95(values)
            reported = getattr(rows[name], attribute)
            found.append(
                Row(
                    figure=figure,
                    row=name,
                    count=len(values),
                    exact=exact,
                    reported=reported,
                    error=abs(reported - exact) / exact,
                    error_before=abs(bucket_p95(values, before) - exact) / exact,
                )
            )
    return found


def lines(rows: Sequence[Row]) -> list[str]:
    """The figures of one run, as the test prints them."""
    out = []
    for figure in FIGURES:
        mine = [r for r in rows if r.figure == figure]
        worst, worst_before = max(r.error for r in mine), max(r.error_before for r in mine)
        out.append(f"P95 {figure}: worst error {worst:.1%} (with the buckets before: {worst_before:.1%})")
        out.extend(
            f"  {r.row:<18} n={r.count:<4} exact {r.exact:.3f} s  report {r.reported:.3f} s  error {r.error:.1%}"
            f"  (before: {r.error_before:.1%})"
            for r in mine
        )
    return out


def _measure_json(seed: int) -> list[dict[str, Any]]:
    return [asdict(r) for r in measure(seed)]


def summary(runs: dict[int, list[Row]]) -> list[str]:
    """Mean and worst error over all runs and rows, per figure, with the ladder of today and the one before."""
    out = [f"{len(runs)} seeded runs ({min(runs)}-{max(runs)}) of the demo's workload, every model and the total:"]
    out.append("| P95 | mean error | worst error | runs with a row over 10% | before: mean | worst | over 10% |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for figure in FIGURES:
        rows = [r for found in runs.values() for r in found if r.figure == figure]
        now = [r.error for r in rows]
        before = [r.error_before for r in rows]
        over = sum(1 for found in runs.values() if any(r.figure == figure and r.error > 0.10 for r in found))
        over_before = sum(
            1 for found in runs.values() if any(r.figure == figure and r.error_before > 0.10 for r in found)
        )
        out.append(
            f"| {figure} | {statistics.mean(now):.1%} | {max(now):.1%} | {over} | "
            f"{statistics.mean(before):.1%} | {max(before):.1%} | {over_before} |"
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.p95_accuracy", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=50, help="how many seeded runs (seeds 1..N; default 50)")
    parser.add_argument("--jobs", type=int, default=4, help="runs at once, one process each (default 4)")
    parser.add_argument("--json", action="store_true", help="print every row of every run as JSON")
    args = parser.parse_args(argv)
    seeds = range(1, args.seeds + 1)
    with ProcessPoolExecutor(max_workers=args.jobs, max_tasks_per_child=1) as pool:
        runs = {
            seed: [Row(**r) for r in found] for seed, found in zip(seeds, pool.map(_measure_json, seeds), strict=True)
        }
    if args.json:
        print(json.dumps({seed: [asdict(r) for r in found] for seed, found in runs.items()}, indent=1))
    else:
        print("\n".join(summary(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
