"""``otel-holysheep rules``: Prometheus recording and alert rules from a budgets file (month-to-date spend, projected
month-end spend, remaining budget; warn and page on the projection)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from ..report.errors import ReportError
from ..report.queries import validate_selector
from .rules import render_rules
from .spec import BudgetError, read_budgets

PROG = "otel-holysheep rules"
EXIT_ERROR = 2

DESCRIPTION = """\
Write Prometheus rules for monthly budgets per team, route or model (a YAML or JSON budgets file): month-to-date
spend, projected month-end spend at the last day's pace, remaining budget, a warning at the projected warn_at (80%)
and a page at page_at (100%), with a traffic floor (min_elapsed, min_spend_usd). Months are UTC calendar months.
Load the file with your other rule files (rule_files: in prometheus.yml)."""

EPILOG = """\
examples:
  otel-holysheep rules --budgets budgets.yaml -o /etc/prometheus/rules/holysheep-budgets.yml
  otel-holysheep rules --budgets budgets.json --selector '{job="chatbot"}'     # only this app's spend

exit codes: 0 rules written, 2 the budgets file or an option is wrong (the message names the file, line and key)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budgets", metavar="FILE", required=True, help="the budgets file (YAML, or JSON by .json)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the rules here (default: standard output)")
    parser.add_argument(
        "--selector", metavar="MATCHERS", help="label matchers added to every cost query, e.g. '{job=\"chatbot\"}'"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        selector = validate_selector(args.selector) or None
        budgets = read_budgets(Path(args.budgets))
    except (BudgetError, ReportError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return EXIT_ERROR
    text = render_rules(budgets, selector, command=f"--budgets {args.budgets}")
    if args.output is None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            pass
        return 0
    try:
        _write_atomically(Path(args.output), text)
    except OSError as error:
        print(f"{PROG}: cannot write {args.output}: {error}", file=sys.stderr)
        return EXIT_ERROR
    print(f"{PROG}: wrote {len(budgets.budgets)} budget(s) to {args.output}", file=sys.stderr)
    return 0


def _write_atomically(path: Path, text: str) -> None:
    """Prometheus may reload the file at any moment: never leave it half written."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
