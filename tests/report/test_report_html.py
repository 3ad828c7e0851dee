"""``report --format html``: the page's tables are the text report's and the what-if's cells, the data block cannot
break out of its script element, the page needs no network, the vendored chart library is the pinned one; and in a
real headless Chromium every chart renders with the expected series (a screenshot is kept in .cache/artifacts/)."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from report_fixture_gen import WHATIF_FIXTURE
from report_helpers import Answer, Handler, Seen, metrics_page
from tests.browser import chromium, parse, render, text_rows, what_if_groups

from otel_holysheep._pricing import PriceBook
from otel_holysheep.report import html_page, page_data, whatif_data
from otel_holysheep.report.cli import main
from otel_holysheep.report.page_data import Chart, Series
from otel_holysheep.report.sources import PrometheusSource, parse_exposition
from otel_holysheep.report.whatif import Bounds

Serve = Callable[[Handler], tuple[str, Seen]]
REPO = Path(__file__).resolve().parents[2]
VENDOR = REPO / "src" / "otel_holysheep" / "report" / "vendor"
ATTRIBUTED = Path(__file__).parent / "fixtures" / "metrics-attributed.txt"
HOSTILE = '</script><script>document.title="pwned"</script><!--'


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def page_from_fixture(tmp_path: Path, serve: Serve, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    url, _ = serve(metrics_page(WHATIF_FIXTURE.read_text()))
    out = tmp_path / "week.html"
    code, stdout, err = run(["--metrics", f"{url}/metrics", "--format", "html", "-o", str(out), *extra], capsys)
    assert (code, stdout) == (0, ""), err
    assert err == f"otel-holysheep report: wrote {out}\n"
    return out.read_text(encoding="utf-8")


def test_page_tables_equal_the_text_report_and_what_if(
    tmp_path: Path, serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = serve(metrics_page(WHATIF_FIXTURE.read_text()))
    bounds = ["--max-p95", "2s", "--min-success", "99%"]
    code, text, err = run(["--metrics", f"{url}/metrics"], capsys)
    assert code == 0, err
    code, what_if_text, err = run(["--metrics", f"{url}/metrics", "--what-if", *bounds], capsys)
    assert code == 0, err
    page = parse(page_from_fixture(tmp_path, serve, capsys, *bounds))

    # the per-model table, TOTAL included: cell for cell the text report's
    assert page.table(id="report-table") == text_rows(text)
    assert len(page.table(id="report-table")) == 6  # header, four models, TOTAL

    # the what-if: each group's heading, candidates and verdict as the text what-if prints them
    groups = what_if_groups(what_if_text)
    assert len(groups) == 4
    raw = page_from_fixture(tmp_path, serve, capsys, *bounds)
    for index, (heading, rows, verdict) in enumerate(groups):
        assert page.table(**{"class": "what-if", "data-group": str(index)}) == rows
        assert f">{heading}</h3>" in raw
        assert f"&rarr; {verdict}</p>" in raw
    assert "Assumes the same requests with the same token counts" in raw
    assert "Bounds: P95 latency &lt;= 2 s, success &gt;= 99%." in raw
    assert raw.count('<tr class="recommended">') == 4

    # error and truncation rates: 100 - the report's success, finishes "length" over all finishes
    rates = {row[0]: row[1:] for row in page.table(id="rates-table")[1:]}
    success = {row[0]: row[2] for row in text_rows(text)[1:-1]}
    for model, (requests, errors, _truncated) in rates.items():
        assert errors == f"{100 - float(success[model]):.1f}"
        assert requests == next(r[1] for r in text_rows(text) if r[0] == model)
    assert rates["deepseek-v3.2"][2] == "not observed"


def test_page_is_self_contained_and_embeds_the_pinned_library(
    tmp_path: Path, serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = page_from_fixture(tmp_path, serve, capsys)
    # nothing to fetch: no external script, stylesheet, image, font or frame; the library is inline
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)=", raw, re.I)
    assert "url(" not in raw.split("<script", 1)[0]  # the stylesheet loads nothing
    assert "sourceMappingURL" not in raw
    assert html_page.library_script() in raw
    assert "Chart.js v4.5.1" in raw
    assert "Permission is hereby granted" in raw  # the library's MIT licence travels with it
    data = json.loads(parse(raw).json_blocks[0])
    assert [c["key"] for c in data["charts"]] == [
        "p95_latency",
        "p95_ttft",
        "error_rate",
        "truncation_rate",
        "cost_per_day_model",
    ]


def test_vendored_chart_library_matches_the_recorded_sha256() -> None:
    recorded = dict(
        reversed(line.split(None, 1)) for line in (VENDOR / "SHA256SUMS").read_text().splitlines() if line.strip()
    )
    assert set(recorded) == {"chart.umd.min.js", "LICENSE.md"}
    for name, digest in recorded.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert html_page.library_sha256() == recorded["chart.umd.min.js"]
    script = (REPO / "scripts" / "vendor-chart-library.sh").read_text()
    package, version = (VENDOR / "VERSION").read_text().split()
    assert f"PACKAGE={package}\n" in script and f"VERSION={version}\n" in script
    assert "MIT License" in (VENDOR / "LICENSE.md").read_text()


def fixed_page(charts: tuple[Chart, ...] = (), source: str = "fixture") -> html_page.Page:
    """A page of the what-if fixture (a fixed data model), with the given charts."""
    samples = parse_exposition(WHATIF_FIXTURE.read_text(), url="fixture")
    found = whatif_data.from_samples(samples, url="fixture", by=("model",))
    rates = tuple(html_page.RateRow(r.model, r.requests, 0.0, None) for r in found.per_model.rows)
    return html_page.Page(
        title="t",
        source=source,
        generated_at=0.0,
        report=found.report,
        rates=rates,
        what_if=found.what_if(PriceBook.default(), Bounds()),
        charts=charts or page_data.from_samples(samples, found, "fixture"),
    )


def test_no_data_can_break_out_of_the_script_element() -> None:
    chart = Chart("p95_latency", HOSTILE, "s", "line", (HOSTILE, "b"), (Series(HOSTILE, (1.0, None)),))
    raw = html_page.render_page(fixed_page((chart,), source=HOSTILE))
    assert HOSTILE not in raw
    assert raw.count("</script>") == 3  # the data block, the library, the page's own script
    block = parse(raw).json_blocks[0]
    assert "<" not in block and ">" not in block and "&" not in block
    data = json.loads(block)
    assert data["charts"][0]["series"] == [{"name": HOSTILE, "values": [1.0, None]}]
    assert data["charts"][0]["x"] == [HOSTILE, "b"]


def test_cost_per_team_when_attributed(tmp_path: Path, serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(metrics_page(ATTRIBUTED.read_text()))
    out = tmp_path / "page.html"
    code, _, err = run(["--metrics", url, "--format", "html", "-o", str(out), "--by", "team"], capsys)
    assert code == 0, err
    page = parse(out.read_text())
    data = json.loads(page.json_blocks[0])
    teams = next(c for c in data["charts"] if c["key"] == "cost_per_day_team")
    assert {s["name"] for s in teams["series"]} == {"ads", "search", "(none)"}
    code, text, err = run(["--metrics", url, "--by", "team"], capsys)
    assert code == 0, err
    assert page.table(id="report-table") == text_rows(text)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--format", "html", "--what-if"], "already holds the what-if table"),
        (["--format", "html", "--budgets", "b.yaml"], "--budgets has no html format"),
    ],
)
def test_cli_html_refusals(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--metrics", "http://127.0.0.1:9/metrics", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_unwritable_output_loses_nothing(tmp_path: Path, serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = serve(metrics_page(WHATIF_FIXTURE.read_text()))
    code, _, err = run(["--metrics", url, "--format", "html", "-o", str(tmp_path / "missing" / "p.html")], capsys)
    assert code == 2 and "cannot write" in err and str(tmp_path / "missing" / "p.html") in err
    kept = tmp_path / "kept.csv"
    kept.write_text("before\n")
    kept.chmod(0o640)
    assert run(["--metrics", url, "--format", "csv", "-o", str(kept)], capsys)[0] == 0
    assert kept.read_text().startswith("model,requests,")
    assert kept.stat().st_mode & 0o777 == 0o640  # replaced, permissions kept
    assert [p.name for p in tmp_path.iterdir()] == ["kept.csv"]  # no temporary file left behind


def test_range_steps_and_calendar_days() -> None:
    assert page_data.window_seconds("7d") == 7 * 86400
    assert page_data.window_seconds("1h30m") == 5400
    assert page_data.choose_step(7 * 86400) == 3600
    assert page_data.choose_step(600) == 15
    end = dt.datetime(2026, 12, 3, 13, 20, tzinfo=dt.timezone.utc).timestamp()
    edges = page_data.day_edges(end - 7 * 86400, end)
    assert [label for _, _, label in edges] == [
        "2026-11-26 (from 13:20)",
        "2026-11-27",
        "2026-11-28",
        "2026-11-29",
        "2026-11-30",
        "2026-12-01",
        "2026-12-02",
        "2026-12-03 (to 13:20)",
    ]
    assert edges[0][0] == end - 7 * 86400 and edges[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(edges))  # contiguous: the range, once


@pytest.mark.slow
def test_page_renders_every_chart_in_headless_chromium(
    tmp_path: Path, serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    browser, why = chromium()
    if browser is None:
        pytest.skip(why)
    raw = page_from_fixture(tmp_path, serve, capsys)
    expected = {c["key"]: c for c in json.loads(parse(raw).json_blocks[0])["charts"]}
    with capsys.disabled():
        shown = render(browser, tmp_path / "week.html", "report-html-metrics")
    assert shown.body.get("data-rendered") == "true", shown.body
    assert shown.body["data-charts"] == str(len(expected))
    assert set(shown.canvases) == {f"chart-{key}" for key in expected}
    for key, chart in expected.items():
        canvas = shown.canvases[f"chart-{key}"]
        assert canvas.series == [s["name"] for s in chart["series"]], key
        assert canvas.points == [sum(v is not None for v in s["values"]) for s in chart["series"]], key
        assert canvas.painted > 1000, key  # drawn, not blank
    assert shown.screenshot.stat().st_size > 10_000


def fake_range_prometheus(seen: list[str]) -> Handler:
    """A Prometheus HTTP API on loopback for the page's range and per-day queries, answered by the series they read:
    two models, a: 10 requests a step (9 successes), 4 finishes (1 "length"); b: no traffic at the middle point."""

    def matrix(params: dict[str, str], per_series: list[tuple[dict[str, str], list[float]]]) -> str:
        start, step = float(params["start"]), float(params["step"])
        result = [
            {"metric": labels, "values": [[start + i * step, str(v)] for i, v in enumerate(values)]}
            for labels, values in per_series
        ]
        return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}})

    def handle(path: str, params: dict[str, str]) -> Answer:
        promql = params["query"]
        seen.append(promql)
        if path == "/api/v1/query":  # the cost of one day piece
            result = [] if "by (team)" in promql else [{"metric": {"model": "a"}, "value": [params["time"], "0.5"]}]
            return Answer(
                200,
                "application/json",
                json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}),
            )
        n = round((float(params["end"]) - float(params["start"])) / float(params["step"])) + 1
        nan_middle = [1.0 if i != n // 2 else float("nan") for i in range(n)]
        if "holysheep_time_to_first_token" in promql:
            series: list[tuple[dict[str, str], list[float]]] = []
        elif "histogram_quantile" in promql:
            series = [({"model": "a"}, [0.5] * n), ({"model": "b"}, nan_middle)]
        elif "holysheep_finishes_total" in promql:
            series = [
                ({"model": "a", "finish_reason": "stop"}, [3.0] * n),
                ({"model": "a", "finish_reason": "length"}, [1.0] * n),
            ]
        elif 'status="success"' in promql:
            series = [({"model": "a"}, [9.0] * n)]
        else:
            series = [({"model": "a"}, [10.0] * n)]
        return Answer(200, "application/json", matrix(params, series))

    return handle


def test_charts_over_a_range_from_prometheus(serve: Serve) -> None:
    seen: list[str] = []
    url, _ = serve(fake_range_prometheus(seen))
    end = dt.datetime(2026, 12, 3, 13, 20, 7, tzinfo=dt.timezone.utc).timestamp()
    source = PrometheusSource(url, window="1h", now=end)
    charts = {c.key: c for c in page_data.from_prometheus(source, end)}
    assert set(charts) == {"p95_latency", "p95_ttft", "error_rate", "truncation_rate", "cost_per_day_model"}
    latency = charts["p95_latency"]
    # 1h every 30 s, the last point at the end itself (the newest data is drawn): 12:20:37 .. 13:20:07
    assert (len(latency.x), latency.x[0], latency.x[-1]) == (120, "12-03 12:20:37", "12-03 13:20:07")
    a, b = latency.series
    assert (a.name, set(a.values)) == ("a", {0.5})
    assert b.values[len(b.values) // 2] is None and b.values[0] == 1.0  # NaN: a gap, not a zero
    assert charts["p95_ttft"].series == ()  # no streams: "no data", not a flat line
    errors = [v for s in charts["error_rate"].series for v in s.values]
    assert errors == pytest.approx([10.0] * 120)  # 1 failure of 10 requests at every point
    assert [s.name for s in charts["truncation_rate"].series] == ["a"]
    assert set(charts["truncation_rate"].series[0].values) == {25.0}
    cost = charts["cost_per_day_model"]
    assert cost.x == ("2026-12-03 (from 12:20)",) and cost.series[0].values == (0.5,)
    assert "cost_per_day_team" not in charts  # no team label on the cost series
    # each point over the step (at least a minute): the report's own PromQL with [60s]
    assert any("[60s]" in q and "histogram_quantile" in q for q in seen)
    assert any("[3600s]" in q and "holysheep_cost_usd_total" in q for q in seen)  # 12:20:07 .. 13:20:07: one piece


def test_cost_per_day_whole_days_in_one_range_query(serve: Serve) -> None:
    seen: list[str] = []
    url, _ = serve(fake_range_prometheus(seen))
    end = dt.datetime(2026, 12, 3, 13, 20, 7, tzinfo=dt.timezone.utc).timestamp()
    cost = {c.key: c for c in page_data.from_prometheus(PrometheusSource(url, window="3d", now=end), end)}
    days = cost["cost_per_day_model"]
    assert days.x == ("2026-11-30 (from 13:20)", "2026-12-01", "2026-12-02", "2026-12-03 (to 13:20)")
    assert days.series[0].values == (0.5, 10.0, 10.0, 0.5)  # partial days: instant queries; whole: the range's
    cost_queries = [q for q in seen if "holysheep_cost_usd_total" in q]
    assert len(cost_queries) == 6  # per model and per team: one range query (two days) and two partial days


def test_charts_over_time_from_successive_reads_of_metrics() -> None:
    full = parse_exposition(WHATIF_FIXTURE.read_text(), url="fixture")
    half = [(name, labels, value / 2) for name, labels, value in full]  # halfway: every counter and bucket at half
    found = whatif_data.from_samples(full, url="fixture", by=("model",))
    snapshots = [(100.0, []), (110.0, half), (120.0, full), (130.0, full)]  # the last read adds nothing
    charts = {c.key: c for c in page_data.from_snapshots(snapshots, found, "fixture")}
    latency = charts["p95_latency"]
    assert latency.kind == "line" and latency.x == ("+10.0 s", "+20.0 s")  # no point for the empty interval
    rows = {r.model: r for r in found.per_model.rows}
    for series in latency.series:  # each half has the whole run's shape: the same P95
        assert series.values == pytest.approx((rows[series.name].p95_latency_s,) * 2)
    cost = {s.name: s.values for s in charts["cost_per_day_model"].series}
    for model, values in cost.items():
        assert values == pytest.approx((rows[model].cost_usd / 2,) * 2)
    truncation = {s.name: s.values for s in charts["truncation_rate"].series}
    assert truncation == {m: pytest.approx((found.truncation_pct(m),) * 2) for m in truncation}
    assert set(truncation) == {m for m in rows if found.truncation_pct(m) is not None}
    # two reads: one interval; a single read: the totals since start (one bar per model)
    assert page_data.from_snapshots([*snapshots[:1], (110.0, full)], found, "fixture")[0].x == ("+10.0 s",)
    assert page_data.from_snapshots([(110.0, full)], found, "fixture")[0].x == (page_data.SINCE_START,)
