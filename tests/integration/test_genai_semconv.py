"""The gen_ai.* output in both convention forms, checked against the conventions table (``_semconv``): the real openai
SDK against the gateway simulator over loopback, chat with and without streaming, embeddings, a failed call; every
exported gen_ai metric's name, instrument kind, unit, bucket advice and attributes, the exact values, the span
attributes and the schema URL. Without the opt-in the output is the v1.41 one, byte for byte (goldens written by the
code before the opt-in existed, when the detail histograms were on by default: these tests turn them on, see
``detail_histograms``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from opentelemetry.sdk.metrics.export import Histogram, Sum
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_holysheep import _semconv as sc
from otel_holysheep._config import ENV_DETAIL_HISTOGRAMS, ENV_GENAI_METRICS, ENV_SEMCONV_STABILITY_OPT_IN
from otel_holysheep.simulator import GatewaySimulator
from tests.integration.exposition_workload import (
    GOLDEN,
    GOLDEN_GENAI,
    GOLDEN_GENAI_SPANS,
    masked,
    masked_spans,
    run_workload,
)
from tests.support import Captured, instrumented

pytestmark = pytest.mark.openai_sdk

KEY = "sk-holysheep-test-KEY-0123456789"
MESSAGES = [{"role": "user", "content": "Which model is fastest?"}]
OPT_IN = "http, gen_ai_latest_experimental"  # the standard list, another instrumentation's value in it
EMBEDDINGS = "gen_ai.client.embeddings."


@pytest.fixture(autouse=True)
def detail_histograms(monkeypatch: pytest.MonkeyPatch) -> None:
    """The goldens have the (since opt-in) detail histograms: on here, so they compare the gen_ai.* output only."""
    monkeypatch.setenv(ENV_DETAIL_HISTOGRAMS, "true")


class Workload:
    """What the workload's calls were told by the gateway (the SDK's own view), to compare the telemetry with."""

    def __init__(self) -> None:
        self.embedding_tokens = 0
        self.cache_write: int | None = None  # prompt_tokens_details.cache_write_tokens, as the gateway sent it


def _client(gateway: GatewaySimulator, directives: str) -> openai.OpenAI:
    headers = {"x-sim-scenario": directives}
    return openai.OpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0, default_headers=headers)


def run(gateway: GatewaySimulator) -> Workload:
    """A JSON chat with cached and reasoning tokens, a stream with usage, embeddings, a chat failing with 500."""
    seen = Workload()
    with _client(gateway, "prompt_tokens=120,completion_tokens=30,cached=40,reasoning=10,cache_write=25") as sdk:
        raw = sdk.chat.completions.with_raw_response.create(model="gpt-4.1", messages=MESSAGES)
        usage = raw.http_response.json()["usage"]
        assert usage["prompt_tokens"] == 120
        seen.cache_write = (usage.get("prompt_tokens_details") or {}).get("cache_write_tokens")
        assert seen.cache_write == 25
    with _client(gateway, "chunks=5,prompt_tokens=50") as sdk:
        stream = sdk.chat.completions.create(
            model="claude-sonnet-4", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    with _client(gateway, "") as sdk:
        embedding = sdk.embeddings.create(model="text-embedding-3-small", input="a private text")
        seen.embedding_tokens = embedding.usage.prompt_tokens
        assert seen.embedding_tokens > 0
    with _client(gateway, "status=500") as sdk, pytest.raises(openai.InternalServerError):
        sdk.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    return seen


@pytest.fixture
def latest(gateway: GatewaySimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Captured, Workload]]:
    monkeypatch.setenv(ENV_GENAI_METRICS, "true")
    monkeypatch.setenv(ENV_SEMCONV_STABILITY_OPT_IN, OPT_IN)
    gateway.reset()
    with instrumented(base_urls=[gateway.base_url]) as cap:
        yield cap, run(gateway)


@pytest.fixture
def v1_41(gateway: GatewaySimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Captured, Workload]]:
    monkeypatch.setenv(ENV_GENAI_METRICS, "true")
    monkeypatch.delenv(ENV_SEMCONV_STABILITY_OPT_IN, raising=False)
    gateway.reset()
    with instrumented(base_urls=[gateway.base_url]) as cap:
        yield cap, run(gateway)


def exported(cap: Captured) -> dict[str, tuple[Any, str, str]]:
    """Every gen_ai.* metric our scope exported: name -> (data, unit, scope schema URL)."""
    data = cap.reader.get_metrics_data()
    found: dict[str, tuple[Any, str, str]] = {}
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            if sm.scope.name != "otel_holysheep":
                continue
            for metric in sm.metrics:
                if metric.name.startswith("gen_ai."):
                    found[metric.name] = (metric.data, metric.unit, sm.scope.schema_url)
    return found


def check_against_table(
    cap: Captured, form: sc.Form, expected_names: set[str], streamed: str = "claude-sonnet-4"
) -> dict[str, list[Any]]:
    """Every exported gen_ai metric is a row of ``form`` with that row's kind, unit, buckets and attributes;
    returns the points by name."""
    got = exported(cap)
    assert set(got) == expected_names
    rows = {m.name: m for m in form.metrics}
    points: dict[str, list[Any]] = {}
    for name, (data, unit, schema_url) in got.items():
        row = rows[name]
        assert schema_url == form.schema_url
        assert unit == row.unit, name
        if row.kind == "histogram":
            assert isinstance(data, Histogram), name
        else:
            assert isinstance(data, Sum) and data.is_monotonic, name
        for point in data.data_points:
            keys = set(point.attributes)
            assert set(row.attributes) <= keys <= set(row.attributes) | set(row.optional), (name, keys)
            assert point.attributes["gen_ai.operation.name"] in row.operations, name
            assert point.attributes["gen_ai.provider.name"] == "holysheep"
            if row.kind == "histogram":
                assert tuple(point.explicit_bounds) == tuple(float(x) for x in row.buckets or ()), name
            if row.streams_only:
                assert point.attributes["gen_ai.request.model"] == streamed, name
        points[name] = list(data.data_points)
    return points


def by_model(points: list[Any], value: str = "sum") -> dict[tuple[str, str | None, str | None], float]:
    """(request model, response model, error type) -> the points' value (a counter's value, a histogram's sum or
    count)."""
    out: dict[tuple[str, str | None, str | None], float] = {}
    for p in points:
        a = p.attributes
        key = (a["gen_ai.request.model"], a.get("gen_ai.response.model"), a.get("error.type"))
        out[key] = out.get(key, 0) + getattr(p, value)
    return out


GPT = ("gpt-4.1", "gpt-4.1", None)
CLAUDE = ("claude-sonnet-4", "claude-sonnet-4", None)
FAILED = ("gpt-4.1", None, "http_500")
EMBED = ("text-embedding-3-small", "text-embedding-3-small", None)


def test_latest_form_metrics_follow_the_table(latest: tuple[Captured, Workload]) -> None:
    cap, seen = latest
    points = check_against_table(cap, sc.LATEST, {m.name for m in sc.LATEST.metrics})
    assert by_model(points["gen_ai.client.inference.duration"], "count") == {GPT: 1, CLAUDE: 1, FAILED: 1}
    assert by_model(points["gen_ai.client.inference.time_to_first_chunk"], "count") == {CLAUDE: 1}
    assert by_model(points["gen_ai.client.inference.time_per_output_chunk"], "count") == {CLAUDE: 1}
    # usage counters: every inference, the failed one with 0, modality "unknown", never error.type
    failed_call = ("gpt-4.1", None, None)  # the counters' points carry no error type
    no_error = {GPT: 0, CLAUDE: 0, failed_call: 0}
    for name, want in {
        "gen_ai.client.inference.usage.input_tokens": (120, 50),
        "gen_ai.client.inference.usage.output_tokens": (30, 5),
        "gen_ai.client.inference.usage.cache_read.input_tokens": (40, 0),
        "gen_ai.client.inference.usage.cache_write.input_tokens": (seen.cache_write or 0, 0),
        "gen_ai.client.inference.usage.reasoning.output_tokens": (10, 0),
    }.items():
        assert by_model(points[name], "value") == {**no_error, GPT: want[0], CLAUDE: want[1]}, name
        assert {p.attributes["gen_ai.token.modality"] for p in points[name]} == {"unknown"}
    # per-operation token histograms: one point per inference, the failed one 0 with its error type
    assert by_model(points["gen_ai.client.inference.operation.input_tokens"]) == {GPT: 120, CLAUDE: 50, FAILED: 0}
    assert by_model(points["gen_ai.client.inference.operation.output_tokens"]) == {GPT: 30, CLAUDE: 5, FAILED: 0}
    assert by_model(points["gen_ai.client.inference.operation.input_tokens"], "count") == {
        GPT: 1,
        CLAUDE: 1,
        FAILED: 1,
    }
    # embeddings apart from inference
    assert by_model(points["gen_ai.client.embeddings.duration"], "count") == {EMBED: 1}
    assert by_model(points["gen_ai.client.embeddings.operation.input_tokens"]) == {EMBED: seen.embedding_tokens}


def test_v1_41_form_metrics_follow_the_table(v1_41: tuple[Captured, Workload]) -> None:
    cap, seen = v1_41
    points = check_against_table(cap, sc.V1_41, {m.name for m in sc.V1_41.metrics})
    assert by_model(points["gen_ai.client.operation.duration"], "count") == {GPT: 1, CLAUDE: 1, FAILED: 1, EMBED: 1}
    assert by_model(points["gen_ai.client.operation.time_to_first_chunk"], "count") == {CLAUDE: 1}
    assert by_model(points["gen_ai.client.operation.time_per_output_chunk"], "count") == {CLAUDE: 1}
    tokens = {
        (p.attributes["gen_ai.request.model"], p.attributes["gen_ai.token.type"]): p.sum
        for p in points["gen_ai.client.token.usage"]
    }
    assert tokens == {
        ("gpt-4.1", "input"): 120,
        ("gpt-4.1", "output"): 30,
        ("claude-sonnet-4", "input"): 50,
        ("claude-sonnet-4", "output"): 5,
        ("text-embedding-3-small", "input"): seen.embedding_tokens,
    }


def _spans(cap: Captured) -> dict[str, Any]:
    spans = [s for s in cap.spans() if s.instrumentation_scope and s.instrumentation_scope.name == "otel_holysheep"]
    return {f"{s.name} {s.attributes.get('http.response.status_code')}": s for s in spans}


def test_latest_form_spans_follow_the_table(latest: tuple[Captured, Workload]) -> None:
    cap, seen = latest
    spans = _spans(cap)
    assert set(spans) == {
        "chat gpt-4.1 200",
        "chat claude-sonnet-4 200",
        "embeddings text-embedding-3-small 200",
        "chat gpt-4.1 500",
    }
    for span in spans.values():
        assert span.instrumentation_scope.schema_url == sc.LATEST.schema_url
        assert {k for k in span.attributes if k.startswith("gen_ai.")} <= sc.LATEST.span_attributes
        assert "gen_ai.usage.cache_creation.input_tokens" not in span.attributes
    stream = spans["chat claude-sonnet-4 200"]
    assert stream.attributes["gen_ai.request.stream"] is True
    ttfc = stream.attributes["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttfc, float)
    assert 0 < ttfc * 1e9 < stream.end_time - stream.start_time
    for key in ("chat gpt-4.1 200", "embeddings text-embedding-3-small 200", "chat gpt-4.1 500"):
        assert "gen_ai.request.stream" not in spans[key].attributes  # only when streaming
        assert "gen_ai.response.time_to_first_chunk" not in spans[key].attributes
    assert spans["chat gpt-4.1 200"].attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert spans["chat gpt-4.1 200"].attributes["gen_ai.usage.cache_read.input_tokens"] == 40
    # cache writes on the span only when the gateway reported them
    assert spans["chat gpt-4.1 200"].attributes.get("gen_ai.usage.cache_write.input_tokens") == seen.cache_write
    # a finish reason expected and never received: "error"
    assert spans["chat gpt-4.1 500"].attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert "gen_ai.response.finish_reasons" not in spans["embeddings text-embedding-3-small 200"].attributes


def test_v1_41_form_spans_follow_the_table(v1_41: tuple[Captured, Workload]) -> None:
    cap, _ = v1_41
    spans = _spans(cap)
    for span in spans.values():
        assert span.instrumentation_scope.schema_url == sc.V1_41.schema_url
        assert {k for k in span.attributes if k.startswith("gen_ai.")} <= sc.V1_41.span_attributes
        assert span.attributes["gen_ai.request.stream"] is (span.name == "chat claude-sonnet-4")
    assert "gen_ai.response.finish_reasons" not in spans["chat gpt-4.1 500"].attributes


def _workload(gateway: GatewaySimulator) -> tuple[str, str]:
    exporter = InMemorySpanExporter()
    gateway.reset()
    text = masked(run_workload(gateway, exporter))
    return text, masked_spans(exporter.get_finished_spans())


@pytest.mark.parametrize("opt_in", [None, "", "http,database/dup", "GEN_AI_LATEST_EXPERIMENTAL"])
def test_without_the_opt_in_the_gen_ai_output_is_byte_for_byte_what_it_was(
    opt_in: str | None, gateway: GatewaySimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_GENAI_METRICS, "true")
    if opt_in is None:
        monkeypatch.delenv(ENV_SEMCONV_STABILITY_OPT_IN, raising=False)
    else:
        monkeypatch.setenv(ENV_SEMCONV_STABILITY_OPT_IN, opt_in)
    exposition, spans = _workload(gateway)
    assert exposition == GOLDEN_GENAI.read_text()
    assert spans == GOLDEN_GENAI_SPANS.read_text()


def test_the_opt_in_alone_changes_nothing_while_the_gen_ai_metrics_are_off(
    gateway: GatewaySimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_GENAI_METRICS, raising=False)
    monkeypatch.setenv(ENV_SEMCONV_STABILITY_OPT_IN, OPT_IN)
    exposition, spans = _workload(gateway)
    assert exposition == GOLDEN.read_text()
    # the spans are the v1.41 golden's (which was written with the gen_ai metrics on: spans do not depend on them)
    assert spans == GOLDEN_GENAI_SPANS.read_text()


def test_the_latest_form_replaces_every_v1_41_family_in_the_exposition(
    gateway: GatewaySimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real Prometheus exporter: the holysheep_* families are untouched (apart from the scope's schema
    URL label), the v1.41 gen_ai_* families are gone, the latest ones are there."""
    monkeypatch.setenv(ENV_GENAI_METRICS, "true")
    monkeypatch.setenv(ENV_SEMCONV_STABILITY_OPT_IN, OPT_IN)
    exposition, _ = _workload(gateway)
    ours = exposition.replace(sc.LATEST.schema_url, sc.V1_41.schema_url).splitlines()
    want = GOLDEN_GENAI.read_text().splitlines()
    assert [line for line in ours if "gen_ai_" not in line] == [line for line in want if "gen_ai_" not in line]
    families = {line.split(" ")[2] for line in ours if line.startswith("# TYPE gen_ai_")}
    assert families == {
        "gen_ai_client_inference_duration_seconds",
        "gen_ai_client_inference_time_to_first_chunk_seconds",
        "gen_ai_client_inference_time_per_output_chunk_seconds",
        "gen_ai_client_inference_usage_input_tokens_total",
        "gen_ai_client_inference_usage_output_tokens_total",
        "gen_ai_client_inference_usage_cache_read_input_tokens_total",
        "gen_ai_client_inference_usage_cache_write_input_tokens_total",
        "gen_ai_client_inference_usage_reasoning_output_tokens_total",
        "gen_ai_client_inference_operation_input_tokens",
        "gen_ai_client_inference_operation_output_tokens",
        "gen_ai_client_embeddings_duration_seconds",
        "gen_ai_client_embeddings_operation_input_tokens",
    }


