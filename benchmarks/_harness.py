"""A small timing harness: warm-up, many iterations, interleaved rounds, medians of CPU and wall time."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

# A variant: a context manager factory that sets the variant up (instrument) and tears it down (uninstrument), and
# the operation to time, called with the number of iterations to run.
Setup = Callable[[], AbstractContextManager[Any]]
Operation = Callable[[int], None]


@dataclass
class Variant:
    name: str
    setup: Setup
    run: Operation


@dataclass
class Timing:
    """Per-operation seconds of every round of one variant."""

    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)


@contextmanager
def nothing() -> Iterator[None]:
    yield


def interleaved(variants: list[Variant], iterations: int, rounds: int, warmup: int) -> dict[str, Timing]:
    """Time every variant ``rounds`` times, rotating their order each round; per-operation CPU and wall seconds.

    CPU time (``process_time``, all threads of this process, so the span processor's export thread counts) is the
    primary figure: another process on the machine inflates wall time but not our CPU time.
    """
    timings = {v.name: Timing() for v in variants}
    for r in range(rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        for variant in order:
            with variant.setup():
                variant.run(warmup)
                gc.collect()
                c0, w0 = time.process_time(), time.perf_counter()
                variant.run(iterations)
                w1, c1 = time.perf_counter(), time.process_time()
            timings[variant.name].cpu.append((c1 - c0) / iterations)
            timings[variant.name].wall.append((w1 - w0) / iterations)
    return timings
