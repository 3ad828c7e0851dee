"""``python -m otel_holysheep.budgets``: same as ``otel-holysheep rules`` (which checks for the [cli] extra first)."""

from __future__ import annotations

import sys

from otel_holysheep.cli import run

if __name__ == "__main__":
    sys.exit(run("rules", sys.argv[1:]))
