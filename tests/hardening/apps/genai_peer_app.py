"""Run with the official OpenAI GenAI instrumentation importable: both instrumentors on one process, either order.

argv: GATEWAY_URL ORDER(peer-first|holysheep-first). Prints one JSON object with what was exported.
"""

from __future__ import annotations

import json
import sys

import httpx2
import openai
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_holysheep import HolySheepInstrumentor

url, order = sys.argv[1], sys.argv[2]
originals = (httpx2.Client.__dict__["_send_single_request"], httpx2.AsyncClient.__dict__["_send_single_request"])
reader = InMemoryMetricReader()
meter_provider = MeterProvider(metric_readers=[reader])
exporter = InMemorySpanExporter()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(tracer_provider)
metrics.set_meter_provider(meter_provider)
kwargs = {"tracer_provider": tracer_provider, "meter_provider": meter_provider}
instrumentors = [(OpenAIInstrumentor(), kwargs), (HolySheepInstrumentor(), {**kwargs, "base_urls": [url]})]
if order == "holysheep-first":
    instrumentors.reverse()
for instrumentor, options in instrumentors:
    instrumentor.instrument(**options)

messages = [{"role": "user", "content": "hi"}]
with openai.OpenAI(base_url=url, api_key="sk-peer", max_retries=0) as sdk:
    sdk.chat.completions.create(model="gpt-4.1", messages=messages)
    sdk.chat.completions.create(model="gpt-4.1", messages=messages)
    for _ in sdk.chat.completions.create(
        model="gpt-4.1", messages=messages, stream=True, stream_options={"include_usage": True}
    ):
        pass

points: dict[str, list[dict[str, object]]] = {}
data = reader.get_metrics_data()
for rm in data.resource_metrics if data else []:
    for sm in rm.scope_metrics:
        for metric in sm.metrics:
            for point in metric.data.data_points:
                value = getattr(point, "value", None)
                points.setdefault(metric.name, []).append(
                    {"attributes": dict(point.attributes), "value": value if value is not None else point.count}
                )
for instrumentor, _ in reversed(instrumentors):
    instrumentor.uninstrument()
restored = (httpx2.Client.__dict__["_send_single_request"], httpx2.AsyncClient.__dict__["_send_single_request"])
print(
    json.dumps(
        {
            "points": points,
            "spans": sorted(span.name for span in exporter.get_finished_spans()),
            "restored": restored == originals,
        },
        default=str,
    )
)
