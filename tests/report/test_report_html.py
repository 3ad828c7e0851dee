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
from report_helpers import Handler, Seen, metrics_page
from tests.browser import chromium, parse, render, text_rows, what_if_groups

from otel_holysheep._pricing import PriceBook
from otel_holysheep.report import html_page, page_data, whatif_data
from otel_holysheep.report.cli import main
from otel_holysheep.report.page_data import Chart, Series
from otel_holysheep.report.sources import parse_exposition
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
