"""``otel-holysheep report``: the per-model table (requests, success, latency, TTFT, tokens, cost) from your data."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from .._config import ENV_PRICES_FILE
from .._pricing import PriceBook, PriceBookError, read_price_file
from ..budgets.spec import BudgetError, Budgets, read_budgets
from . import budget_status, page_data, queries, whatif_data
from .budget_formats import RENDERERS as BUDGET_RENDERERS
from .errors import ReportError
from .formats import FORMATS, render
from .html_page import Page, RateRow, render_page
from .sources import MetricsEndpointSource, PrometheusSource
from .whatif import Bounds, parse_percent, parse_seconds
from .whatif_formats import RENDERERS as WHAT_IF_RENDERERS

PROG = "otel-holysheep report"
HTML = "html"

DESCRIPTION = """\
Per model: requests, success rate, average and P95 latency, P95 time to first token, tokens in/out, cost,
cost per 1M tokens and tokens per dollar; or per route, team... of your app (--by, without latency). Read either
from Prometheus (any window) or straight from the app's /metrics page (totals since the process started), no PromQL
needed."""

EPILOG = """\
examples:
  otel-holysheep report --prometheus http://localhost:9090 --window 24h
  otel-holysheep report --prometheus http://prom:9090 --selector '{job="chatbot"}' --format markdown
  otel-holysheep report --metrics http://localhost:9464/metrics --format json
  otel-holysheep report --prometheus http://localhost:9090 --by route       # spend per route of your app
  otel-holysheep report --metrics http://localhost:9464/metrics --by model,team
  otel-holysheep report --prometheus http://localhost:9090 --what-if --max-p95 2s --min-success 99%
  otel-holysheep report --prometheus http://localhost:9090 --budgets budgets.yaml   # this month against budgets
  otel-holysheep report --prometheus http://localhost:9090 --range 7d --format html -o week.html   # a page

exit codes: 0 report printed, 1 nothing of ours to report (empty window, app not instrumented), 2 error."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--prometheus", metavar="URL", help="Prometheus base URL, e.g. http://localhost:9090")
    source.add_argument(
        "--metrics", metavar="URL", help="the app's metrics page, e.g. http://localhost:9464/metrics (since start)"
    )
    parser.add_argument(
        "--window",
        "--range",
        dest="window",
        metavar="DURATION",
        help=f"with --prometheus: how far back, 30m, 24h, 7d... (default {queries.DEFAULT_WINDOW})",
    )
    parser.add_argument(
        "--selector", metavar="MATCHERS", help="with --prometheus: label matchers for every series, e.g. '{job=\"x\"}'"
    )
    parser.add_argument(
        "--by",
        metavar="LABELS",
        default="model",
        help="rows per these labels, comma-separated: model (default) or attribution labels the app adds with "
        "OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION, e.g. route, team, model,team (no latency columns then)",
    )
    parser.add_argument(
        "--format",
        choices=(*FORMATS, HTML),
        default="table",
        help="output format (default: table); html: one self-contained page (opens without a network) with the "
        "table, charts over the range (P95 latency and TTFT, cost per day, error and truncation rates) and the "
        "what-if table",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE instead of standard output (replaced only when complete)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="per HTTP request (default: 10)")
    parser.add_argument(
        "--print-queries", action="store_true", help="with --prometheus: print the PromQL the report runs and exit"
    )
    what_if = parser.add_argument_group(
        "what-if repricing",
        "the observed tokens of each row priced at every model of the price book, beside each model's own observed "
        "latency, success and truncation; the cheapest within the bounds is recommended",
    )
    what_if.add_argument("--what-if", action="store_true", help="print the what-if table instead of the report")
    what_if.add_argument("--max-p95", metavar="DURATION", help="bound: P95 latency at most this, e.g. 2s or 1500ms")
    what_if.add_argument("--max-ttft", metavar="DURATION", help="bound: P95 time to first token at most this")
    what_if.add_argument("--min-success", metavar="PERCENT", help="bound: success rate at least this, e.g. 99%%")
    what_if.add_argument("--max-truncation", metavar="PERCENT", help="bound: truncated completions at most this")
    what_if.add_argument(
        "--prices",
        metavar="FILE",
        help=f"YAML or JSON price file merged over the built-in price book (default: ${ENV_PRICES_FILE} if set)",
    )
    budgets = parser.add_argument_group(
        "budgets", "this month's spend per budget of a budgets file (see otel-holysheep rules --budgets)"
    )
    budgets.add_argument(
        "--budgets",
        metavar="FILE",
        help="print month-to-date spend, the last day's pace, the projected month-end and the budget instead of "
        "the report (YAML or JSON budgets file)",
    )
    return parser


