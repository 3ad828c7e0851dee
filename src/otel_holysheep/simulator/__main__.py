"""``python -m otel_holysheep.simulator``: same as ``otel-holysheep simulate`` (which checks for [cli] first)."""

from __future__ import annotations

import sys

from otel_holysheep.cli import run

if __name__ == "__main__":
    sys.exit(run("simulate", sys.argv[1:]))
