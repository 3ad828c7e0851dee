"""The never-raise guard: the only broad ``except`` in the package (``tests/unit/test_safety.py`` holds it to that).

Telemetry must never change what the application sees. Every telemetry step runs through ``call_safely`` (or
``call_or_else``): an ``Exception`` is logged at DEBUG with the step's name and swallowed; ``BaseException``
(KeyboardInterrupt, SystemExit, asyncio.CancelledError) always propagates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

_logger = logging.getLogger("otel_holysheep")


def _failed(step: object) -> None:
    """The one message of a failed telemetry step, with its traceback (``exc_info``) at DEBUG."""
    _logger.debug(
        "otel-holysheep: telemetry step %s failed; the application is unaffected",
        getattr(step, "__qualname__", step),
        exc_info=True,
    )


def call_safely(step: Callable[..., Any], *args: Any, default: Any = None) -> Any:
    """Run ``step(*args)``; on any ``Exception`` log it at DEBUG and return ``default``."""
    try:
        return step(*args)
    except Exception:
        _failed(step)
        return default


def call_or_else(step: Callable[[Any], object], arg: Any, fallback: Callable[[], object]) -> None:
    """Run ``step(arg)``; if it fails, log at DEBUG and run ``fallback()`` (itself guarded).

    The per-chunk form: a parser that fails once is switched off for the rest of that body.
    """
    try:
        step(arg)
    except Exception:
        _failed(step)
        call_safely(fallback)
