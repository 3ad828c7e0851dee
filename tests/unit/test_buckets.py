"""Bucket boundaries: sorted, and a 10% ladder where the quantiles are read (each classic bucket is a series)."""

from __future__ import annotations

import itertools

import pytest

from otel_holysheep import _buckets as i

ALL = {
    "duration": i.DURATION_BUCKETS,
    "ttft": i.TTFT_BUCKETS,
    "headers": i.HEADERS_BUCKETS,
    "tokens_per_second": i.TOKENS_PER_SECOND_BUCKETS,
    "retry_after": i.RETRY_AFTER_BUCKETS,
}


@pytest.mark.parametrize("bounds", ALL.values(), ids=ALL.keys())
def test_strictly_increasing_and_positive(bounds: tuple[float, ...]) -> None:
    assert bounds[0] > 0
    assert all(a < b for a, b in itertools.pairwise(bounds))


@pytest.mark.parametrize(
    ("bounds", "ladder"),
    [(i.DURATION_BUCKETS, i.DURATION_LADDER), (i.TTFT_BUCKETS, i.TTFT_LADDER)],
    ids=["duration", "ttft"],
)
def test_ten_percent_ladder(bounds: tuple[float, ...], ladder: tuple[float, float]) -> None:
    low, high = ladder
    rungs = [b for b in bounds if low <= b <= high]
    assert rungs[0] == low and rungs[-1] == high
    # a quantile whose exact value lies in (a, b] is estimated inside (a, b]: within b / a - 1 of it
    assert max(b / a for a, b in itertools.pairwise(rungs)) <= 1.1
    assert high / low > 9  # about a decade each: every model's P95 in the measurements, with room either side


def test_tutorial_p95s_fall_inside_the_ladders() -> None:
    # the measured week: P95 request latency per model 1.1-3.8 s; first tokens after about a third of that
    fastest, slowest, first_token = 1.1, 3.8, 0.35
    margin = 1.5  # a P95 over a few dozen requests strays this far from the week's
    assert i.DURATION_LADDER[0] < fastest / margin and i.DURATION_LADDER[1] > slowest * margin
    assert i.TTFT_LADDER[0] < fastest * first_token / margin and i.TTFT_LADDER[1] > slowest * first_token * margin


def test_alert_thresholds_are_boundaries() -> None:
    # P95 latency > 30 s and P95 time to first token > 5 s: a boundary at each threshold reads it without interpolation
    assert 30.0 in i.DURATION_BUCKETS
    assert 5.0 in i.TTFT_BUCKETS
