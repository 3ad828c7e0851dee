"""``otel-holysheep report``: the per-model table (requests, success, latency, TTFT, tokens, cost) from your data."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .._config import ENV_PRICES_FILE
from .._pricing import PriceBook, PriceBookError, read_price_file
from ..budgets.spec import BudgetError, Budgets, read_budgets
from . import budget_status, queries, whatif_data
from .budget_formats import RENDERERS as BUDGET_RENDERERS
from .errors import ReportError
from .formats import FORMATS, render
from .sources import MetricsEndpointSource, PrometheusSource
from .whatif import Bounds, parse_percent, parse_seconds
from .whatif_formats import RENDERERS as WHAT_IF_RENDERERS

PROG = "otel-holysheep report"

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
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
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
    if not args.what_if and any(b is not None for b in bounded):
        parser.error("--max-p95, --max-ttft, --min-success and --max-truncation apply to --what-if")
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
                printed = {**prometheus.queries, **(whatif_data.extra_queries(prometheus) if args.what_if else {})}
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
            return _write(BUDGET_RENDERERS[args.format](status, title))
        if args.what_if:
            limits, book = bounds(args), price_book(args.prices)
            result = observations(source).what_if(book, limits)
            return _write(WHAT_IF_RENDERERS[args.format](result, _title(args, source)))
        report = source.fetch()
    except ReportError as error:
        print(f"{PROG}: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    return _write(render(report, args.format, _title(args, source)))


def _title(args: argparse.Namespace, source: PrometheusSource | MetricsEndpointSource) -> str | None:
    if args.format not in ("table", "markdown"):
        return None
    grouped = "" if source.by == queries.BY_MODEL else f" by {', '.join(source.by)}"
    what = " --what-if" if args.what_if else ""
    return f"{PROG}{what}{grouped}: {source.describe()}"


def _write(text: str) -> int:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        return 0
    return 0
