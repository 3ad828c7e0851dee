"""Rendering a ``WhatIf``: text table, Markdown, CSV and JSON, each stating the assumption and the bounds."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from .formats import NO_DATA
from .whatif import NOT_OBSERVED, Candidate, GroupWhatIf, WhatIf

HEADERS = (
    ("CANDIDATE", "Candidate"),
    ("COST (USD)", "Cost (USD)"),
    ("SAVING (USD)", "Saving (USD)"),
    ("SAVING (%)", "Saving (%)"),
    ("P95 LATENCY (s)", "P95 latency (s)"),
    ("P95 TTFT (s)", "P95 TTFT (s)"),
    ("SUCCESS (%)", "Success (%)"),
    ("TRUNCATION (%)", "Truncation (%)"),
    ("WITHIN BOUNDS", "Within bounds"),
)


def _usd(value: float | None) -> str:
    return NO_DATA if value is None else _unsigned_zero(f"{value:,.4f}")


def _unsigned_zero(text: str) -> str:
    """``-0.0000`` / ``-0.0`` (a value that rounds to zero from below) as ``0.0000`` / ``0.0``."""
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text


def _num(value: float | None, digits: int) -> str:
    return NOT_OBSERVED if value is None else f"{value:.{digits}f}"


def _fits(candidate: Candidate) -> str:
    return "yes" if candidate.within_bounds else "no: " + "; ".join(candidate.violations)


def candidate_cells(c: Candidate) -> list[str]:
    seen = c.observed
    name = c.model + (" (current)" if c.is_current else "")
    return [
        name,
        _usd(c.cost_usd),
        _usd(c.saving_usd),
        NO_DATA if c.saving_pct is None else _unsigned_zero(f"{c.saving_pct:.1f}"),
        _num(seen.p95_latency_s, 3),
        _num(seen.p95_ttft_s, 3),
        _num(seen.success_rate_pct, 1),
        _num(seen.truncation_rate_pct, 1),
        _fits(c),
    ]


def group_heading(what_if: WhatIf, group: GroupWhatIf) -> str:
    t = group.tokens
    cost = "n/a (no price)" if group.observed_cost_usd is None else f"{group.observed_cost_usd:,.4f} USD"
    label = " ".join(f"{name}={value}" for name, value in zip(what_if.by, group.labels, strict=True))
    if what_if.by == ("model",):
        label = group.name
    return (
        f"{label}: {round(group.requests):,} requests; tokens in {round(t.input):,} (cached {round(t.cached):,}), "
        f"out {round(t.output):,}; observed cost {cost}"
    )


def verdict(what_if: WhatIf, group: GroupWhatIf) -> str:
    best = group.recommended
    if best is None:
        return f"no candidate within the bounds ({what_if.bounds.describe()})"
    where = "cheapest within the bounds" if what_if.bounds.any else "cheapest"
    if best.is_current:
        return f"{where}: {best.model}, the model already used"
    if best.saving_usd is None:
        return f"{where}: {best.model}, {best.cost_usd:,.4f} USD (saving unknown: no observed cost)"
    if best.saving_usd < 0:
        more = f" ({-(best.saving_pct or 0.0):.1f}% more)" if best.saving_pct is not None else ""
        return f"{where}: {best.model}, costs {-best.saving_usd:,.4f} USD more{more}: nothing cheaper meets them"
    return f"{where}: {best.model}, saves {best.saving_usd:,.4f} USD ({best.saving_pct or 0.0:.1f}%)"


def summary(what_if: WhatIf) -> str | None:
    observed = what_if.total_observed_usd
    if not what_if.groups or observed <= 0:
        return None
    saving = what_if.total_saving_usd
    return (
        f"Every group on its recommendation: {observed - saving:,.4f} USD instead of {observed:,.4f} USD, "
        f"saving {saving:,.4f} USD ({saving / observed * 100:.1f}%)."
    )


def preamble(what_if: WhatIf) -> list[str]:
    return [
        what_if.assumption,
        f"Bounds: {what_if.bounds.describe()}. Price book: {what_if.price_book} (USD per 1M tokens).",
    ]


def render_table(what_if: WhatIf, title: str | None = None) -> str:
    lines = ([title, ""] if title else []) + preamble(what_if)
    for group in what_if.groups:
        rows = [[h for h, _ in HEADERS], *(candidate_cells(c) for c in group.candidates)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]

        def fmt(cells: list[str], widths: list[int] = widths) -> str:
            out = [c.ljust(widths[i]) if i in (0, len(cells) - 1) else c.rjust(widths[i]) for i, c in enumerate(cells)]
            return ("  " + "  ".join(out)).rstrip()

        lines += ["", group_heading(what_if, group), *(fmt(r) for r in rows), f"  -> {verdict(what_if, group)}"]
    total = summary(what_if)
    lines += ["", *([total] if total else []), *what_if.notes]
    return "\n".join(lines).rstrip("\n") + "\n"


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def render_markdown(what_if: WhatIf, title: str | None = None) -> str:
    parts = ([f"**{_md(title)}**", ""] if title else []) + [_md(line) for line in preamble(what_if)]
    for group in what_if.groups:
        parts += ["", f"**{_md(group_heading(what_if, group))}**", ""]
        parts.append("| " + " | ".join(m for _, m in HEADERS) + " |")
        parts.append("|:---|" + "---:|" * (len(HEADERS) - 2) + ":---|")
        for c in group.candidates:
            cells = [_md(x) for x in candidate_cells(c)]
            if group.recommended is c:
                cells[0] = f"**{cells[0]}**"
            parts.append("| " + " | ".join(cells) + " |")
        said = verdict(what_if, group)
        parts += ["", _md(said[:1].upper() + said[1:]) + "."]
    total = summary(what_if)
    for note in [*([total] if total else []), *what_if.notes]:
        parts += ["", _md(note)]
    return "\n".join(parts) + "\n"


def _round(value: float | None, digits: int = 8) -> float | None:
    return None if value is None else round(value, digits)


CSV_KEYS = (
    "model",
    "cost_usd",
    "saving_usd",
    "saving_pct",
    "p95_latency_s",
    "p95_ttft_s",
    "success_rate_pct",
    "truncation_rate_pct",
    "observed_requests",
    "within_bounds",
    "current",
    "recommended",
)


def candidate_object(c: Candidate, recommended: bool) -> dict[str, Any]:
    seen = c.observed
    return {
        "model": c.model,
        "cost_usd": _round(c.cost_usd),
        "saving_usd": _round(c.saving_usd),
        "saving_pct": _round(c.saving_pct, 4),
        "p95_latency_s": _round(seen.p95_latency_s, 6),
        "p95_ttft_s": _round(seen.p95_ttft_s, 6),
        "success_rate_pct": _round(seen.success_rate_pct, 4),
        "truncation_rate_pct": _round(seen.truncation_rate_pct, 4),
        "observed_requests": round(seen.requests),
        "within_bounds": c.within_bounds,
        "out_of_bounds_because": list(c.violations),
        "current": c.is_current,
        "recommended": recommended,
    }


def to_object(what_if: WhatIf) -> dict[str, Any]:
    b = what_if.bounds
    return {
        "assumption": what_if.assumption,
        "price_book": what_if.price_book,
        "by": list(what_if.by),
        "bounds": {
            "max_p95_latency_s": b.max_p95_s,
            "max_p95_ttft_s": b.max_ttft_s,
            "min_success_pct": b.min_success_pct,
            "max_truncation_pct": b.max_truncation_pct,
        },
        "groups": [
            {
                **dict(zip(what_if.by, g.labels, strict=True)),
                "requests": round(g.requests),
                "tokens_in": round(g.tokens.input),
                "tokens_cached": round(g.tokens.cached),
                "tokens_out": round(g.tokens.output),
                "observed_cost_usd": _round(g.observed_cost_usd),
                "recommended": None if g.recommended is None else g.recommended.model,
                "candidates": [candidate_object(c, c is g.recommended) for c in g.candidates],
            }
            for g in what_if.groups
        ],
        "notes": list(what_if.notes),
    }


def render_json(what_if: WhatIf, title: str | None = None) -> str:
    del title
    return json.dumps(to_object(what_if), indent=2) + "\n"


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else value


def render_csv(what_if: WhatIf, title: str | None = None) -> str:
    """One line per (group, candidate); the assumption travels in the ``assumption`` column."""
    del title
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = CSV_KEYS
    writer.writerow([*what_if.by, "observed_cost_usd", *keys, "out_of_bounds_because", "assumption"])
    for g in what_if.groups:
        for c in g.candidates:
            obj = candidate_object(c, c is g.recommended)
            cells = [_csv_cell(obj[k]) for k in keys]
            cost = "" if g.observed_cost_usd is None else _round(g.observed_cost_usd)
            writer.writerow([*g.labels, cost, *cells, "; ".join(c.violations), what_if.assumption])
    return buffer.getvalue()


RENDERERS: dict[str, Callable[[WhatIf, str | None], str]] = {
    "table": render_table,
    "markdown": render_markdown,
    "csv": render_csv,
    "json": render_json,
}
