"""``--by``: the report per route, team or model and team, from /metrics (an exporter fixture with attribution labels)
and from Prometheus; golden files for every format.

Regenerate the golden files after an intended change: REPORT_UPDATE_GOLDEN=1 pytest tests/report
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from report_fixture_gen import ATTRIBUTED_FIXTURE, EXPECTED_BY_ROUTE, EXPECTED_BY_TEAM
from report_helpers import FIXTURE_TEXT, Handler, Seen, fake_prometheus, metrics_page

from otel_holysheep.report import queries
from otel_holysheep.report.cli import main
from otel_holysheep.report.formats import FORMATS, render
from otel_holysheep.report.model import Report
from otel_holysheep.report.sources import parse_exposition, report_from_samples

GOLDEN = Path(__file__).parent / "golden"
EXTENSIONS = {"table": "txt", "markdown": "md", "csv": "csv", "json": "json"}
ATTRIBUTED_TEXT = ATTRIBUTED_FIXTURE.read_text()
Serve = Callable[[Handler], tuple[str, Seen]]


def _report(by: tuple[str, ...], text: str = ATTRIBUTED_TEXT) -> Report:
    return report_from_samples(parse_exposition(text, url="fixture"), url="fixture", by=by)


def _check_golden(text: str, name: str) -> None:
    path = GOLDEN / name
    if os.environ.get("REPORT_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize(("by", "expected"), [(("route",), EXPECTED_BY_ROUTE), (("team",), EXPECTED_BY_TEAM)])
def test_numbers_per_group_match_what_was_fed_in(by: tuple[str, ...], expected: dict[str, tuple[float, ...]]) -> None:
    report = _report(by)
    rows = {row.labels[0]: row for row in (*report.rows, report.total)}
    assert [row.labels[0] for row in report.rows] == [k for k in expected if k != "TOTAL"]
    for key, (requests, success, tokens_in, tokens_out, cost) in expected.items():
        row = rows[key]
        assert (row.requests, row.tokens_in, row.tokens_out) == (requests, tokens_in, tokens_out), key
        assert row.success_rate_pct == pytest.approx(success, rel=1e-12), key
        assert row.cost_usd == pytest.approx(cost, rel=1e-12), key
        assert (row.avg_latency_s, row.p95_latency_s, row.p95_ttft_s) == (None, None, None)
    assert report.unpriced_elsewhere == ("my-finetune",)
    assert report.unpriced_models == ()


def test_by_model_and_team_splits_both() -> None:
    report = _report(("model", "team"))
    assert [row.labels for row in report.rows] == [
        ("deepseek-v3.2", "ads"),
        ("gpt-4.1", "search"),
        ("gpt-4.1", "(none)"),
        ("deepseek-v3.2", "(none)"),
        ("my-finetune", "search"),
    ]
    finetune = report.rows[-1]
    assert finetune.cost_usd is None and report.unpriced_models == ("my-finetune, search",)
    assert report.total.labels == ("TOTAL", "")
    assert report.total.requests == 71


@pytest.mark.parametrize("fmt", FORMATS)
def test_golden_by_route(fmt: str) -> None:
    title = "otel-holysheep report by route: since process start, from http://127.0.0.1:9464/metrics"
    text = render(_report(("route",)), fmt, title if fmt in ("table", "markdown") else None)
    _check_golden(text, f"report-by-route.{EXTENSIONS[fmt]}")


def test_golden_by_model_and_team_table() -> None:
    _check_golden(render(_report(("model", "team")), "table"), "report-by-model-team.txt")


def test_json_and_csv_keys_are_the_labels() -> None:
    objects = json.loads(render(_report(("model", "team")), "json"))
    assert list(objects[0]) == [
        "model", "team", "requests", "success_rate_pct", "tokens_in", "tokens_out", "cost_usd", "usd_per_1m_tokens",
        "tokens_per_usd",
    ]  # fmt: skip
    assert objects[0]["team"] == "ads" and objects[0]["cost_usd"] == 0.0231
    assert render(_report(("route",)), "csv").splitlines()[0].startswith("route,requests,success_rate_pct,tokens_in")


def test_by_model_is_the_default_report() -> None:
    assert render(_report(("model",), FIXTURE_TEXT), "csv") == (GOLDEN / "report.csv").read_text()


def test_labels_nobody_set_say_so() -> None:
    table = render(_report(("route",), FIXTURE_TEXT), "table")
    assert table.splitlines()[2].split()[0] == "(none)"
    assert (
        "No request carried route: set OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION in the app (route) and check that "
        "the label exists." in table
    )


# --- the CLI -------------------------------------------------------------------------------------------------------


def test_cli_metrics_by_route(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(metrics_page(ATTRIBUTED_TEXT))
    assert main(["--metrics", f"{url}/metrics", "--by", "route"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    golden = (GOLDEN / "report-by-route.txt").read_text()
    assert out == golden.replace("http://127.0.0.1:9464/metrics", f"{url}/metrics")


def test_cli_prometheus_by_team(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    qs = queries.report_queries("24h", None, "team")
    assert set(qs) == {"requests", "successes", "tokens", "cost", "unpriced_tokens"}
    assert qs["cost"] == "sum by (team) (increase(holysheep_cost_usd_total[24h]))"
    assert qs["tokens"] == (
        'sum by (team, token_type) (increase(holysheep_tokens_total{token_type=~"prompt|completion"}[24h]))'
    )

    def vector(**values: float) -> list[dict[str, object]]:
        return [{"metric": {"team": team} if team != "none" else {}, "value": v} for team, v in values.items()]

    canned = {
        qs["requests"]: vector(search=26.1, ads=29.9, none=15),
        qs["successes"]: vector(search=24.1, ads=29.9, none=15),
        qs["tokens"]: [
            {"metric": {"team": "search", "token_type": "prompt"}, "value": 21000},
            {"metric": {"team": "search", "token_type": "completion"}, "value": 4500},
            {"metric": {"team": "ads", "token_type": "prompt"}, "value": 60000},
            {"metric": {"team": "ads", "token_type": "completion"}, "value": 15000},
        ],
        qs["cost"]: vector(search=0.072, ads=0.0231, none=0.01835),
        qs["unpriced_tokens"]: [{"metric": {"model": "my-finetune"}, "value": 1500}],
    }
    url, seen = serve(fake_prometheus(canned))
    assert main(["--prometheus", url, "--window", "24h", "--by", "team", "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines() == [
        "team,requests,success_rate_pct,tokens_in,tokens_out,cost_usd,usd_per_1m_tokens,tokens_per_usd",
        "ads,30,100.0,60000,15000,0.0231,0.3080,3246753",
        "search,26,92.3,21000,4500,0.0720,2.8235,354167",
        "(none),15,100.0,0,0,0.0184,-,0",  # a cost but no token counts in the window: no price per token
        "TOTAL,71,97.2,81000,19500,0.1134,1.1289,885853",
    ]
    assert len(seen.requests) == 5


def test_cli_print_queries_by_route(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--prometheus", "http://prom:9090", "--by", "route", "--print-queries"]) == 0
    out = capsys.readouterr().out
    assert "requests: sum by (route) (increase(holysheep_requests_total[7d]))\n" in out
    assert "p95" not in out


@pytest.mark.parametrize(
    ("by", "message"),
    [
        ("endpoint", "invalid --by 'endpoint': endpoint is not on every series the report reads"),
        ("route,status", "invalid --by 'route,status': status is not on every series"),
        ("team name", "invalid --by 'team name': use label names separated by commas"),
        ("route,route", "invalid --by 'route,route': name each label once"),
        ("", "invalid --by '': use label names"),
    ],
)
def test_cli_bad_by(by: str, message: str, capsys: pytest.CaptureFixture[str], dead_url: str) -> None:
    assert main(["--metrics", dead_url, "--by", by]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"otel-holysheep report: {message}") and err.count("\n") == 1
