"""What exemplars cost per request: the same instrumented request with the SDK's default exemplar filter
(``trace_based``: a sampled span makes an exemplar, which our latency histograms point at the attempt's own span)
against a meter provider whose filter is ``always_off``; and the part our code adds either way (one context holding
the span, built once per request)."""

from __future__ import annotations

import json
import statistics
import timeit
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from benchmarks import _fakes as f
from benchmarks import _setup as s
from benchmarks._harness import Variant, interleaved, nothing
from benchmarks.cases import _summary

JSON_HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
STREAM_CHUNKS = 8


def _holysheep_with(meter_provider: MeterProvider, p: s.Providers) -> Any:
    from otel_holysheep import HolySheepInstrumentor  # noqa: PLC0415

    @contextmanager
    def on() -> Iterator[None]:
        instrumentor = HolySheepInstrumentor()
        instrumentor.instrument(tracer_provider=p.tracer_provider, meter_provider=meter_provider)
        try:
            yield
        finally:
            instrumentor.uninstrument()

    return on


def exemplars_case(p: s.Providers, rounds: int, iterations: int) -> dict[str, Any]:
    """JSON chat and an SSE stream (duration, time to headers and time to first token: three exemplars) through
    httpx with exemplars on (the default) and off."""
    import httpx  # noqa: PLC0415

    off = MeterProvider(metric_readers=[InMemoryMetricReader()], exemplar_filter=AlwaysOffExemplarFilter())
    chunks = f.sse_chunks(STREAM_CHUNKS)
    stream: f.Canned = (200, f.SSE_HEADERS, lambda: iter(chunks))
    results: dict[str, Any] = {}
    for name, canned, payload in (
        ("json", f.chat_json(), json.dumps(f.CHAT_REQUEST).encode()),
        ("stream", stream, json.dumps({**f.CHAT_REQUEST, "stream": True}).encode()),
    ):
        client = httpx.Client(transport=f.transport("httpx", canned))

        def run(n: int, client: Any = client, payload: bytes = payload) -> None:
            for _ in range(n):
                with client.stream("POST", f.CHAT_URL, content=payload, headers=JSON_HEADERS) as response:
                    for _chunk in response.iter_raw():
                        pass

        variants = [
            Variant("plain", nothing, run),
            Variant("exemplars off", _holysheep_with(off, p), run),
            Variant("otel-holysheep", _holysheep_with(p.meter_provider, p), run),  # trace_based: exemplars on
        ]
        timings = interleaved(variants, iterations, rounds, warmup=max(50, iterations // 10))
        client.close()
        on, off_t = timings["otel-holysheep"].cpu, timings["exemplars off"].cpu
        results[name] = {
            "variants": _summary(timings),
            # paired, like the overheads: the median over rounds of (exemplars on - off) in the same round
            "exemplar_cost_us": statistics.median(a - b for a, b in zip(on, off_t, strict=True)) * 1e6,
        }
    off.shutdown()
    span = p.tracer_provider.get_tracer("bench").start_span("x")
    empty = otel_context.Context()
    loops = 200_000
    seconds = timeit.timeit(lambda: trace.set_span_in_context(span, empty), number=loops)
    span.end()
    results["context_per_request_us"] = seconds / loops * 1e6
    return results
