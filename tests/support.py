"""Test helpers: in-memory OTel providers handed to the instrumentor, and exact metric look-ups."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from otel_holysheep import HolySheepInstrumentor


@dataclass
class Captured:
    """What one instrumented test run exported."""

    reader: InMemoryMetricReader
    exporter: InMemorySpanExporter
    meter_provider: MeterProvider
    tracer_provider: TracerProvider

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def _matching(self, name: str, labels: dict[str, Any]) -> list[Any]:
        return [p for p in self.points(name) if all(p.attributes.get(k) == v for k, v in labels.items())]

    def value(self, name: str, **labels: Any) -> float:
        """Sum of a counter / gauge over the data points whose attributes include ``labels``."""
        return sum(p.value for p in self._matching(name, labels))

    def count(self, name: str, **labels: Any) -> int:
        """Number of samples recorded in a histogram (summed over matching points)."""
        return sum(p.count for p in self._matching(name, labels))

    def total(self, name: str, **labels: Any) -> float:
        """Sum of the samples recorded in a histogram."""
        return sum(p.sum for p in self._matching(name, labels))

    def label_sets(self, name: str) -> list[dict[str, Any]]:
        return [dict(p.attributes) for p in self.points(name)]

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())


AUTH = {"Authorization": "Bearer sk-test"}
MESSAGES = [{"role": "user", "content": "Compare latency across models, briefly."}]


def chat(model: str = "gpt-4.1", **extra: Any) -> dict[str, Any]:
    """A chat completion request body."""
    return {"model": model, "messages": MESSAGES, **extra}


def scenario(directives: str) -> dict[str, str]:
    """Request headers: auth plus the simulator's per-request ``x-sim-scenario`` directives."""
    return {**AUTH, "x-sim-scenario": directives}


def providers() -> Captured:
    """Fresh in-memory meter and tracer providers."""
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Captured(reader, exporter, meter_provider, tracer_provider)


@contextmanager
def instrumented(cap: Captured | None = None, **kwargs: Any) -> Iterator[Captured]:
    """Instrument with in-memory providers; always uninstrument afterwards (the instrumentor is a singleton)."""
    cap = cap or providers()
    instrumentor = HolySheepInstrumentor()
    instrumentor.instrument(tracer_provider=cap.tracer_provider, meter_provider=cap.meter_provider, **kwargs)
    try:
        yield cap
    finally:
        instrumentor.uninstrument()
        cap.meter_provider.shutdown()
        cap.tracer_provider.shutdown()


# metric name (with _total, _bucket... suffixes) -> [(labels, value)], as a Prometheus exposition page has them
Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(url: str) -> Samples:
    """The samples of a ``/metrics`` page, retried for 10 s while the app's exporter is not listening yet."""
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def wait_until(condition: Callable[[], object], timeout: float = 30.0, what: str = "the condition") -> None:
    """Poll ``condition`` until it is true; fail after a generous ``timeout`` (a wait for a state, not a guess)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s")
        time.sleep(0.01)


async def wait_until_async(condition: Callable[[], object], timeout: float = 30.0, what: str = "the condition") -> None:
    """``wait_until`` for a coroutine: yields to the event loop between polls."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s")
        await asyncio.sleep(0.01)


def openai_aiohttp_client_or_skip() -> None:
    """Skip unless the openai SDK's aiohttp client can be built here: it needs the SDK's `aiohttp` extra, whose
    httpx-aiohttp requires a newer aiohttp than the oldest one we support (the oldest compatibility cell)."""
    import openai

    try:
        client = openai.DefaultAioHttpClient()
    except RuntimeError as exc:
        pytest.skip(f"openai.DefaultAioHttpClient is unavailable in this environment: {exc}")
    asyncio.run(client.aclose())
