"""A fixed workload against the gateway simulator, exposed by the real OTel Prometheus exporter, for comparing
expositions with and without attribution (tests/integration/test_attribution_exposition.py).

Regenerate the golden (only for an intended change of the default exposition):
    .venv/bin/python -m tests.integration.exposition_workload
and the gen_ai.* v1.41 goldens (gen_ai metrics on, no OTEL_SEMCONV_STABILITY_OPT_IN; tests/integration/
test_genai_semconv.py), written by the code before the opt-in existed (main at b1212e3):
    .venv/bin/python -m tests.integration.exposition_workload --genai
The committed golden was written by the code before attribution existed (main at 84f2513), so a default exposition
equal to it is the exposition of before, byte for byte (timings masked); regenerated once since, for issue 24, which
only added the ``holysheep_finishes_total`` family (5 lines, nothing else changed). Both goldens have the detail
histograms (``OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS=true``, set by the commands above): they were on by
default when the goldens were written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import httpx2
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry, generate_latest

from otel_holysheep import HolySheepInstrumentor
from otel_holysheep.simulator import GatewaySimulator

GOLDEN = Path(__file__).parent / "golden" / "exposition-default.txt"
# With the gen_ai.* family on and no semconv opt-in: the v1.41 form, written by the code before the opt-in existed.
GOLDEN_GENAI = Path(__file__).parent / "golden" / "exposition-genai-v1.41.txt"
GOLDEN_GENAI_SPANS = Path(__file__).parent / "golden" / "spans-genai-v1.41.jsonl"
HEADERS = {"Authorization": "Bearer sk-test"}
MESSAGES = [{"role": "user", "content": "hello"}]
# Sample values that depend on timing or on the simulator's rate-limit state; everything else is exact.
_MASKED = re.compile(
    r"^((?:holysheep|gen_ai)_\w+(?:_bucket|_sum)\{.*\}|holysheep_ratelimit_\w+\{.*\}) \S+$", re.MULTILINE
)


_VERSION = re.compile(r'otel_scope_version="[^"]*"')
_PORT = re.compile(r'server_port="\d+"')  # the simulator's port (gen_ai_* series only)


def masked(text: str) -> str:
    """The exposition without target_info (it carries the SDK version), with our version as ``V``, the simulator's
    port as ``P`` and timing-dependent values as ``X``."""
    lines = [line for line in text.splitlines() if not line.startswith("target_info")]
    text = _PORT.sub('server_port="P"', _VERSION.sub('otel_scope_version="V"', "\n".join(lines)))
    return _MASKED.sub(r"\1 X", text) + "\n"


# Span attribute values that depend on the run (a random port, generated ids, timings); keys and order stay exact.
_RUN_DEPENDENT = frozenset(
    {"server.port", "gen_ai.response.id", "holysheep.time_to_first_token", "gen_ai.response.time_to_first_chunk"}
)


def masked_spans(spans: Sequence[ReadableSpan]) -> str:
    """Our spans as JSON lines: name, kind, scope schema URL and every attribute in order, run-dependent values
    as ``"X"``."""
    lines = []
    for span in spans:
        if span.instrumentation_scope is None or span.instrumentation_scope.name != "otel_holysheep":
            continue
        attributes = [
            [key, "X" if key in _RUN_DEPENDENT else (list(value) if isinstance(value, tuple) else value)]
            for key, value in (span.attributes or {}).items()
        ]
        scope = span.instrumentation_scope.schema_url
        lines.append(json.dumps([span.name, span.kind.name, scope, attributes]))
    return "\n".join(lines) + "\n"


def _server_span(tracer: trace.Tracer, route: str, team: str | None) -> tuple[object, object]:
    ctx = baggage.set_baggage("team", team) if team is not None else otel_context.get_current()
    token = otel_context.attach(ctx)
    span = tracer.start_span(f"POST {route}", kind=SpanKind.SERVER, attributes={"http.route": route})
    return token, trace.use_span(span, end_on_exit=True)


def run_workload(gateway: GatewaySimulator, spans: SpanExporter | None = None) -> str:
    """The workload under the instrumentor with fresh providers; returns the exporter's text exposition (and hands
    the finished spans to ``spans`` when given)."""
    registry = CollectorRegistry()
    meter_provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    tracer_provider = TracerProvider()
    if spans is not None:
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer = tracer_provider.get_tracer("app")
    instrumentor = HolySheepInstrumentor()
    instrumentor.instrument(
        meter_provider=meter_provider, tracer_provider=tracer_provider, base_urls=[gateway.base_url]
    )
    try:
        with httpx2.Client(base_url=gateway.base_url, headers=HEADERS) as client:

            def chat(model: str, directives: str, **extra: object) -> None:
                headers = {"x-sim-scenario": directives}
                body = {"model": model, "messages": MESSAGES, **extra}
                if extra.get("stream"):
                    with client.stream("POST", "/chat/completions", json=body, headers=headers) as response:
                        for _ in response.iter_bytes():
                            pass
                else:
                    client.post("/chat/completions", json=body, headers=headers)

            token, span = _server_span(tracer, "/chat/{thread_id}", "search")
            with span:  # type: ignore[attr-defined]
                chat("gpt-4.1", "prompt_tokens=120,completion_tokens=30")
                chat("gpt-4.1", "prompt_tokens=80,completion_tokens=20,cached=40")
                chat("gpt-4.1", "status=500")
            otel_context.detach(token)  # type: ignore[arg-type]
            token, span = _server_span(tracer, "/stream", None)
            with span:  # type: ignore[attr-defined]
                chat(
                    "claude-sonnet-4", "chunks=5,prompt_tokens=50", stream=True, stream_options={"include_usage": True}
                )
                chat("deepseek-v3.2", "status=401")
            otel_context.detach(token)  # type: ignore[arg-type]
            # outside any server span
            client.post(
                "/embeddings", json={"model": "text-embedding-3-small", "input": "x"}, headers={"x-sim-scenario": "x"}
            )
            chat("gemini-2.5-flash", "status=429,retry_after=2")
            chat("gemini-2.5-flash", "prompt_tokens=10,completion_tokens=10")
    finally:
        instrumentor.uninstrument()
    text = generate_latest(registry).decode()
    meter_provider.shutdown()
    tracer_provider.shutdown()
    return text


if __name__ == "__main__":
    import os
    import sys

    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    # the goldens have the detail histograms (on by default when they were written; the tests turn them on)
    os.environ["OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS"] = "true"
    if sys.argv[1:] == ["--genai"]:  # the v1.41 gen_ai.* goldens: gen_ai metrics on, no semconv opt-in
        os.environ["OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS"] = "true"
        os.environ.pop("OTEL_SEMCONV_STABILITY_OPT_IN", None)
        exporter = InMemorySpanExporter()
        with GatewaySimulator() as sim:
            GOLDEN_GENAI.write_text(masked(run_workload(sim, exporter)))
        GOLDEN_GENAI_SPANS.write_text(masked_spans(exporter.get_finished_spans()))
        print(f"wrote {GOLDEN_GENAI} and {GOLDEN_GENAI_SPANS}")
    else:
        with GatewaySimulator() as sim:
            GOLDEN.write_text(masked(run_workload(sim)))
        print(f"wrote {GOLDEN}")
