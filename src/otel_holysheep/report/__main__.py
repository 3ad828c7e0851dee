"""``python -m otel_holysheep.report``: same as ``otel-holysheep report`` (which checks for the [cli] extra first)."""

from __future__ import annotations

import sys

from otel_holysheep.cli import run

if __name__ == "__main__":
    sys.exit(run("report", sys.argv[1:]))
