"""The series case: what one instrumented process costs a metrics backend, per model.

A README-shaped workload (4 chat models; the openai SDK and raw httpx; JSON and streams, one cancelled early;
a 429 with retry-after, a 500, a 401, a 503 the SDK retries) runs against the gateway simulator once per path:

- pull: the OpenTelemetry Prometheus exporter's page (a fresh registry), parsed; every sample is one series;
- otlp: the OTLP/HTTP exporter posting to a loopback receiver, the protobuf decoded and counted as a Prometheus
  backend stores it: a sum or gauge point is 1 series, an explicit-bucket histogram point (buckets + 1) + 2
  (`_bucket`s with +Inf, `_sum`, `_count`), an exponential histogram point 1 (a Prometheus 3 native histogram).

Series are counted per family and per `model` (`gen_ai_request_model` for `gen_ai_*`) label value. Each documented
setting that trades series for detail is measured on the pull path too, and the official OpenAI instrumentation on
the same workload (it sees only the SDK's calls) for reference.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODELS = ("gpt-4.1", "claude-sonnet-4", "gemini-2.5-flash", "deepseek-v3.2")
MESSAGES = [{"role": "user", "content": "ping"}]
MODEL_LABELS = ("model", "gen_ai_request_model")
HISTOGRAM_AGGREGATION = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"
SEMCONV_OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"

# Series per model on the pull path with default settings before this work (main at f958f5f, this workload): the
# reference of the <= 0.5x target. The run that measured it is recorded in benchmarks/RESULTS.md.
BEFORE_PER_MODEL = 274.0
NATIVE_LIMIT = 50.0
# Issue 24: at most 100 series per chat model with the defaults on this workload (pull path).
SERIES_BUDGET = 100.0

# Documented settings that change what is recorded, measured against the defaults (pull path).
SETTINGS: dict[str, dict[str, str]] = {
    "GENAI_METRICS=true": {"OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS": "true"},
    "GENAI_METRICS=true, OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental": {
        "OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS": "true",
        SEMCONV_OPT_IN: "gen_ai_latest_experimental",
    },
    "DETAIL_HISTOGRAMS=true": {"OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS": "true"},
    "TIME_TO_HEADERS=all": {"OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS": "all"},
}


def run_workload(base_url: str) -> None:
    """Every call of the workload, in order: the same label sets on every path."""
    import httpx  # noqa: PLC0415
    import openai  # noqa: PLC0415

    def scenario(text: str) -> dict[str, str]:
        return {"x-sim-scenario": text}

    sdk = openai.OpenAI(base_url=base_url, api_key="sk-series", max_retries=2)
    bad_key = openai.OpenAI(base_url=base_url, api_key="sk-invalid", max_retries=0)
    raw = httpx.Client(base_url=base_url, headers={"Authorization": "Bearer sk-series"})
    run = uuid.uuid4().hex  # the simulator fails a key's first attempt only once: a fresh key per run
    try:
        for model in MODELS:
            usage = scenario("prompt_tokens=400,completion_tokens=60,cached=100,reasoning=10")
            sdk.chat.completions.create(model=model, messages=MESSAGES, extra_headers=usage)  # type: ignore[arg-type]
            raw.post("/chat/completions", json={"model": model, "messages": MESSAGES})
            stream = sdk.chat.completions.create(  # type: ignore[call-overload]
                model=model,
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=scenario("chunks=5"),
            )
            for _ in stream:
                pass
            body = {"model": model, "messages": MESSAGES, "stream": True}
            with raw.stream("POST", "/chat/completions", json=body, headers=scenario("chunks=4")) as response:
                for _ in response.iter_lines():  # no include_usage: a stream without usage
                    pass
            with raw.stream("POST", "/chat/completions", json=body, headers=scenario("chunks=8")) as response:
                for i, _ in enumerate(response.iter_lines()):
                    if i == 2:
                        break  # the app stops reading: a cancelled stream
            raw.post(
                "/chat/completions",
                json={"model": model, "messages": MESSAGES},
                headers=scenario("status=429,retry_after=2"),
            )
            raw.post("/chat/completions", json={"model": model, "messages": MESSAGES}, headers=scenario("status=500"))
            with contextlib.suppress(openai.AuthenticationError):
                bad_key.chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
            sdk.chat.completions.create(
                model=model,
                messages=MESSAGES,  # type: ignore[arg-type]
                extra_headers=scenario(f"fail_first=1,fail_status=503,key={run}-{model},retry_after_ms=1"),
            )
    finally:
        sdk.close()
        bad_key.close()
        raw.close()


def _environment(env: Mapping[str, str]) -> Any:
    """Only ``env`` among our settings, the histogram-aggregation and semconv opt-in variables: defaults are really
    defaults."""
    from benchmarks._setup import settings_environment  # noqa: PLC0415

    return settings_environment(env, also_clear=(HISTOGRAM_AGGREGATION, SEMCONV_OPT_IN))


@contextlib.contextmanager
def _instrumented(meter_provider: Any, tracer_provider: Any, base_url: str, peer: bool) -> Iterator[None]:
    if peer:
        from benchmarks._setup import official_openai_class  # noqa: PLC0415

        cls = official_openai_class()
        if cls is None:
            raise ImportError("the official OpenAI instrumentation is not installed (make bench installs it)")
        instrumentor: Any = cls()
        instrumentor.instrument(meter_provider=meter_provider, tracer_provider=tracer_provider)
    else:
        from otel_holysheep import HolySheepInstrumentor  # noqa: PLC0415

        instrumentor = HolySheepInstrumentor()
        instrumentor.instrument(meter_provider=meter_provider, tracer_provider=tracer_provider, base_urls=[base_url])
    try:
        yield
    finally:
        instrumentor.uninstrument()


def _tracer_provider() -> Any:
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415

    return TracerProvider()  # no processor: spans are not what this case counts


def pull_series(base_url: str, env: Mapping[str, str], *, peer: bool = False) -> list[tuple[str, dict[str, str]]]:
    """(family, labels) of every series on the Prometheus exporter's page after the workload."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader  # noqa: PLC0415
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
    from prometheus_client import CollectorRegistry, generate_latest  # noqa: PLC0415
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    tracer_provider = _tracer_provider()
    try:
        with _environment(env), _instrumented(provider, tracer_provider, base_url, peer):
            run_workload(base_url)
        text = generate_latest(registry).decode()
    finally:
        provider.shutdown()
        tracer_provider.shutdown()
    out = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = family.name if family.type in ("histogram", "summary") else sample.name
            out.append((name, dict(sample.labels)))
    return out


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (  # noqa: PLC0415
            ExportMetricsServiceRequest,
        )

        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportMetricsServiceRequest()
        request.ParseFromString(body)
        self.server.requests.append(request)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _series_of_point(kind: str, point: Any) -> int:
    if kind == "histogram":
        return len(point.explicit_bounds) + 3  # buckets, +Inf, _sum, _count
    return 1  # a sum or gauge point; an exponential histogram is one native series


