"""Rendering a ``BudgetReport``: text table, Markdown, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from ..budgets.spec import promql_duration
from .budget_status import BudgetReport, BudgetStatus
from .formats import NO_DATA

NEEDS_PROMETHEUS = "needs Prometheus"
HEADERS = (
    ("BUDGET", "Budget"),
    ("SPENT THIS MONTH (USD)", "Spent this month (USD)"),
    ("PACE (USD/DAY)", "Pace (USD/day)"),
    ("PROJECTED (USD)", "Projected month-end (USD)"),
    ("BUDGET (USD)", "Budget (USD)"),
    ("PROJECTED (%)", "Projected (%)"),
    ("REMAINING (USD)", "Remaining (USD)"),
    ("STATUS", "Status"),
)
SINCE_START_HEADERS = (
    ("BUDGET", "Budget"),
    ("SPENT SINCE START (USD)", "Spent since start (USD)"),
    ("BUDGET (USD)", "Budget (USD)"),
)


def _usd(value: float | None, missing: str = NEEDS_PROMETHEUS) -> str:
    return missing if value is None else f"{value:,.2f}"


def _cells(report: BudgetReport, row: BudgetStatus) -> list[str]:
    if not report.month_to_date_known:
        return [row.budget.name, _usd(row.since_start_usd, NO_DATA), _usd(row.budget.monthly_usd)]
    pct = row.projected_pct
    return [
        row.budget.name,
        _usd(row.month_to_date_usd),
        _usd(row.pace_usd_per_day),
        _usd(row.projected_usd),
        _usd(row.budget.monthly_usd),
        NO_DATA if pct is None else f"{pct:.1f}",
        _usd(row.remaining_usd),
        report.status(row),
    ]


def _headers(report: BudgetReport, markdown: bool) -> list[str]:
    pairs = HEADERS if report.month_to_date_known else SINCE_START_HEADERS
    return [pair[1] if markdown else pair[0] for pair in pairs]


def notes(report: BudgetReport) -> list[str]:
    b = report.budgets
    lines = [
        f"Month: {report.month.describe()}. Projected = spent this month + the last day's pace x the days left."
        if report.month_to_date_known
        else f"Month: {report.month.describe()}.",
        f"Alerts (otel-holysheep rules): warning at a projected {b.warn_at_pct:g}%, page at {b.page_at_pct:g}%, "
        f"once the month is {promql_duration(b.min_elapsed_s)} old and the spend above the budget's min_spend_usd "
        "(or the budget is spent).",
    ]
    if not report.month_to_date_known:
        lines.append(
            "A /metrics page holds totals since the app started: the spend this month, the pace and the projection "
            "need Prometheus (--prometheus URL)."
        )
    return lines


def _text_columns(report: BudgetReport) -> tuple[int, ...]:
    """The left-aligned columns: the budget's name, and the status when there is one."""
    return (0, len(HEADERS) - 1) if report.month_to_date_known else (0,)


def render_table(report: BudgetReport, title: str | None = None) -> str:
    rows = [_headers(report, False), *(_cells(report, r) for r in report.statuses)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    text = _text_columns(report)
    lines = [title] if title else []
    for row in rows:
        cells = zip(row, widths, strict=True)
        lines.append("  ".join(c.ljust(w) if i in text else c.rjust(w) for i, (c, w) in enumerate(cells)).rstrip())
    return "\n".join([*lines, "", *notes(report)]) + "\n"


def render_markdown(report: BudgetReport, title: str | None = None) -> str:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    headers = _headers(report, True)
    lines = [f"**{title}**", ""] if title else []
    text = _text_columns(report)
    lines += [row(headers), "|" + "|".join("---" if i in text else "---:" for i in range(len(headers))) + "|"]
    lines += [row(_cells(report, r)) for r in report.statuses]
    return "\n".join([*lines, "", *notes(report)]) + "\n"


def _record(report: BudgetReport, row: BudgetStatus) -> dict[str, Any]:
    return {
        "budget": row.budget.name,
        "labels": dict(row.budget.matchers),
        "monthly_usd": row.budget.monthly_usd,
        "min_spend_usd": row.budget.min_spend_usd,
        "month_to_date_usd": row.month_to_date_usd,
        "pace_usd_per_day": row.pace_usd_per_day,
        "projected_month_end_usd": row.projected_usd,
        "projected_pct": row.projected_pct,
        "remaining_usd": row.remaining_usd,
        "since_start_usd": row.since_start_usd,
        "status": report.status(row),
    }


def render_json(report: BudgetReport, title: str | None = None) -> str:
    doc = {
        "source": report.source,
        "month_start": report.month.start,
        "month_end": report.month.end,
        "at": report.month.now,
        "warn_at_pct": report.budgets.warn_at_pct,
        "page_at_pct": report.budgets.page_at_pct,
        "notes": notes(report),
        "budgets": [_record(report, r) for r in report.statuses],
    }
    return json.dumps(doc, indent=2) + "\n"


def render_csv(report: BudgetReport, title: str | None = None) -> str:
    out = io.StringIO()
    records = [_record(report, r) for r in report.statuses]
    fields = [k for k in records[0] if k != "labels"]
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if record[k] is None else record[k] for k in fields})
    return out.getvalue()


RENDERERS: dict[str, Callable[[BudgetReport, str | None], str]] = {
    "table": render_table,
    "markdown": render_markdown,
    "csv": render_csv,
    "json": render_json,
}
