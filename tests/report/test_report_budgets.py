"""``report --budgets``: this month's spend, pace, projection and budget per budget, from Prometheus (a fake HTTP API
on loopback answering the exact PromQL) and from a /metrics page (the exporter fixture with attribution labels: only
the spend since the app started, and it says what needs Prometheus)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from report_fixture_gen import ATTRIBUTED_FIXTURE
from report_helpers import Handler, Seen, fake_prometheus, metrics_page

from otel_holysheep.budgets.spec import parse_budgets
from otel_holysheep.report import budget_status
from otel_holysheep.report.budget_status import Month
from otel_holysheep.report.cli import main

Serve = Callable[[Handler], tuple[str, Seen]]

BUDGETS = """\
budgets:
  - team: search
    monthly_usd: 100
  - model: gpt-4.1
    monthly_usd: 55
  - name: summaries
    route: /summarize
    monthly_usd: 1000
"""
# Thursday 2026-12-03 12:00 UTC: 2.5 days into a 31-day month, 28.5 days left
NOW = datetime(2026, 12, 3, 12, tzinfo=UTC).timestamp()
EARLY = datetime(2026, 12, 1, 6, tzinfo=UTC).timestamp()


@pytest.fixture
def budgets_file(tmp_path: Path) -> Path:
    path = tmp_path / "budgets.yaml"
    path.write_text(BUDGETS)
    return path


def canned(now: float, spend: dict[str, tuple[float | None, float | None]]) -> dict[str, list[dict[str, object]]]:
    """The PromQL the report sends for ``now``, answered with (month to date, last day) per budget (None: empty)."""
    plan = budget_status.prometheus_queries(parse_budgets(BUDGETS, "b"), "", Month.around(now))
    answers: dict[str, list[dict[str, object]]] = {}
    for name, (mtd_query, day_query) in plan.items():
        mtd, day = spend.get(name, (None, None))
        answers[mtd_query] = [] if mtd is None else [{"metric": {}, "value": mtd}]
        answers[day_query] = [] if day is None else [{"metric": {}, "value": day}]
    return answers


SPEND = {"team=search": (20.0, 12.0), "model=gpt-4.1": (5.0, 1.5)}


def test_month() -> None:
    month = Month.around(NOW)
    assert month.start == datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    assert month.end == datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    assert (month.elapsed_s, month.remaining_s) == (2.5 * 86400, 28.5 * 86400)
    assert month.describe() == "December 2026, day 3 of 31 (UTC)"
    assert (
        Month.around(datetime(2028, 2, 29, 23, tzinfo=UTC).timestamp()).describe()
        == "February 2028, day 29 of 29 (UTC)"
    )


def test_queries_cover_the_month_so_far() -> None:
    plan = budget_status.prometheus_queries(parse_budgets(BUDGETS, "b"), 'job="app"', Month.around(NOW))
    assert plan["team=search"] == (
        'sum(increase(holysheep_cost_usd_total{team="search", job="app"}[216000s]))',
        'sum(increase(holysheep_cost_usd_total{team="search", job="app"}[1d]))',
    )


def test_json_from_prometheus(
    serve: Serve, budgets_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(budget_status, "current_time", lambda: NOW)
    url, seen = serve(fake_prometheus(canned(NOW, SPEND)))
    assert main(["--prometheus", url, "--budgets", str(budgets_file), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {row["budget"]: row for row in doc["budgets"]}
    search, gpt, summaries = rows["team=search"], rows["model=gpt-4.1"], rows["summaries"]
    assert search["projected_month_end_usd"] == pytest.approx(20 + 12 * 28.5)
    assert search["projected_pct"] == pytest.approx(362.0)
    assert search["remaining_usd"] == pytest.approx(80.0)
    assert search["status"] == "projected over budget"
    assert gpt["projected_month_end_usd"] == pytest.approx(5 + 1.5 * 28.5)
    assert gpt["status"] == "projected above 80%"  # 86.8%
    # no spend at all: Prometheus answers an empty vector, which is zero
    assert (summaries["month_to_date_usd"], summaries["remaining_usd"], summaries["status"]) == (
        0.0,
        1000.0,
        "on track",
    )
    assert summaries["labels"] == {"route": "/summarize"}
    assert {float(params["time"]) for _, params in seen.requests} == {NOW}
    assert len(seen.requests) == 6


def test_table_from_prometheus(
    serve: Serve, budgets_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(budget_status, "current_time", lambda: NOW)
    url, _ = serve(fake_prometheus(canned(NOW, SPEND)))
    assert main(["--prometheus", url, "--budgets", str(budgets_file)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"otel-holysheep report --budgets: from Prometheus at {url}"
    assert lines[1].split() == ["BUDGET", "SPENT", "THIS", "MONTH", "(USD)", "PACE", "(USD/DAY)", "PROJECTED", "(USD)",
                                "BUDGET", "(USD)", "PROJECTED", "(%)", "REMAINING", "(USD)", "STATUS"]  # fmt: skip
    assert lines[2].split() == ["team=search", "20.00", "12.00", "362.00", "100.00", "362.0", "80.00", "projected",
                                "over", "budget"]  # fmt: skip
    assert lines[3].split()[:7] == ["model=gpt-4.1", "5.00", "1.50", "47.75", "55.00", "86.8", "50.00"]
    assert "Month: December 2026, day 3 of 31 (UTC)." in out


def test_early_in_the_month_a_projection_below_the_floor_is_said_so(
    serve: Serve, budgets_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(budget_status, "current_time", lambda: EARLY)
    spend = {"team=search": (4.0, 10.0), "model=gpt-4.1": (60.0, 60.0)}
    url, _ = serve(fake_prometheus(canned(EARLY, spend)))
    assert main(["--prometheus", url, "--budgets", str(budgets_file), "--format", "csv"]) == 0
    rows = {row["budget"]: row for row in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert rows["team=search"]["status"] == "projected 312%, below the alert floor"  # 6 hours old, min_elapsed 1d
    assert rows["model=gpt-4.1"]["status"] == "over budget"  # already spent: no floor
    assert rows["summaries"]["since_start_usd"] == ""


def _cost_by_hand(**labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(ATTRIBUTED_FIXTURE.read_text()):
        for sample in family.samples:
            if sample.name == "holysheep_cost_usd_total" and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_from_metrics_only_the_spend_since_start(
    serve: Serve, budgets_file: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    url, _ = serve(metrics_page(ATTRIBUTED_FIXTURE.read_text()))
    assert main(["--metrics", f"{url}/metrics", "--budgets", str(budgets_file), "--format", fmt]) == 0
    out = capsys.readouterr().out
    expected = {"team=search": _cost_by_hand(team="search"), "model=gpt-4.1": _cost_by_hand(model="gpt-4.1"),
                "summaries": _cost_by_hand(route="/summarize")}  # fmt: skip
    assert all(value > 0 for value in expected.values())
    if fmt == "json":
        rows = {row["budget"]: row for row in json.loads(out)["budgets"]}
        assert {name: row["since_start_usd"] for name, row in rows.items()} == pytest.approx(expected)
        assert {row["month_to_date_usd"] for row in rows.values()} == {None}
        assert {row["status"] for row in rows.values()} == {"needs Prometheus"}
    else:
        assert "need Prometheus (--prometheus URL)" in out
        rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:5]}
        assert rows == {name: [f"{value:,.2f}", f"{budget:,.2f}"] for (name, value), budget in
                        zip(expected.items(), (100, 55, 1000), strict=True)}  # fmt: skip
        assert "SPENT SINCE START (USD)" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--what-if"], "--budgets and --what-if are two reports"),
        (["--window", "7d"], "--window does not apply to --budgets"),
        (["--by", "team"], "--by does not apply to --budgets"),
    ],
)
def test_options_that_do_not_apply(
    budgets_file: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--prometheus", "http://127.0.0.1:9", "--budgets", str(budgets_file), *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_bad_budgets_file_is_one_line(serve: Serve, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(metrics_page(ATTRIBUTED_FIXTURE.read_text()))
    bad = tmp_path / "b.yaml"
    bad.write_text("budgets:\n  - team: a\n    monthly_usd: 0\n")
    assert main(["--metrics", url, "--budgets", str(bad)]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"otel-holysheep report: budgets file: {bad}, line 3, budgets[0].monthly_usd: must be above zero, got 0\n"
    )


def test_print_queries(budgets_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(budget_status, "current_time", lambda: NOW)
    argv = ["--prometheus", "http://127.0.0.1:9", "--budgets", str(budgets_file), "--print-queries"]
    assert main([*argv, "--selector", '{job="app"}']) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0]
        == 'team=search month to date: sum(increase(holysheep_cost_usd_total{team="search", job="app"}[216000s]))'
    )
    assert len(out) == 6
