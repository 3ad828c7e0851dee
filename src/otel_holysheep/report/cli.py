"""``otel-holysheep report``: the per-model table (requests, success, latency, TTFT, tokens, cost) from your data."""

from __future__ import annotations

import argparse
import sys

from . import queries
from .errors import ReportError
from .formats import FORMATS, render
from .sources import MetricsEndpointSource, PrometheusSource

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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.metrics is not None and (args.window is not None or args.selector is not None):
        parser.error("--window and --selector apply to --prometheus only (a /metrics page holds totals since start)")
    if args.metrics is not None and args.print_queries:
        parser.error("--print-queries applies to --prometheus only")
    if not args.timeout > 0:
        parser.error("--timeout must be a positive number of seconds")
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
            if args.print_queries:
                sys.stdout.write("".join(f"{name}: {promql}\n" for name, promql in prometheus.queries.items()))
                return 0
            source = prometheus
        else:
            source = MetricsEndpointSource(args.metrics, timeout=args.timeout, by=args.by)
        report = source.fetch()
    except ReportError as error:
        print(f"{PROG}: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    grouped = "" if report.per_model else f" by {', '.join(report.by)}"
    title = f"{PROG}{grouped}: {source.describe()}" if args.format in ("table", "markdown") else None
    try:
        sys.stdout.write(render(report, args.format, title))
        sys.stdout.flush()
    except BrokenPipeError:
        return 0
    return 0
