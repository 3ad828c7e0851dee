"""Values kept per OpenTelemetry provider for the life of the process (what a provider was given cannot be taken
back: an observable instrument's callback, a span processor), so that re-instrumenting reuses them."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

_V = TypeVar("_V")


class PerProvider(Generic[_V]):
    """One value per provider (a meter or a tracer provider), created once and kept while the provider lives."""

    def __init__(self) -> None:
        self._values: weakref.WeakKeyDictionary[Any, _V] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, provider: Any, create: Callable[[], _V], update: Callable[[_V], None] | None = None) -> _V:
        """The value of ``provider``: created by ``create()`` the first time, else passed to ``update``. A provider
        that cannot be weakly referenced gets a new value each time (correct once, not remembered)."""
        with self._lock:
            try:
                found = self._values.get(provider)
            except TypeError:
                return create()
            if found is None:
                found = create()
                self._values[provider] = found
            elif update is not None:
                update(found)
            return found
