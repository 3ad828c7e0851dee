"""The never-raise guard: the only broad ``except`` in the package.

Telemetry must never change what the application sees. Every telemetry step runs through ``safe`` (or
``call_safely``): an ``Exception`` is logged at DEBUG with the step's name and swallowed; ``BaseException``
(KeyboardInterrupt, SystemExit, asyncio.CancelledError) always propagates.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

_logger = logging.getLogger("otel_holysheep")

_R = TypeVar("_R")


def call_safely(step: Callable[..., _R], *args: Any, default: Any = None) -> Any:
    """Run ``step(*args)``; on any ``Exception`` log it at DEBUG and return ``default``."""
    try:
        return step(*args)
    except Exception:
        _logger.debug(
            "otel-holysheep: telemetry step %s failed; the application is unaffected",
            getattr(step, "__qualname__", step),
            exc_info=True,
        )
        return default


def safe(step: Callable[..., _R]) -> Callable[..., _R | None]:
    """Decorator form of :func:`call_safely` (returns ``None`` on failure)."""

    @functools.wraps(step)
    def guarded(*args: Any) -> _R | None:
        try:
            return step(*args)
        except Exception:
            _logger.debug(
                "otel-holysheep: telemetry step %s failed; the application is unaffected",
                step.__qualname__,
                exc_info=True,
            )
            return None

    return guarded


def call_or_else(step: Callable[[Any], object], arg: Any, fallback: Callable[[], object]) -> None:
    """Run ``step(arg)``; if it fails, log at DEBUG and run ``fallback()`` (itself guarded).

    The per-chunk form: a parser that fails once is switched off for the rest of that body.
    """
    try:
        step(arg)
    except Exception:
        _logger.debug(
            "otel-holysheep: telemetry step %s failed; the application is unaffected",
            getattr(step, "__qualname__", step),
            exc_info=True,
        )
        call_safely(fallback)
