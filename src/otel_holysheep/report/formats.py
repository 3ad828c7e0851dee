"""Rendering a ``Report``: an aligned text table, a Markdown table, CSV and JSON. Pure functions returning text."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass

from .model import ModelRow, Report

NO_DATA = "-"  # nothing measured (no streams for TTFT, no requests for a rate)
UNKNOWN_COST = "n/a"  # tokens were used but the price book could not price them: never a silent $0


@dataclass(frozen=True)
class Column:
    title: str  # table header (units in parentheses)
    markdown: str
    key: str  # CSV header and JSON field
    value: Callable[[ModelRow], float | str | None]
    kind: str  # text | int | pct | seconds | usd | ratio
    missing: str = NO_DATA


COLUMNS: tuple[Column, ...] = (
    Column("MODEL", "Model", "model", lambda r: r.model, "text"),
    Column("REQUESTS", "Requests", "requests", lambda r: r.requests, "int"),
    Column("SUCCESS (%)", "Success (%)", "success_rate_pct", lambda r: r.success_rate_pct, "pct"),
    Column("AVG LATENCY (s)", "Avg latency (s)", "avg_latency_s", lambda r: r.avg_latency_s, "seconds"),
    Column("P95 LATENCY (s)", "P95 latency (s)", "p95_latency_s", lambda r: r.p95_latency_s, "seconds"),
    Column("P95 TTFT (s)", "P95 TTFT (s)", "p95_ttft_s", lambda r: r.p95_ttft_s, "seconds"),
    Column("TOKENS IN", "Tokens in", "tokens_in", lambda r: r.tokens_in, "int"),
    Column("TOKENS OUT", "Tokens out", "tokens_out", lambda r: r.tokens_out, "int"),
    Column("COST (USD)", "Cost (USD)", "cost_usd", lambda r: r.cost_usd, "usd", UNKNOWN_COST),
    Column(
        "USD / 1M TOKENS", "USD / 1M tokens", "usd_per_1m_tokens", lambda r: r.usd_per_1m_tokens, "usd", UNKNOWN_COST
    ),
    Column("TOKENS / USD", "Tokens / USD", "tokens_per_usd", lambda r: r.tokens_per_usd, "int", UNKNOWN_COST),
)
FORMATS = ("table", "markdown", "csv", "json")


def _missing(column: Column, row: ModelRow) -> str:
    # Cost-derived columns are "n/a" only when the cost is unknown; with a known $0 they are merely "-".
    if column.missing == UNKNOWN_COST and row.cost_usd is not None:
        return NO_DATA
    return column.missing


def _cell(column: Column, row: ModelRow, *, grouping: bool) -> str:
    value = column.value(row)
    if value is None:
        return _missing(column, row)
    if isinstance(value, str):
        return value
    if column.kind == "int":
        return f"{round(value):,}" if grouping else str(round(value))
    if column.kind == "pct":
        return f"{value:.1f}"
    if column.kind == "seconds":
        return f"{value:.3f}"
    return f"{value:,.4f}" if grouping else f"{value:.4f}"


def _footnotes(report: Report) -> list[str]:
    notes = []
    if any(row.p95_ttft_s is None for row in report.rows):
        notes.append(f'P95 TTFT "{NO_DATA}": no streamed requests (time to first token is measured on streams only).')
    if report.unpriced_models:
        names = ", ".join(report.unpriced_models)
        notes.append(
            f'Cost "{UNKNOWN_COST}": no price for {names} (tokens used, but not in the price book); '
            "TOTAL cost, USD / 1M tokens and tokens / USD cover priced models only."
        )
    return notes


def render_table(report: Report, title: str | None = None) -> str:
    lines = [[_cell(c, row, grouping=True) for c in COLUMNS] for row in (*report.rows, report.total)]
    header = [c.title for c in COLUMNS]
    widths = [max(len(header[i]), *(len(line[i]) for line in lines)) for i in range(len(COLUMNS))]

    def fmt(cells: list[str]) -> str:
        out = [cells[0].ljust(widths[0])] + [cell.rjust(widths[i]) for i, cell in enumerate(cells) if i > 0]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    body = [fmt(header), rule, *(fmt(line) for line in lines[:-1]), rule, fmt(lines[-1])]
    notes = _footnotes(report)
    parts = ([title, ""] if title else []) + body + (["", *notes] if notes else [])
    return "\n".join(parts) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def render_markdown(report: Report, title: str | None = None) -> str:
    header = "| " + " | ".join(c.markdown for c in COLUMNS) + " |"
    align = "|" + "|".join(":---" if c.kind == "text" else "---:" for c in COLUMNS) + "|"
    rows = ["| " + " | ".join(_md_escape(_cell(c, row, grouping=True)) for c in COLUMNS) + " |" for row in report.rows]
    total = "| " + " | ".join(f"**{_md_escape(_cell(c, report.total, grouping=True))}**" for c in COLUMNS) + " |"
    notes = _footnotes(report)
    parts = ([f"**{_md_escape(title)}**", ""] if title else []) + [header, align, *rows, total]
    for note in notes:
        parts += ["", note]
    return "\n".join(parts) + "\n"


def render_csv(report: Report, title: str | None = None) -> str:
    del title  # CSV stays a plain table
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.key for c in COLUMNS])
    for row in (*report.rows, report.total):
        writer.writerow([_cell(c, row, grouping=False) for c in COLUMNS])
    return buffer.getvalue()


def _json_value(column: Column, row: ModelRow) -> float | int | str | None:
    value = column.value(row)
    if value is None or isinstance(value, str):
        return value
    if column.kind == "int":
        return round(value)
    return round(value, 6)


def render_json(report: Report, title: str | None = None) -> str:
    """A list of one object per model (no TOTAL: sum it yourself); ``null`` wherever the table shows - or n/a."""
    del title
    objects = [{c.key: _json_value(c, row) for c in COLUMNS} for row in report.rows]
    return json.dumps(objects, indent=2) + "\n"


RENDERERS: dict[str, Callable[[Report, str | None], str]] = {
    "table": render_table,
    "markdown": render_markdown,
    "csv": render_csv,
    "json": render_json,
}


def render(report: Report, fmt: str, title: str | None = None) -> str:
    return RENDERERS[fmt](report, title)
