"""``python -m otel_holysheep.doctor``: same as ``otel-holysheep doctor`` (which checks for the [cli] extra first)."""

from __future__ import annotations

import sys

from otel_holysheep.cli import run

if __name__ == "__main__":
    sys.exit(run("doctor", sys.argv[1:]))
