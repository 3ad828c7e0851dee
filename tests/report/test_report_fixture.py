"""The fixture is what the real OTel Prometheus exporter writes, and the report gets the numbers fed into it right."""

from __future__ import annotations

import pytest
from report_fixture_gen import EXPECTED, FIXTURE, generate_exposition
from report_helpers import FIXTURE_TEXT

from otel_holysheep._series import PROMETHEUS_SERIES
from otel_holysheep.report.model import ModelRow
from otel_holysheep.report.sources import parse_exposition, report_from_samples

SCOPE_LABELS = {"otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}


def _without_target_info(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("target_info")]  # carries the SDK version


def test_committed_fixture_matches_the_exporter() -> None:
    """If the SDK/exporter output changes, regenerate: .venv/bin/python tests/report/report_fixture_gen.py"""
    assert _without_target_info(generate_exposition()) == _without_target_info(FIXTURE.read_text())


def test_fixture_series_follow_the_contract() -> None:
    contract = {s.name: s for s in PROMETHEUS_SERIES}
    suffixes = {"counter": ("",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
    seen = set()
    for name, labels, _ in parse_exposition(FIXTURE_TEXT, url="fixture"):
        if name == "target_info":
            continue
        series = next(s for s in contract.values() if name in {s.name + x for x in suffixes[s.type]})
        seen.add(series.name)
        expected = set(series.labels) | SCOPE_LABELS | ({"le"} if name.endswith("_bucket") else set())
        assert set(labels) == expected, name
        assert labels["otel_scope_name"] == "otel_holysheep"
    assert {
        "holysheep_requests_total",
        "holysheep_request_duration_seconds",
        "holysheep_time_to_first_token_seconds",
        "holysheep_tokens_total",
        "holysheep_cost_usd_total",
        "holysheep_unpriced_tokens_total",
    } <= seen


def _values(row: ModelRow) -> tuple[float | None, ...]:
    return (
        row.requests,
        row.success_rate_pct,
        row.avg_latency_s,
        row.p95_latency_s,
        row.p95_ttft_s,
        row.tokens_in,
        row.tokens_out,
        row.cost_usd,
        row.usd_per_1m_tokens,
        row.tokens_per_usd,
    )


def test_report_numbers_match_what_was_fed_in() -> None:
    # Hand arithmetic behind EXPECTED (bucket bounds 0.1 0.25 0.5 1 2 5 10 20 30 60 120 +Inf):
    #  gpt-4.1     cumulative {0.5: 10, 1: 40, 2: 48, 10: 49, 30: 50}; rank .95*50=47.5 -> 1 + 1*(47.5-40)/8 = 1.9375
    #              TTFT {0.5: 10, 1: 18, 2: 20}; rank 19 -> 1 + 1*(19-18)/2 = 1.5
    #  deepseek-v3 {5: 20, 10: 30}; rank 28.5 -> 5 + 5*(28.5-20)/10 = 9.25
    #  my-finetune {0.25: 5}; rank 4.75 -> 0.1 + 0.15*4.75/5 = 0.2425
    #  mystery     2 x 200 s, all in +Inf; rank 1.9 in +Inf -> previous bound 120
    #  TOTAL       {0.25: 5, 0.5: 15, 1: 45, 2: 53, 5: 73, 10: 84, 30: 85, +Inf: 87}; rank 82.65
    #              -> 5 + 5*(82.65-73)/11 = 9.3864
    report = report_from_samples(parse_exposition(generate_exposition(), url="fixture"), url="fixture")
    got = {row.model: row for row in (*report.rows, report.total)}
    assert [row.model for row in report.rows] == ["gpt-4.1", "deepseek-v3", "my-finetune", "mystery"]
    assert set(got) == set(EXPECTED)
    for model, expected in EXPECTED.items():
        actual = _values(got[model])
        for name, want, have in zip(("requests", "success", "avg", "p95", "ttft", "in", "out", "cost", "per1m", "tpd"),
                                    expected, actual, strict=True):  # fmt: skip
            if want is None:
                assert have is None, (model, name)
            else:
                assert have == pytest.approx(want, rel=1e-9), (model, name)
    assert report.unpriced_models == ("my-finetune", "mystery")
