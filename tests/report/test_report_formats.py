"""Golden files for the four formats (from the committed exporter fixture), plus the formats' own rules.

Regenerate the golden files after an intended change: REPORT_UPDATE_GOLDEN=1 pytest tests/report
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
from report_helpers import FIXTURE_TEXT

from otel_holysheep.report.formats import FORMATS, render
from otel_holysheep.report.model import RawStats, Report, make_report
from otel_holysheep.report.sources import parse_exposition, report_from_samples

GOLDEN = Path(__file__).parent / "golden"
TITLE = "otel-holysheep report: since process start, from http://127.0.0.1:9464/metrics"
EXTENSIONS = {"table": "txt", "markdown": "md", "csv": "csv", "json": "json"}


@pytest.fixture(scope="module")
def report() -> Report:
    return report_from_samples(parse_exposition(FIXTURE_TEXT, url="fixture"), url="fixture")


@pytest.mark.parametrize("fmt", FORMATS)
def test_golden(report: Report, fmt: str) -> None:
    text = render(report, fmt, TITLE if fmt in ("table", "markdown") else None)
    path = GOLDEN / f"report.{EXTENSIONS[fmt]}"
    if os.environ.get("REPORT_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_table_columns_are_aligned_with_units(report: Report) -> None:
    lines = render(report, "table").splitlines()
    header, rule = lines[0], lines[1]
    for unit in ("SUCCESS (%)", "AVG LATENCY (s)", "P95 LATENCY (s)", "P95 TTFT (s)", "COST (USD)", "USD / 1M TOKENS"):
        assert unit in header
    table = [line for line in lines[: len(report.rows) + 4]]
    widths = [len(part) for part in rule.split("  ")]
    ends = [sum(widths[: i + 1]) + 2 * i for i in range(len(widths))]
    for line in table[2:]:
        if line.startswith("-"):
            continue
        for end in ends[1:]:  # numbers are right-aligned: each column ends on the rule's end
            assert line[end - 1] != " ", (line, end)
    assert table[-1].startswith("TOTAL")


def test_markdown_right_aligns_numbers_and_escapes_pipes() -> None:
    rep = make_report({"a|b": (RawStats(requests=1, successes=1, cost_usd=0.0), None, None)}, None, None)
    text = render(rep, "markdown")
    assert "| a\\|b | 1 | 100.0 |" in text
    assert text.splitlines()[1].startswith("|:---|---:|")
    assert "| **TOTAL** | **1** |" in text


def test_csv_parses_with_total_last_and_plain_numbers(report: Report) -> None:
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert [r["model"] for r in rows] == ["gpt-4.1", "deepseek-v3", "my-finetune", "mystery", "TOTAL"]
    assert rows[0]["tokens_in"] == "120000" and rows[1]["tokens_per_usd"] == "1753947"
    assert rows[2]["cost_usd"] == "n/a" and rows[2]["p95_ttft_s"] == "-"


def test_json_is_numbers_and_nulls(report: Report) -> None:
    objects = json.loads(render(report, "json"))
    assert [o["model"] for o in objects] == ["gpt-4.1", "deepseek-v3", "my-finetune", "mystery"]
    first = objects[0]
    assert isinstance(first["requests"], int) and isinstance(first["tokens_in"], int)
    assert first["p95_latency_s"] == 1.9375 and first["cost_usd"] == 0.48 and first["usd_per_1m_tokens"] == 3.2
    assert objects[2]["cost_usd"] is None and objects[2]["usd_per_1m_tokens"] is None
    assert objects[1]["p95_ttft_s"] is None


def test_no_footnotes_when_everything_is_known() -> None:
    rep = make_report(
        {"m": (RawStats(requests=2, successes=2, tokens_in=10, tokens_out=10, cost_usd=0.5), 1.0, 0.2)}, 1.0, 0.2
    )
    table = render(rep, "table")
    assert table.splitlines()[-1].split() == ["TOTAL", "2", "100.0", "-", "1.000", "0.200", "10", "10", "0.5000",
                                              "25,000.0000", "40"]  # fmt: skip
    assert "n/a" not in render(rep, "table") and "streams only" not in render(rep, "markdown")


def test_known_zero_cost_shows_dash_not_na() -> None:
    rep = make_report({"free": (RawStats(requests=1, successes=1, tokens_in=5, cost_usd=0.0), None, None)}, None, None)
    row = next(csv.DictReader(io.StringIO(render(rep, "csv"))))
    assert row["cost_usd"] == "0.0000" and row["usd_per_1m_tokens"] == "0.0000" and row["tokens_per_usd"] == "-"
