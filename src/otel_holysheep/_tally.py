"""In-process tallies: the cheap per-request counting path behind the observable counters and gauges.

A request pays a dict update under a lock instead of an SDK measurement (about 7 us each); the SDK reads the tallies
through the instruments' callbacks at collection time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from opentelemetry.metrics import CallbackOptions, Observation


class Tally:
    """Thread-safe cumulative sums keyed by label-value tuples, read by an observable instrument's callback."""

    __slots__ = ("_labels", "_lock", "_values")

    def __init__(self, labels: Sequence[str]) -> None:
        self._labels = tuple(labels)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    def relabel(self, labels: Sequence[str]) -> None:
        """New label names (a re-instrumentation with other attribution labels): the old series end."""
        with self._lock:
            if tuple(labels) != self._labels:
                self._labels = tuple(labels)
                self._values.clear()

    def add(self, key: tuple[str, ...], amount: float = 1) -> None:
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def set(self, key: tuple[str, ...], value: float) -> None:
        self._values[key] = value  # last value wins; a single dict store is atomic

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            items = list(self._values.items())
            labels = self._labels
        # A key of another length is from a request begun before a relabel: skipped, never a failed collection.
        width = len(labels)
        return [Observation(value, dict(zip(labels, key, strict=True))) for key, value in items if len(key) == width]
