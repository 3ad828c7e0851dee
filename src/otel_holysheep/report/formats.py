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
# Shown only when the gateway reported its own cost (usage.cost) for some calls: ours for those calls against it.
GATEWAY_COLUMNS: tuple[Column, ...] = (
    Column("GATEWAY COST (USD)", "Gateway cost (USD)", "gateway_cost_usd", lambda r: r.gateway_cost_usd, "usd"),
    Column("OURS (USD)", "Ours (USD)", "gateway_cost_ours_usd", lambda r: r.gateway_cost_ours_usd, "usd"),
    Column("DRIFT (%)", "Drift (%)", "gateway_drift_pct", lambda r: r.gateway_drift_pct, "drift"),
)
FORMATS = ("table", "markdown", "csv", "json")
# Read from histograms, which carry no attribution labels: only in a report per model.
_PER_MODEL_ONLY = frozenset({"avg_latency_s", "p95_latency_s", "p95_ttft_s"})
_NONE = "(none)"


def columns(report: Report) -> tuple[Column, ...]:
    """``COLUMNS`` for a report per model (and the gateway's cost beside ours, when it reported one); grouped by
    other labels, one text column per label and no latency."""
    if report.per_model:
        return COLUMNS + GATEWAY_COLUMNS if report.gateway_costs else COLUMNS

    def label_column(index: int, name: str) -> Column:
        return Column(name.upper(), name[:1].upper() + name[1:], name, lambda r: r.labels[index], "text")

    labels = tuple(label_column(i, name) for i, name in enumerate(report.by))
    return labels + tuple(c for c in COLUMNS[1:] if c.key not in _PER_MODEL_ONLY)


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
    if column.kind == "drift":
        return f"{value:+.1f}"
    return f"{value:,.4f}" if grouping else f"{value:.4f}"


def row_cells(report: Report, row: ModelRow) -> list[str]:
    """One row's cells as the text table prints them (the HTML page's table uses the same)."""
    return [_cell(c, row, grouping=True) for c in columns(report)]


def footnotes(report: Report) -> list[str]:
    """The notes printed under the table."""
    return _footnotes(report)


def _footnotes(report: Report) -> list[str]:
    if not report.per_model:
        return _grouped_footnotes(report)
    notes = []
    if any(row.p95_ttft_s is None for row in report.rows):
        notes.append(f'P95 TTFT "{NO_DATA}": no streamed requests (time to first token is measured on streams only).')
    if report.unpriced_models:
        names = ", ".join(report.unpriced_models)
        notes.append(
            f'Cost "{UNKNOWN_COST}": no price for {names} (tokens used, but not in the price book); '
            "TOTAL cost, USD / 1M tokens and tokens / USD cover priced models only."
        )
    if report.gateway_costs:
        notes.append(
            "Gateway cost: what the gateway reported itself (usage.cost) for the calls that carried it; ours: the "
            "price book's cost of those same calls; drift: ours against the gateway's, in percent of it."
        )
    return notes


def substitution_lines(report: Report) -> list[str]:
    """One line per (requested, served) pair: responses served by another model than the one requested."""
    lines = []
    for s in report.substitutions:
        share = "" if s.share_pct is None else f" ({s.share_pct:.1f}% of {s.model}'s requests)"
        plural = "" if round(s.responses) == 1 else "s"
        lines.append(f"{s.model} -> {s.served_model}: {round(s.responses):,} response{plural}{share}")
    return lines


_SUBSTITUTED = "Served by another model than requested (priced as the model that served them):"


