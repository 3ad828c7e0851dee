"""The end-to-end demo: simulator + instrumented workload + per-model report (``make demo``)."""

from __future__ import annotations

from otel_holysheep.demo.run import main

__all__ = ["main"]
