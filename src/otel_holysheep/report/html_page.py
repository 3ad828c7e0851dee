"""``otel-holysheep report --format html``: one self-contained page (no network needed to open it).

The tables are the text report's and the what-if's own cells (``formats.columns`` / ``whatif_formats``), rendered
here as HTML, so every number on the page is the one the text report prints. The charts are drawn in the browser by
Chart.js (MIT), vendored in ``vendor/`` (``scripts/vendor-chart-library.sh``) and inlined into the page with the
data, a JSON block whose ``<`` ``>`` ``&`` are escaped so no value can end the script element. Once every chart is
drawn the page sets ``data-rendered="true"`` on ``<body>`` and, on each canvas, the series it drew
(``data-series``), their point counts (``data-points``) and how many pixels it painted (``data-painted``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass
from html import escape
from importlib import resources
from typing import Any

from .formats import columns, footnotes, row_cells
from .model import Report
from .page_data import Chart
from .whatif import NOT_OBSERVED, WhatIf
from .whatif_formats import HEADERS, candidate_cells, group_heading, preamble, summary, verdict

VENDOR = ("otel_holysheep.report", "vendor")
LIBRARY = "chart.umd.min.js"
LIBRARY_LICENSE = "LICENSE.md"


@dataclass(frozen=True)
class RateRow:
    model: str
    requests: float
    error_rate_pct: float | None
    truncation_rate_pct: float | None


@dataclass(frozen=True)
class Page:
    title: str
    source: str  # where the numbers come from (the text report's title line)
    generated_at: float  # unix time
    report: Report  # the per-model (or --by) report: the text report's rows
    rates: tuple[RateRow, ...]
    what_if: WhatIf
    charts: tuple[Chart, ...]


def vendor_file(name: str) -> bytes:
    return resources.files(VENDOR[0]).joinpath(VENDOR[1]).joinpath(name).read_bytes()


def library_script() -> str:
    """The vendored Chart.js, its source map comment dropped (nothing to fetch from a file:// page)."""
    text = vendor_file(LIBRARY).decode("utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("//# sourceMappingURL=")]
    script = "\n".join(lines)
    if "</script" in script.lower() or "<!--" in script:
        raise ValueError(f"{LIBRARY} contains a sequence that would end its <script> element")
    return script


def library_sha256() -> str:
    return hashlib.sha256(vendor_file(LIBRARY)).hexdigest()


def embed_json(data: Any) -> str:
    """JSON for a ``<script type="application/json">`` block: no ``<``, ``>`` or ``&`` left to close the element."""
    text = json.dumps(data, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _clean(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def chart_data(chart: Chart) -> dict[str, Any]:
    return {
        "key": chart.key,
        "title": chart.title,
        "unit": chart.unit,
        "kind": chart.kind,
        "stacked": chart.stacked,
        "x": list(chart.x),
        "series": [{"name": s.name, "values": [_clean(v) for v in s.values]} for s in chart.series],
    }


def _table(
    headers: list[str],
    rows: list[list[str]],
    *,
    numeric_from: int,
    attrs: str,
    total: list[str] | None = None,
    marked: int = -1,
) -> str:
    """An HTML table of text cells (escaped); ``marked``: the index of the row drawn as recommended."""

    def line(cells: list[str], tag: str = "td", css: str = "") -> str:
        out = []
        for i, cell in enumerate(cells):
            cls = ' class="num"' if i >= numeric_from and tag == "td" else ""
            out.append(f"<{tag}{cls}>{escape(cell)}</{tag}>")
        return f"<tr{css}>" + "".join(out) + "</tr>"

    head = "<thead>" + line(headers, "th") + "</thead>"
    body = "".join(line(r, css=' class="recommended"' if i == marked else "") for i, r in enumerate(rows))
    foot = f"<tfoot>{line(total)}</tfoot>" if total is not None else ""
    return f"<table {attrs}>{head}<tbody>{body}</tbody>{foot}</table>"


def report_table(report: Report) -> str:
    cols = columns(report)
    texts = sum(1 for c in cols if c.kind == "text")
    rows = [row_cells(report, row) for row in report.rows]
    total = row_cells(report, report.total)
    table = _table(
        [c.title for c in cols], rows, numeric_from=texts, attrs='class="report" id="report-table"', total=total
    )
    notes = "".join(f"<li>{escape(n)}</li>" for n in footnotes(report))
    return table + (f'<ul class="notes">{notes}</ul>' if notes else "")


def rate_cells(row: RateRow) -> list[str]:
    def pct(value: float | None) -> str:
        return NOT_OBSERVED if value is None else f"{value:.1f}"

    return [row.model, f"{round(row.requests):,}", pct(row.error_rate_pct), pct(row.truncation_rate_pct)]


RATE_HEADERS = ["MODEL", "REQUESTS", "ERRORS (%)", "TRUNCATED (%)"]


def rates_table(rates: tuple[RateRow, ...]) -> str:
    rows = [rate_cells(r) for r in rates]
    return _table(RATE_HEADERS, rows, numeric_from=1, attrs='class="rates" id="rates-table"')


def what_if_section(what_if: WhatIf) -> str:
    parts = [f"<p>{escape(line)}</p>" for line in preamble(what_if)]
    for index, group in enumerate(what_if.groups):
        rows = [candidate_cells(c) for c in group.candidates]
        marked = next((i for i, c in enumerate(group.candidates) if c is group.recommended), -1)
        attrs = f'class="what-if" data-group="{index}"'
        table = _table([h for h, _ in HEADERS], rows, numeric_from=1, attrs=attrs, marked=marked)
        parts.append(
            f'<h3 class="what-if-group">{escape(group_heading(what_if, group))}</h3>'
            f'<div class="table-box">{table}</div>'
            f'<p class="verdict">&rarr; {escape(verdict(what_if, group))}</p>'
        )
    total = summary(what_if)
    for note in [*([total] if total else []), *what_if.notes]:
        parts.append(f'<p class="note">{escape(note)}</p>')
    return "".join(parts)


def chart_block(chart: Chart) -> str:
    if not chart.series:
        return (
            f'<figure class="chart empty" id="figure-{escape(chart.key)}"><figcaption>{escape(chart.title)} '
            f"({escape(chart.unit)})</figcaption><p>No data for this chart in the range.</p></figure>"
        )
    note = f'<p class="chart-note">{escape(chart.note)}</p>' if chart.note else ""
    return (
        f'<figure class="chart" id="figure-{escape(chart.key)}"><figcaption>{escape(chart.title)} '
        f'({escape(chart.unit)})</figcaption><div class="canvas-box"><canvas id="chart-{escape(chart.key)}" '
        f'role="img" aria-label="{escape(chart.title)}"></canvas></div>{note}</figure>'
    )


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px auto;
max-width:1280px;padding:0 16px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d7dbe3;padding-bottom:4px}
h3{font-size:14px;margin:16px 0 6px}.meta{color:#5b6475;margin:0}
table{border-collapse:collapse;margin:6px 0;font-variant-numeric:tabular-nums}
th,td{padding:4px 10px;border-bottom:1px solid #e6e9ef;text-align:left;white-space:nowrap}
th{background:#f3f5f9;font-weight:600;font-size:12px}td.num{text-align:right}
tfoot td{font-weight:700;border-top:2px solid #b9c0cc}tr.recommended td{background:#e8f6ec;font-weight:600}
.table-box{overflow-x:auto}.notes,.note,.chart-note{color:#5b6475;font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:18px}
figure.chart{margin:0;border:1px solid #e6e9ef;border-radius:6px;padding:10px}
figcaption{font-weight:600;margin-bottom:6px}.canvas-box{position:relative;height:300px}
.verdict{font-weight:600}footer{margin-top:32px;color:#5b6475;font-size:12px}
footer pre{white-space:pre-wrap;font-size:11px}
"""

SCRIPT = """
(function () {
  "use strict";
  var body = document.body;
  var palette = ["#2f6fdf", "#e0662b", "#2a9d58", "#b8368f", "#8a6d1f", "#0f9aa8", "#6b4fd0", "#c23b3b",
                 "#5f7d1a", "#7a7f8c"];
  function painted(canvas) {
    var ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height, n = 0;
    var pixels = ctx.getImageData(0, 0, w, h).data;
    for (var i = 3; i < pixels.length; i += 16) { if (pixels[i] !== 0) { n++; } }
    return n;
  }
  try {
    var data = JSON.parse(document.getElementById("report-data").textContent);
    var names = data.names, drawn = 0;
    function color(name) { var i = names.indexOf(name); return palette[(i < 0 ? 0 : i) % palette.length]; }
    data.charts.forEach(function (c) {
      var canvas = document.getElementById("chart-" + c.key);
      if (!canvas) { return; }
      var many = c.x.length > 48;
      var chart = new Chart(canvas, {
        type: c.kind,
        data: {
          labels: c.x,
          datasets: c.series.map(function (s) {
            var col = color(s.name);
            return {label: s.name, data: s.values, borderColor: col, backgroundColor: col, spanGaps: false,
                    pointRadius: many ? 0 : 3, borderWidth: 2, tension: 0};
          })
        },
        options: {
          animation: false, responsive: true, maintainAspectRatio: false,
          interaction: {mode: "index", intersect: false},
          plugins: {legend: {position: "bottom"}},
          scales: {
            x: {stacked: c.stacked, ticks: {maxTicksLimit: 12, autoSkip: true}},
            y: {stacked: c.stacked, beginAtZero: true, title: {display: true, text: c.unit}}
          }
        }
      });
      var points = chart.data.datasets.map(function (d, i) {
        return chart.getDatasetMeta(i).data.filter(function (e, j) { return d.data[j] !== null; }).length;
      });
      canvas.setAttribute("data-series", JSON.stringify(chart.data.datasets.map(function (d) { return d.label; })));
      canvas.setAttribute("data-points", JSON.stringify(points));
      canvas.setAttribute("data-painted", String(painted(canvas)));
      drawn++;
    });
    body.setAttribute("data-charts", String(drawn));
    body.setAttribute("data-rendered", "true");
  } catch (error) {
    body.setAttribute("data-render-error", String(error && error.message || error));
    body.setAttribute("data-rendered", "error");
  }
})();
"""


def render_page(page: Page) -> str:
    generated = dt.datetime.fromtimestamp(page.generated_at, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    names: list[str] = []
    for chart in page.charts:
        for s in chart.series:
            if s.name not in names:
                names.append(s.name)
    drawn = [c for c in page.charts if c.series]
    data = {"generated_at": generated, "names": names, "charts": [chart_data(c) for c in drawn]}
    by_key = {c.key: c for c in page.charts}

    def charts(*keys: str) -> str:
        return '<div class="charts">' + "".join(chart_block(by_key[k]) for k in keys if k in by_key) + "</div>"

    license_text = escape(vendor_file(LIBRARY_LICENSE).decode("utf-8"))
    grouped = "" if page.report.per_model else f" (by {escape(', '.join(page.report.by))})"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="otel-holysheep report">
<title>{escape(page.title)}</title>
<style>{STYLE}</style>
</head>
<body data-rendered="false">
<header><h1>{escape(page.title)}</h1><p class="meta">{escape(page.source)}</p>
<p class="meta">Generated {generated}.</p></header>
<section id="report"><h2>Per model{grouped}</h2><div class="table-box">{report_table(page.report)}</div></section>
<section id="latency"><h2>Latency</h2>{charts("p95_latency", "p95_ttft")}</section>
<section id="cost"><h2>Cost</h2>{charts("cost_per_day_model", "cost_per_day_team")}</section>
<section id="errors"><h2>Errors and truncation</h2><div class="table-box">{rates_table(page.rates)}</div>
<p class="note">Errors: requests that did not end in success, over all requests. Truncated: completions that ended
with finish_reason "length" (max_tokens or the context length), over all finishes.</p>
{charts("error_rate", "truncation_rate")}</section>
<section id="what-if"><h2>What if: the same traffic on another model</h2>{what_if_section(page.what_if)}</section>
<footer><p>Charts drawn with Chart.js (MIT licence), inlined in this file: it opens without a network.</p>
<details><summary>Chart.js licence</summary><pre>{license_text}</pre></details></footer>
<script type="application/json" id="report-data">{embed_json(data)}</script>
<script>{library_script()}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""