def read_budget_file(path: str) -> Budgets:
    try:
        return read_budgets(Path(path))
    except BudgetError as error:
        raise ReportError(f"budgets file: {error}") from None


def price_book(path: str | None) -> PriceBook:
    """The built-in book, merged with ``path`` (or the instrumentation's price file setting); a bad file is an
    error here (the report must not price with other prices than the user asked for)."""
    path = path or os.environ.get(ENV_PRICES_FILE, "").strip() or None
    book = PriceBook.default()
    if path is None:
        return book
    try:
        return book.merged(read_price_file(Path(path)))
    except PriceBookError as error:
        raise ReportError(f"price file: {error}") from None


def bounds(args: argparse.Namespace) -> Bounds:
    return Bounds(
        max_p95_s=parse_seconds(args.max_p95, "--max-p95"),
        max_ttft_s=parse_seconds(args.max_ttft, "--max-ttft"),
        min_success_pct=parse_percent(args.min_success, "--min-success"),
        max_truncation_pct=parse_percent(args.max_truncation, "--max-truncation"),
    )


def observations(source: PrometheusSource | MetricsEndpointSource) -> whatif_data.Observations:
    if isinstance(source, PrometheusSource):
        return whatif_data.from_prometheus(source)
    return whatif_data.from_metrics(source)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.metrics is not None and (args.window is not None or args.selector is not None):
        parser.error("--window and --selector apply to --prometheus only (a /metrics page holds totals since start)")
    if args.metrics is not None and args.print_queries:
        parser.error("--print-queries applies to --prometheus only")
    if not args.timeout > 0:
        parser.error("--timeout must be a positive number of seconds")
    bounded = [args.max_p95, args.max_ttft, args.min_success, args.max_truncation]
    html = args.format == HTML
    if not (args.what_if or html) and any(b is not None for b in bounded):
        parser.error("--max-p95, --max-ttft, --min-success and --max-truncation apply to --what-if and --format html")
    if html and args.what_if:
        parser.error("--format html already holds the what-if table: drop --what-if (the bounds still apply)")
    if html and args.budgets is not None:
        parser.error("--budgets has no html format: use table, markdown, csv or json")
    if args.budgets is not None:
        if args.what_if:
            parser.error("--budgets and --what-if are two reports: ask for one at a time")
        if args.window is not None:
            parser.error("--window does not apply to --budgets: the window is the calendar month so far (UTC)")
        if args.by != "model":
            parser.error("--by does not apply to --budgets: the budgets file says what each budget covers")
    try:
        source: PrometheusSource | MetricsEndpointSource
        if args.prometheus is not None:
            prometheus = PrometheusSource(
                args.prometheus,
                window=args.window or queries.DEFAULT_WINDOW,
                selector=args.selector,
                timeout=args.timeout,
                by=args.by,
            )
            if args.print_queries and args.budgets is not None:
                month = budget_status.Month.around(budget_status.current_time())
                plan = budget_status.prometheus_queries(read_budget_file(args.budgets), prometheus.selector, month)
                lines = [
                    f"{name} {kind}: {promql}\n"
                    for name, pair in plan.items()
                    for kind, promql in zip(("month to date", "last day"), pair, strict=True)
                ]
                sys.stdout.write("".join(lines))
                return 0
            if args.print_queries:
                extra = whatif_data.extra_queries(prometheus) if args.what_if or html else {}
                printed = {**prometheus.queries, **extra}
                sys.stdout.write("".join(f"{name}: {promql}\n" for name, promql in printed.items()))
                return 0
            source = prometheus
        else:
            source = MetricsEndpointSource(args.metrics, timeout=args.timeout, by=args.by)
        if args.budgets is not None:
            budgets, now = read_budget_file(args.budgets), budget_status.current_time()
            status = (
                budget_status.from_prometheus(source, budgets, now)
                if isinstance(source, PrometheusSource)
                else budget_status.from_metrics(source, budgets, now)
            )
            title = f"{PROG} --budgets: {status.source}" if args.format in ("table", "markdown") else None
            return _write(BUDGET_RENDERERS[args.format](status, title), args.output)
        if args.what_if:
            limits, book = bounds(args), price_book(args.prices)
            result = observations(source).what_if(book, limits)
            return _write(WHAT_IF_RENDERERS[args.format](result, _title(args, source)), args.output)
        if html:
            return _write(html_page(args, source), args.output)
        report = source.fetch()
        return _write(render(report, args.format, _title(args, source)), args.output)
    except ReportError as error:
        print(f"{PROG}: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


def html_page(args: argparse.Namespace, source: PrometheusSource | MetricsEndpointSource) -> str:
    """The page: the report, the what-if and the charts, all read from one snapshot of the source (one instant of
    Prometheus; one read of /metrics), so its tables are the text report's to the digit."""
    limits, book = bounds(args), price_book(args.prices)
    if isinstance(source, PrometheusSource):
        found = whatif_data.from_prometheus(source)  # fixes source.now: every query at one instant
        assert source.now is not None
        charts = page_data.from_prometheus(source, source.now)
        return page_of(found, charts, source.describe(), source.now, limits, book)
    samples, at = source.samples(), time.time()
    found = whatif_data.from_samples(samples, url=source.url, by=source.by)
    charts = page_data.from_samples(samples, found, source.url)
    return page_of(found, charts, source.describe(), at, limits, book)


def html_page_from_snapshots(snapshots: list[tuple[float, list[tuple[str, dict[str, str], float]]]], url: str) -> str:
    """The page from successive reads of one /metrics page (oldest first; the demo takes one every tenth of its
    workload): the tables from the last read, charts over time from the differences between reads."""
    at, last = snapshots[-1]
    found = whatif_data.from_samples(last, url=url, by=queries.BY_MODEL)
    charts = page_data.from_snapshots(snapshots, found, url)
    describe = MetricsEndpointSource(url).describe()
    return page_of(found, charts, describe, at, Bounds(), PriceBook.default())


def page_of(
    found: whatif_data.Observations,
    charts: tuple[page_data.Chart, ...],
    describe: str,
    at: float,
    limits: Bounds,
    book: PriceBook,
) -> str:
    rates = tuple(
        RateRow(
            row.model,
            row.requests,
            None if row.success_rate_pct is None else 100 - row.success_rate_pct,
            found.truncation_pct(row.model),
        )
        for row in found.per_model.rows
    )
    by = found.report.by
    grouped = "" if by == queries.BY_MODEL else f" by {', '.join(by)}"
    page = Page(
        title=f"{PROG}{grouped}",
        source=describe,
        generated_at=at,
        report=found.report,
        rates=rates,
        what_if=found.what_if(book, limits),
        charts=charts,
    )
    return render_page(page)


def _title(args: argparse.Namespace, source: PrometheusSource | MetricsEndpointSource) -> str | None:
    if args.format not in ("table", "markdown"):
        return None
    grouped = "" if source.by == queries.BY_MODEL else f" by {', '.join(source.by)}"
    what = " --what-if" if args.what_if else ""
    return f"{PROG}{what}{grouped}: {source.describe()}"


def _write(text: str, output: str | None = None) -> int:
    if output is not None:
        return _write_file(text, Path(output))
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        return 0
    return 0


def _write_file(text: str, path: Path) -> int:
    """Write through a temporary file in the same directory, then rename: an existing file is only ever replaced
    by a complete one."""
    temporary: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
        ) as handle:
            temporary = Path(handle.name)
            handle.write(text)
        temporary.chmod(path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
        temporary.replace(path)
    except OSError as error:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        print(f"{PROG}: cannot write {path}: {error.strerror or error}", file=sys.stderr)
        return 2
    print(f"{PROG}: wrote {path}", file=sys.stderr)
    return 0


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
