"""Pure computations: Prometheus' histogram_quantile, the rows, the n/a cost rules, window/selector/PromQL."""

from __future__ import annotations

import math

import pytest

from otel_holysheep._series import PROMETHEUS_SERIES
from otel_holysheep.report import queries
from otel_holysheep.report.errors import ReportError
from otel_holysheep.report.model import RawStats, histogram_quantile, make_report, make_row

INF = math.inf


# --- histogram_quantile, each case worked out by hand ----------------------------------------------------------


def test_interpolates_inside_the_bucket_holding_the_rank() -> None:
    # 100 observations: 10 <= 0.1, 40 in (0.1, 0.5], 45 in (0.5, 1], 5 in (1, +Inf).
    buckets = {0.1: 10, 0.5: 50, 1.0: 95, INF: 100}
    # q=0.95 -> rank 95 -> bucket le=1 (count 95 >= 95): 0.5 + 0.5 * (95 - 50) / 45 = 1.0
    assert histogram_quantile(0.95, buckets) == pytest.approx(1.0)
    # q=0.5 -> rank 50 -> bucket le=0.5: 0.1 + 0.4 * (50 - 10) / 40 = 0.5
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.5)
    # q=0.3 -> rank 30 -> bucket le=0.5: 0.1 + 0.4 * 20 / 40 = 0.3
    assert histogram_quantile(0.3, buckets) == pytest.approx(0.3)
    # q=0.05 -> rank 5 -> first bucket, which starts at 0: 0.1 * 5 / 10 = 0.05
    assert histogram_quantile(0.05, buckets) == pytest.approx(0.05)


def test_rank_in_the_inf_bucket_returns_the_previous_upper_bound() -> None:
    # rank 0.99 * 100 = 99 > 95 -> falls in (1, +Inf] -> 1.0, not an extrapolation.
    assert histogram_quantile(0.99, {0.1: 10, 0.5: 50, 1.0: 95, INF: 100}) == 1.0
    # everything above the last finite bound
    assert histogram_quantile(0.5, {120.0: 0, INF: 2}) == 120.0


def test_first_bucket_with_non_positive_upper_bound_is_returned_as_is() -> None:
    # The OTel exporter's default layout starts with le="0.0"; a rank there returns 0.
    assert histogram_quantile(0.5, {0.0: 4, 5.0: 4, INF: 4}) == 0.0
    assert histogram_quantile(0.5, {-1.0: 3, 0.0: 3, INF: 4}) == -1.0


def test_le_zero_first_bucket_then_interpolation_from_zero() -> None:
    # {0: 0, 5: 10, 10: 10, +Inf: 10}; q=0.95 -> rank 9.5 in (0, 5]: 0 + 5 * 9.5 / 10 = 4.75
    assert histogram_quantile(0.95, {0.0: 0, 5.0: 10, 10.0: 10, INF: 10}) == pytest.approx(4.75)


def test_undefined_cases_are_nan() -> None:
    assert math.isnan(histogram_quantile(0.95, {0.1: 0, 1.0: 0, INF: 0}))  # no observations
    assert math.isnan(histogram_quantile(0.95, {0.1: 1, 1.0: 2}))  # no +Inf bucket
    assert math.isnan(histogram_quantile(0.95, {INF: 5}))  # fewer than two buckets
    assert math.isnan(histogram_quantile(0.95, {}))
    assert math.isnan(histogram_quantile(math.nan, {1.0: 1, INF: 1}))


def test_out_of_range_quantiles_are_infinite() -> None:
    assert histogram_quantile(-0.1, {1.0: 1, INF: 1}) == -INF
    assert histogram_quantile(1.1, {1.0: 1, INF: 1}) == INF


