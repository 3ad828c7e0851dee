"""``otel-holysheep``: the project's command line (simulate, demo, report, doctor)."""

from __future__ import annotations

import importlib
import sys

_COMMANDS = {
    "simulate": ("otel_holysheep.simulator.cli", "run the OpenAI-compatible gateway simulator on loopback"),
    "demo": ("otel_holysheep.demo", "run the instrumented demo workload and print the per-model report"),
    "report": ("otel_holysheep.report.cli", "per-model table from Prometheus or a /metrics endpoint"),
    "doctor": (
        "otel_holysheep.doctor.cli",
        "read-only diagnosis: installation, settings, /metrics, Prometheus, Collector",
    ),
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help") or args[0] not in _COMMANDS:
        lines = ["usage: otel-holysheep COMMAND [options]", "", "commands:"]
        lines += [f"  {name:<9} {help_}" for name, (_, help_) in _COMMANDS.items()]
        lines += ["", "otel-holysheep COMMAND --help shows a command's options."]
        print("\n".join(lines), file=sys.stdout if args and args[0] in ("-h", "--help") else sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 2
    module = importlib.import_module(_COMMANDS[args[0]][0])
    return int(module.main(args[1:]))


if __name__ == "__main__":
    raise SystemExit(main())