def _grouped_footnotes(report: Report) -> list[str]:
    notes = ["Latency and time to first token are per model only (--by model): histograms carry no attribution labels."]
    for index, name in enumerate(report.by):
        if name == "model" or not report.rows:
            continue
        empty = sum(1 for row in report.rows if row.labels[index] == _NONE)
        if empty == len(report.rows):
            notes.append(
                f"No request carried {name}: set OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION in the app "
                f"({'route' if name == 'route' else 'baggage.' + name}) and check that the label exists."
            )
        elif empty:
            why = "outside a server span with an http.route" if name == "route" else f"without a {name} baggage entry"
            notes.append(f'{name} "{_NONE}": requests made {why}.')
    if report.unpriced_models:
        notes.append(
            f'Cost "{UNKNOWN_COST}" ({"; ".join(report.unpriced_models)}): all tokens were of models without a price; '
            "TOTAL cost, USD / 1M tokens and tokens / USD cover priced rows only."
        )
    if report.unpriced_elsewhere:
        notes.append(
            f"No price for {', '.join(report.unpriced_elsewhere)}: those tokens add no cost to the rows that used them "
            "(and count in their USD / 1M tokens)."
        )
    return notes


def render_table(report: Report, title: str | None = None) -> str:
    cols = columns(report)
    lines = [row_cells(report, row) for row in (*report.rows, report.total)]
    header = [c.title for c in cols]
    widths = [max(len(header[i]), *(len(line[i]) for line in lines)) for i in range(len(cols))]
    texts = sum(1 for c in cols if c.kind == "text")

    def fmt(cells: list[str]) -> str:
        out = [cell.ljust(widths[i]) if i < texts else cell.rjust(widths[i]) for i, cell in enumerate(cells)]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    body = [fmt(header), rule, *(fmt(line) for line in lines[:-1]), rule, fmt(lines[-1])]
    notes = _footnotes(report)
    parts = ([title, ""] if title else []) + body + (["", *notes] if notes else [])
    swaps = substitution_lines(report)
    if swaps:
        parts += ["", _SUBSTITUTED, *(f"  {line}" for line in swaps)]
    return "\n".join(parts) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def render_markdown(report: Report, title: str | None = None) -> str:
    cols = columns(report)
    header = "| " + " | ".join(c.markdown for c in cols) + " |"
    align = "|" + "|".join(":---" if c.kind == "text" else "---:" for c in cols) + "|"
    rows = ["| " + " | ".join(_md_escape(_cell(c, row, grouping=True)) for c in cols) + " |" for row in report.rows]
    total = "| " + " | ".join(_bold(_md_escape(_cell(c, report.total, grouping=True))) for c in cols) + " |"
    notes = _footnotes(report)
    parts = ([f"**{_md_escape(title)}**", ""] if title else []) + [header, align, *rows, total]
    for note in notes:
        parts += ["", note]
    swaps = substitution_lines(report)
    if swaps:
        parts += ["", _SUBSTITUTED, "", *(f"- {_md_escape(line)}" for line in swaps)]
    return "\n".join(parts) + "\n"


def _bold(text: str) -> str:
    return f"**{text}**" if text else ""


def render_csv(report: Report, title: str | None = None) -> str:
    del title  # CSV stays a plain table
    cols = columns(report)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.key for c in cols])
    for row in (*report.rows, report.total):
        writer.writerow([_cell(c, row, grouping=False) for c in cols])
    return buffer.getvalue()


def _json_value(column: Column, row: ModelRow) -> float | int | str | None:
    value = column.value(row)
    if value is None or isinstance(value, str):
        return value
    if column.kind == "int":
        return round(value)
    return round(value, 6)


def render_json(report: Report, title: str | None = None) -> str:
    """A list of one object per row (no TOTAL: sum it yourself); ``null`` wherever the table shows - or n/a. When
    some responses came from another model than requested, each row has ``served_by`` (served model -> responses)."""
    del title
    cols = columns(report)
    objects: list[dict[str, object]] = [{c.key: _json_value(c, row) for c in cols} for row in report.rows]
    if report.substitutions:
        for row, obj in zip(report.rows, objects, strict=True):
            served = (s for s in report.substitutions if s.model == row.model)
            obj["served_by"] = {s.served_model: round(s.responses) for s in served}
    return json.dumps(objects, indent=2) + "\n"


RENDERERS: dict[str, Callable[[Report, str | None], str]] = {
    "table": render_table,
    "markdown": render_markdown,
    "csv": render_csv,
    "json": render_json,
}


def render(report: Report, fmt: str, title: str | None = None) -> str:
    return RENDERERS[fmt](report, title)
