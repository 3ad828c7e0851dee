"""``otel-holysheep``: the project's command line (simulate, demo, report, rules, doctor).

The programs need more than the instrumentation (whose only dependencies are OpenTelemetry's): the ``cli`` extra
(PyYAML, prometheus-client), and for the demo the ``demo`` extra. A program run without its extra says which one to
install and exits 2, before importing anything that would fail with a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Final, NamedTuple


class Command(NamedTuple):
    module: str
    help: str
    extra: str
    needs: tuple[str, ...]  # import names the program cannot run without


_CLI_NEEDS: Final = ("yaml", "prometheus_client")
_DEMO_NEEDS: Final = (
    *_CLI_NEEDS,
    "openai",
    "httpx",
    "opentelemetry.sdk",
    "opentelemetry.distro",
    "opentelemetry.exporter.prometheus",
)

COMMANDS: Final = {
    "simulate": Command(
        "otel_holysheep.simulator.cli", "run the OpenAI-compatible gateway simulator on loopback", "cli", _CLI_NEEDS
    ),
    "demo": Command(
        "otel_holysheep.demo.run",
        "run the instrumented demo workload and print the per-model report",
        "demo",
        _DEMO_NEEDS,
    ),
    "report": Command(
        "otel_holysheep.report.cli", "per-model table from Prometheus or a /metrics endpoint", "cli", _CLI_NEEDS
    ),
    "rules": Command(
        "otel_holysheep.budgets.cli",
        "Prometheus rules for monthly budgets: month-to-date, forecast, warn/page",
        "cli",
        _CLI_NEEDS,
    ),
    "doctor": Command(
        "otel_holysheep.doctor.cli",
        "read-only diagnosis: installation, settings, /metrics, Prometheus, Collector",
        "cli",
        _CLI_NEEDS,
    ),
}
MISSING_EXTRA_EXIT: Final = 2


def missing_modules(needs: tuple[str, ...]) -> list[str]:
    """The import names of ``needs`` that cannot be found (without importing them)."""
    missing = []
    for name in needs:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a parent package missing, or a module set to None in sys.modules
            found = False
        if not found:
            missing.append(name)
    return missing


def missing_extra_message(name: str, command: Command, missing: list[str]) -> str:
    return (
        f"otel-holysheep {name}: this program needs the '{command.extra}' extra, which is not installed "
        f"(missing: {', '.join(missing)}).\n"
        f"Install it into this environment: pip install 'otel-holysheep[{command.extra}]'"
    )


def run(name: str, argv: list[str]) -> int:
    """Run the program ``name`` with ``argv``, or say which extra it needs."""
    command = COMMANDS[name]
    missing = missing_modules(command.needs)
    if missing:
        print(missing_extra_message(name, command, missing), file=sys.stderr)
        return MISSING_EXTRA_EXIT
    module = importlib.import_module(command.module)
    return int(module.main(argv))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help") or args[0] not in COMMANDS:
        lines = ["usage: otel-holysheep COMMAND [options]", "", "commands:"]
        lines += [f"  {name:<9} {command.help}" for name, command in COMMANDS.items()]
        lines += ["", "otel-holysheep COMMAND --help shows a command's options."]
        print("\n".join(lines), file=sys.stdout if args and args[0] in ("-h", "--help") else sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 2
    return run(args[0], args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