@pytest.mark.parametrize("form", [sc.V1_41, sc.LATEST], ids=lambda form: form.name)
def test_a_cut_stream_in_both_forms(form: sc.Form, gateway: GatewaySimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream cut after two chunks: no finish reason and no usage came. Latest: the span says ``["error"]``, the
    token histograms get 0 with the error type and the counters 0; time to first chunk without an error type. v1.41:
    as before (no finish reasons, and the error type on the time to first chunk, which v1.41 does not define)."""
    monkeypatch.setenv(ENV_GENAI_METRICS, "true")
    monkeypatch.setenv(ENV_SEMCONV_STABILITY_OPT_IN, OPT_IN if form is sc.LATEST else "")
    headers = {"Authorization": f"Bearer {KEY}", "x-sim-scenario": "cut_after=2,chunks=8"}
    body = {"model": "gpt-4.1", "messages": MESSAGES, "stream": True}
    with (
        instrumented(base_urls=[gateway.base_url]) as cap,
        httpx2.Client(base_url=gateway.base_url, headers=headers) as client,
    ):
        with (
            client.stream("POST", "/chat/completions", json=body) as response,
            pytest.raises(httpx2.RemoteProtocolError),
        ):
            for _ in response.iter_lines():
                pass
        # v1.41: no usage, no token.usage point
        names = {m.name for m in form.metrics if not m.name.startswith(EMBEDDINGS) and m.key != "tokens"}
        points = check_against_table(cap, form, names, streamed="gpt-4.1")
        (span,) = _spans(cap).values()
    cut = ("gpt-4.1", "gpt-4.1", "stream_interrupted")  # the response model came with the first chunks
    ttfc = form.metric("time_to_first_chunk").name
    if form is sc.LATEST:
        assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
        assert span.attributes["gen_ai.request.stream"] is True
        assert by_model(points[ttfc], "count") == {GPT: 1}
        assert by_model(points["gen_ai.client.inference.operation.input_tokens"], "count") == {cut: 1}
        assert by_model(points["gen_ai.client.inference.operation.input_tokens"]) == {cut: 0}
        assert by_model(points["gen_ai.client.inference.usage.output_tokens"], "value") == {GPT: 0}
    else:
        assert "gen_ai.response.finish_reasons" not in span.attributes
        assert by_model(points[ttfc], "count") == {cut: 1}