def test_non_monotonic_counts_are_forced_monotonic() -> None:
    # le=1 dips below le=0.5 (e.g. a series reset mid-window): treated as 6, like Prometheus.
    # rank 0.5 * 10 = 5 -> bucket le=0.5 (count 6): 0 + 0.5 * 5 / 6
    assert histogram_quantile(0.5, {0.5: 6, 1.0: 4, INF: 10}) == pytest.approx(0.5 * 5 / 6)


def test_accepts_pairs_and_coalesces_equal_bounds() -> None:
    pairs = [(1.0, 2), (INF, 4), (1.0, 2), (INF, 4)]  # two series summed: {1: 4, +Inf: 8}
    # rank 0.25 * 8 = 2 -> first bucket: 1.0 * 2 / 4
    assert histogram_quantile(0.25, pairs) == pytest.approx(0.5)


# --- rows ------------------------------------------------------------------------------------------------------


def test_row_computations() -> None:
    raw = RawStats(
        requests=200, successes=190, duration_sum=300, duration_count=200, tokens_in=800_000, tokens_out=200_000,
        cost_usd=2.5,
    )  # fmt: skip
    row = make_row("m", raw, 3.0, None)
    assert row.success_rate_pct == pytest.approx(95.0)
    assert row.avg_latency_s == pytest.approx(1.5)
    assert row.p95_latency_s == 3.0 and row.p95_ttft_s is None
    assert row.cost_usd == 2.5
    assert row.usd_per_1m_tokens == pytest.approx(2.5)  # 2.5 / 1e6 tokens * 1e6
    assert row.tokens_per_usd == pytest.approx(400_000)


def test_nan_quantiles_become_no_data() -> None:
    row = make_row("m", RawStats(requests=1), math.nan, math.inf)
    assert row.p95_latency_s is None and row.p95_ttft_s is None


@pytest.mark.parametrize(
    ("raw", "cost"),
    [
        (RawStats(requests=1, tokens_in=10, cost_usd=None), None),  # tokens, but no cost series: n/a
        (RawStats(requests=1, tokens_in=10, cost_usd=0.0, unpriced_tokens=10), None),  # $0 because unpriced: n/a
        (RawStats(requests=1, tokens_in=10, cost_usd=0.0), 0.0),  # a genuinely free model
        (RawStats(requests=1, cost_usd=None), 0.0),  # no tokens (all failed): nothing was spent
        (RawStats(requests=1, tokens_in=10, cost_usd=0.01, unpriced_tokens=5), 0.01),
    ],
)
def test_cost_is_never_a_silent_zero(raw: RawStats, cost: float | None) -> None:
    row = make_row("m", raw, None, None)
    assert row.cost_usd == cost
    if cost is None:
        assert row.usd_per_1m_tokens is None and row.tokens_per_usd is None


def test_report_sorts_totals_and_drops_idle_models() -> None:
    report = make_report(
        {
            "b": (RawStats(requests=10, successes=10, tokens_in=100, tokens_out=100, cost_usd=0.002), 1.0, None),
            "a": (RawStats(requests=10, successes=5, tokens_in=50, tokens_out=50, cost_usd=None), 2.0, 0.5),
            "c": (RawStats(requests=30, successes=30, duration_sum=3, duration_count=30, cost_usd=None), 0.1, None),
            "idle": (RawStats(), None, None),
        },
        total_p95_latency=1.5,
        total_p95_ttft=0.5,
    )
    assert [r.model for r in report.rows] == ["c", "a", "b"]  # requests desc, then name
    assert report.unpriced_models == ("a",)
    total = report.total
    assert total.is_total and total.requests == 50
    assert total.success_rate_pct == pytest.approx(45 / 50 * 100)
    assert total.avg_latency_s == pytest.approx(0.1)
    assert (total.p95_latency_s, total.p95_ttft_s) == (1.5, 0.5)
    assert (total.tokens_in, total.tokens_out) == (150, 150)
    assert total.cost_usd == pytest.approx(0.002)  # priced models only ("c" spent nothing: $0 is right)
    assert total.usd_per_1m_tokens == pytest.approx(0.002 / 200 * 1e6)  # over the priced tokens


