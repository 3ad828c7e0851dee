"""``python -m otel_holysheep.simulator``: same as ``otel-holysheep simulate``."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