def otlp_series(base_url: str, env: Mapping[str, str]) -> list[tuple[str, dict[str, str]]]:
    """(metric, attributes) once per series a Prometheus backend stores for the OTLP export after the workload."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # noqa: PLC0415
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader  # noqa: PLC0415

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    tracer_provider = _tracer_provider()
    try:
        with _environment(env):
            endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/metrics"
            reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint), export_interval_millis=3.6e6)
            provider = MeterProvider(metric_readers=[reader])
            try:
                with _instrumented(provider, tracer_provider, base_url, peer=False):
                    run_workload(base_url)
                provider.force_flush()
            finally:
                provider.shutdown()
    finally:
        tracer_provider.shutdown()
        server.shutdown()
        server.server_close()
        thread.join(5)
    latest: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[str, int]] = {}
    for request in server.requests:  # type: ignore[attr-defined]
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data")
                    for point in getattr(metric, kind).data_points:
                        attrs = tuple(sorted((a.key, _any_value(a.value)) for a in point.attributes))
                        latest[(_prometheus_name(metric.name), attrs)] = (kind, _series_of_point(kind, point))
    out = []
    for (name, attrs), (_, count) in latest.items():
        labels = {k.replace(".", "_"): v for k, v in attrs}
        out.extend([(name, labels)] * count)
    return out


def _any_value(value: Any) -> str:
    kind = value.WhichOneof("value")
    return str(getattr(value, kind)) if kind else ""


def _prometheus_name(name: str) -> str:
    return name.replace(".", "_")


def tabulate(series: list[tuple[str, dict[str, str]]]) -> dict[str, Any]:
    """Series per family and model, the mean per model, and each family's share of the per-model total."""
    per_family: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    unlabelled: dict[str, int] = defaultdict(int)
    models: set[str] = set()
    for name, labels in series:
        model = next((labels[k] for k in MODEL_LABELS if k in labels), None)
        if model is None:
            unlabelled[name] += 1
            continue
        models.add(model)
        per_family[name][model] += 1
    n = max(len(models), 1)
    families: dict[str, dict[str, Any]] = {
        name: {"per_model": dict(sorted(counts.items())), "mean_per_model": sum(counts.values()) / n}
        for name, counts in per_family.items()
    }
    total = sum(f["mean_per_model"] for f in families.values())
    for f in families.values():
        f["share"] = f["mean_per_model"] / total if total else 0.0
    by_prefix: dict[str, float] = defaultdict(float)
    for name, f in families.items():
        by_prefix["gen_ai_*" if name.startswith("gen_ai_") else name.split("_", 1)[0] + "_*"] += f["mean_per_model"]
    return {
        "models": sorted(models),
        "per_model": total,
        "by_prefix": dict(by_prefix),
        "families": dict(sorted(families.items(), key=lambda kv: -kv[1]["mean_per_model"])),
        "not_per_model": dict(unlabelled),
    }


def series_case() -> dict[str, Any]:
    """Pull path with defaults and with each setting; OTLP with classic and exponential histograms; the peer."""
    from otel_holysheep.simulator import GatewaySimulator  # noqa: PLC0415

    result: dict[str, Any] = {"workload_models": list(MODELS)}
    with GatewaySimulator() as sim:
        url = sim.base_url
        result["pull"] = tabulate(pull_series(url, {}))
        result["settings"] = {name: tabulate(pull_series(url, env))["per_model"] for name, env in SETTINGS.items()}
        result["otlp_classic"] = tabulate(otlp_series(url, {}))
        exponential = {HISTOGRAM_AGGREGATION: "base2_exponential_bucket_histogram"}
        result["otlp_native"] = tabulate(otlp_series(url, exponential))
        try:
            result["official_openai"] = tabulate(pull_series(url, {}, peer=True))
        except ImportError as exc:
            result["official_openai"] = {"unavailable": str(exc)}
    return result