def test_total_cost_is_na_when_nothing_is_priced() -> None:
    report = make_report({"a": (RawStats(requests=1, tokens_in=5, cost_usd=None), None, None)}, None, None)
    assert report.total.cost_usd is None


# --- window, selector, PromQL ------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", ["30m", "24h", "7d", "1h30m", "2w", "1y", "90s", "500ms", "1d12h"])
def test_valid_windows(window: str) -> None:
    assert queries.validate_window(window) == window


@pytest.mark.parametrize("window", ["", "7", "7days", "d", "1.5h", "30m1h", "0d", "-1h", "7D", "1h 30m"])
def test_invalid_windows(window: str) -> None:
    with pytest.raises(ReportError, match="invalid --window") as info:
        queries.validate_window(window)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("selector", "matchers"),
    [
        (None, ""),
        ("{}", ""),
        ('{job="x"}', 'job="x"'),
        ('job="x"', 'job="x"'),
        ('{job="x", instance=~"a.*"}', 'job="x",instance=~"a.*"'),
        ('{env!="dev,test"}', 'env!="dev,test"'),
        (r'{path="a\"b"}', r'path="a\"b"'),
    ],
)
def test_valid_selectors(selector: str | None, matchers: str) -> None:
    assert queries.validate_selector(selector) == matchers


@pytest.mark.parametrize("selector", ["job", "{job=x}", '{job="x"', '{job="x"} or vector(1)', '{="x"}'])
def test_invalid_selectors(selector: str) -> None:
    with pytest.raises(ReportError, match="invalid --selector"):
        queries.validate_selector(selector)


def test_queries_without_selector() -> None:
    qs = queries.report_queries("24h")
    assert qs["requests"] == "sum by (model) (increase(holysheep_requests_total[24h]))"
    assert qs["successes"] == 'sum by (model) (increase(holysheep_requests_total{status="success"}[24h]))'
    # classic buckets, or a native histogram (Prometheus 3 storing OTLP exponential histograms)
    assert qs["p95_latency"] == (
        "histogram_quantile(0.95, sum by (model, le) (increase(holysheep_request_duration_seconds_bucket[24h]))"
        " or sum by (model) (increase(holysheep_request_duration_seconds[24h])))"
    )
    assert qs["total_p95_ttft"] == (
        "histogram_quantile(0.95, sum by (le) (increase(holysheep_time_to_first_token_seconds_bucket[24h]))"
        " or sum(increase(holysheep_time_to_first_token_seconds[24h])))"
    )
    assert qs["duration_count"] == (
        "sum by (model) (increase(holysheep_request_duration_seconds_count[24h]))"
        " or histogram_avg(sum by (model) (increase(holysheep_request_duration_seconds[24h]))) * 0"
        " + sum by (model) (increase(holysheep_requests_total[24h]))"
    )


def test_queries_with_selector_merge_matchers() -> None:
    qs = queries.report_queries("7d", '{job="app"}')
    assert qs["successes"] == 'sum by (model) (increase(holysheep_requests_total{job="app",status="success"}[7d]))'
    assert qs["tokens"] == (
        'sum by (model, token_type) (increase(holysheep_tokens_total{job="app",token_type=~"prompt|completion"}[7d]))'
    )
    assert all('{job="app"' in promql for promql in qs.values())


def test_queries_use_only_contract_series() -> None:
    contract = {s.name: s for s in PROMETHEUS_SERIES}
    used = {queries.REQUESTS, queries.DURATION, queries.TTFT, queries.TOKENS, queries.COST, queries.UNPRICED}
    assert used <= set(contract)
    assert contract[queries.DURATION].type == contract[queries.TTFT].type == "histogram"
    assert "model" in contract[queries.TTFT].labels and "status" in contract[queries.REQUESTS].labels
    assert "token_type" in contract[queries.TOKENS].labels
