"""A fixed workload against the gateway simulator, exposed by the real OTel Prometheus exporter, for comparing
expositions with and without attribution (tests/integration/test_attribution_exposition.py).

Regenerate the golden (only for an intended change of the default exposition):
    .venv/bin/python -m tests.integration.exposition_workload
The committed golden was written by the code before attribution existed (main at 84f2513), so a default exposition
equal to it is the exposition of before, byte for byte (timings masked); regenerated once since, for issue 24, which
only added the ``holysheep_finishes_total`` family (5 lines, nothing else changed).
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx2
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry, generate_latest

from otel_holysheep import HolySheepInstrumentor
from otel_holysheep.simulator import GatewaySimulator

GOLDEN = Path(__file__).parent / "golden" / "exposition-default.txt"
HEADERS = {"Authorization": "Bearer sk-test"}
MESSAGES = [{"role": "user", "content": "hello"}]
# Sample values that depend on timing or on the simulator's rate-limit state; everything else is exact.
_MASKED = re.compile(
    r"^((?:holysheep|gen_ai)_\w+(?:_bucket|_sum)\{.*\}|holysheep_ratelimit_\w+\{.*\}) \S+$", re.MULTILINE
)


_VERSION = re.compile(r'otel_scope_version="[^"]*"')


def masked(text: str) -> str:
    """The exposition without target_info (it carries the SDK version), with our version as ``V`` and
    timing-dependent values as ``X``."""
    lines = [line for line in text.splitlines() if not line.startswith("target_info")]
    return _MASKED.sub(r"\1 X", _VERSION.sub('otel_scope_version="V"', "\n".join(lines))) + "\n"


def _server_span(tracer: trace.Tracer, route: str, team: str | None) -> tuple[object, object]:
    ctx = baggage.set_baggage("team", team) if team is not None else otel_context.get_current()
    token = otel_context.attach(ctx)
    span = tracer.start_span(f"POST {route}", kind=SpanKind.SERVER, attributes={"http.route": route})
    return token, trace.use_span(span, end_on_exit=True)


def run_workload(gateway: GatewaySimulator) -> str:
    """The workload under the instrumentor with fresh providers; returns the exporter's text exposition."""
    registry = CollectorRegistry()
    meter_provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    tracer_provider = TracerProvider()
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
    with GatewaySimulator() as sim:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(masked(run_workload(sim)))
    print(f"wrote {GOLDEN}")
