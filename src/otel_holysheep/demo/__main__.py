"""``python -m otel_holysheep.demo``: same as ``otel-holysheep demo`` (which checks for the [demo] extra first)."""

import sys

from otel_holysheep.cli import run

sys.exit(run("demo", sys.argv[1:]))
