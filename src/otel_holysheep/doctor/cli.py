"""``otel-holysheep doctor``: read-only diagnosis, one line per check; exit 0 only when all checked is healthy."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .._pricing import PriceBook, PriceBookError, read_price_file
from ..report import queries
from ..report.errors import ReportError
from ..version import __version__
from . import app, collector, install, live, prometheus, settings
from .render import FORMATS, render
from .result import Finding, exit_code, skip
from .symptoms import check_gateway, stats_from_samples

PROG = "otel-holysheep doctor"
DEFAULT_WINDOW = "15m"
DEFAULT_LIVE_MODEL = live.DEFAULT_MODEL

DESCRIPTION = """\
Checks, read-only, every link between your app and a dashboard: the installation opentelemetry-instrument sees, the
OTEL_INSTRUMENTATION_HOLYSHEEP_* settings (validated as the app validates them), the URL your app calls, the app's
/metrics page, Prometheus (scrape target, rules, series, alerts), the gateway symptoms in the data (401s, 429s,
timeouts, missing usage, unpriced models) and an OpenTelemetry Collector. Run it with the app's environment
(same virtualenv, same variables). Every warning or failure names the setting or command that fixes it."""

EPILOG = """\
examples:
  otel-holysheep doctor
  otel-holysheep doctor --metrics http://localhost:9464/metrics --prometheus http://localhost:9090
  otel-holysheep doctor --app-url https://api.holysheep.ai/v1 --live
  otel-holysheep doctor --collector http://collector:13133 --format json

exit codes: 0 everything checked is healthy (skipped checks do not count), 1 warnings but no failure,
2 at least one failure (or bad arguments)."""


@dataclass(frozen=True)
class Options:
    metrics: str | None = None
    prometheus: str | None = None
    selector: str | None = None
    window: str = DEFAULT_WINDOW
    collector: str | None = None
    collector_metrics: str | None = None
    app_urls: Sequence[str] = field(default_factory=tuple)
    interval: float = 2.0
    timeout: float = 5.0
    max_series_per_model: int = 500
    live: bool = False
    live_model: str = DEFAULT_LIVE_MODEL


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--metrics", metavar="URL", help="the app's metrics page, e.g. http://localhost:9464/metrics")
    parser.add_argument("--prometheus", metavar="URL", help="Prometheus base URL, e.g. http://localhost:9090")
    parser.add_argument(
        "--selector", metavar="MATCHERS", help="with --prometheus: narrow the series, e.g. '{job=\"x\"}'"
    )
    parser.add_argument(
        "--window", metavar="DURATION", default=DEFAULT_WINDOW, help="with --prometheus: gateway symptoms over (15m)"
    )
    parser.add_argument(
        "--collector",
        metavar="URL",
        help=f"the Collector's health_check endpoint (default port {collector.HEALTH_PORT})",
    )
    parser.add_argument(
        "--collector-metrics",
        metavar="URL",
        help=f"the Collector's own metrics (default: the --collector host, port {collector.TELEMETRY_PORT}, /metrics)",
    )
    parser.add_argument(
        "--app-url",
        metavar="URL",
        action="append",
        default=[],
        help="the base_url your app's client uses (repeatable; default: $OPENAI_BASE_URL, $HOLYSHEEP_BASE_URL)",
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, metavar="SECONDS", help="between the two /metrics reads (default 2)"
    )
    parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS", help="per HTTP request (default 5)")
    parser.add_argument(
        "--max-series-per-model", type=int, default=500, metavar="N", help="series budget per model (default 500)"
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="send ONE real request (max_tokens 1) with $HOLYSHEEP_API_KEY / $OPENAI_API_KEY to check key and base URL",
    )
    parser.add_argument("--live-model", default=live.DEFAULT_MODEL, metavar="MODEL", help="model for --live")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    return parser


def collect(options: Options, env: Mapping[str, str]) -> list[Finding]:
    """Every finding, in output order. Reads ``env`` for the configuration (the caller passes ``os.environ``)."""
    config, warnings = settings.load_settings(env)
    findings = install.check_entry_point(env)
    distro, defaults = install.check_distro(env)
    findings.append(distro)
    findings += install.check_exporters(env, defaults)
    findings.append(install.check_genai_peers(env, config.genai_metrics))
    findings += settings.check_values(env, config, warnings)
    findings.append(settings.check_price_file(config))
    findings += settings.check_app_urls(env, config, options.app_urls)

    stats = None
    if options.metrics is not None:
        app_result = app.check_app(
            options.metrics,
            env,
            interval=options.interval,
            timeout=options.timeout,
            max_series_per_model=options.max_series_per_model,
            base_urls=", ".join(map(str, config.base_urls)),
        )
        findings += app_result.findings
        if app_result.samples is not None:
            stats = stats_from_samples(app_result.samples, f"since the app started ({options.metrics})")
    else:
        findings.append(skip("app", "not checked: pass --metrics URL (the app's /metrics page, port 9464 by default)"))
    if options.prometheus is not None:
        prom_result = prometheus.check_prometheus(
            options.prometheus,
            metrics_url=options.metrics,
            window=options.window,
            selector=options.selector,
            timeout=options.timeout,
        )
        findings += prom_result.findings
        stats = prom_result.stats or stats
    else:
        findings += prometheus.skipped()
    if stats is not None:
        findings += check_gateway(stats, _price_book(config.prices_file))
    else:
        findings.append(skip("gateway", "not checked: needs otel-holysheep series from --metrics or --prometheus"))
    if options.collector is not None:
        findings += collector.check_collector(options.collector, options.collector_metrics, timeout=options.timeout)
    else:
        findings.append(skip("collector", "not checked: pass --collector URL (its health_check endpoint)"))
    if options.live:
        app_urls = settings.app_urls(env, options.app_urls)
        findings.append(
            live.check_live(env, app_urls, config, model=options.live_model, timeout=max(options.timeout, 30.0))
        )
    else:
        findings.append(live.skipped())
    return findings


def _price_book(path: str | None) -> PriceBook:
    book = PriceBook.default()
    if not path:
        return book
    try:
        return book.merged(read_price_file(Path(path)))
    except PriceBookError:
        return book  # config.price_file already reports it


def header() -> str:
    return f"{PROG} {__version__} ({sys.executable})"


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.timeout > 0:
        parser.error("--timeout must be a positive number of seconds")
    if args.interval < 0:
        parser.error("--interval must be 0 or more seconds")
    if args.prometheus is None and (args.selector is not None or args.window != DEFAULT_WINDOW):
        parser.error("--selector and --window apply to --prometheus only")
    if args.collector is None and args.collector_metrics is not None:
        parser.error("--collector-metrics needs --collector")
    try:
        queries.validate_window(args.window)
        queries.validate_selector(args.selector)
    except ReportError as error:
        parser.error(error.message)
    options = Options(
        metrics=args.metrics,
        prometheus=args.prometheus,
        selector=args.selector,
        window=args.window,
        collector=args.collector,
        collector_metrics=args.collector_metrics,
        app_urls=tuple(args.app_url),
        interval=args.interval,
        timeout=args.timeout,
        max_series_per_model=args.max_series_per_model,
        live=args.live,
        live_model=args.live_model,
    )
    try:
        findings = collect(options, os.environ if env is None else env)
    except KeyboardInterrupt:
        return 130
    try:
        sys.stdout.write(render(findings, args.format, header()))
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    return exit_code(findings)
