"""The GenAI conventions table (``_semconv``): the opt-in read exactly as opentelemetry-instrumentation reads it, and
the table itself checked against the conventions' documents it was written from (names, kinds, units, buckets)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.instrumentation import _semconv as upstream

from otel_holysheep import _buckets as b
from otel_holysheep import _semconv as sc
from otel_holysheep._config import ENV_GENAI_METRICS, ENV_SEMCONV_STABILITY_OPT_IN, ENV_VARS, Settings
from otel_holysheep._instruments import TABLE, prometheus_name
from otel_holysheep._series import GENAI_LATEST_SERIES

OPT_IN_VALUES = [
    None,
    "",
    " ",
    "gen_ai_latest_experimental",
    " gen_ai_latest_experimental ",
    "http,gen_ai_latest_experimental",
    "http/dup , gen_ai_latest_experimental,database",
    ",,gen_ai_latest_experimental,,",
    "http",
    "http,database/dup",
    "GEN_AI_LATEST_EXPERIMENTAL",  # the upstream match is exact, case included
    "gen_ai_latest_experimental_x",
    "gen_ai",
    "gen_ai_latest_experimental;http",  # not a comma
]


@pytest.fixture
def fresh_upstream() -> Iterator[type]:
    """opentelemetry-instrumentation's parser with its process-wide state set aside, restored afterwards."""
    cls = upstream._OpenTelemetrySemanticConventionStability
    saved = (cls._initialized, dict(cls._OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING))
    yield cls
    cls._initialized, cls._OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING = saved[0], saved[1]


@pytest.mark.parametrize("raw", OPT_IN_VALUES)
def test_opt_in_is_read_exactly_as_opentelemetry_instrumentation_reads_it(
    raw: str | None, fresh_upstream: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    if raw is None:
        monkeypatch.delenv(ENV_SEMCONV_STABILITY_OPT_IN, raising=False)
    else:
        monkeypatch.setenv(ENV_SEMCONV_STABILITY_OPT_IN, raw)
    cls = fresh_upstream
    cls._initialized = False
    cls._OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING = {}
    cls._initialize()
    mode = cls._get_opentelemetry_stability_opt_in_mode(upstream._OpenTelemetryStabilitySignalType.GEN_AI)
    assert sc.opted_in(raw) is (mode == upstream._StabilityMode.GEN_AI_LATEST_EXPERIMENTAL)


@pytest.mark.parametrize(
    ("raw", "latest"),
    [("gen_ai_latest_experimental", True), (" http , gen_ai_latest_experimental", True), ("http", False), ("", False)],
)
def test_settings_read_the_opt_in(raw: str, latest: bool) -> None:
    settings = Settings.from_env({ENV_SEMCONV_STABILITY_OPT_IN: raw, ENV_GENAI_METRICS: "true"})
    assert settings.genai_latest is latest
    assert settings.genai_form_latest is latest
    assert ENV_SEMCONV_STABILITY_OPT_IN in ENV_VARS


def test_the_opt_in_needs_the_gen_ai_metrics_on() -> None:
    """The opt-in switches the form of the gen_ai.* family: with the family off nothing changes."""
    settings = Settings.from_env({ENV_SEMCONV_STABILITY_OPT_IN: "gen_ai_latest_experimental"})
    assert settings.genai_latest is True
    assert settings.genai_form_latest is False
    assert Settings.from_env({}).genai_form_latest is False


def test_schema_urls() -> None:
    assert sc.V1_41.schema_url == "https://opentelemetry.io/schemas/1.37.0"
    assert sc.LATEST.schema_url == "https://opentelemetry.io/schemas/gen-ai-dev/1.42.0-dev"


# Written by hand from the conventions' documents (see _semconv's docstring for the commits), not from the table:
# name -> (instrument, unit, bucket advice, attribute keys beyond the common five, Prometheus series name).
_COMMON = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "server.address", "server.port")
_DURATION = b.GENAI_DURATION_BUCKETS
_TOKENS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
V1_41_EXPECTED = {
    "gen_ai.client.operation.duration": ("histogram", "s", _DURATION, (), "gen_ai_client_operation_duration_seconds"),
    "gen_ai.client.token.usage": ("histogram", "{token}", _TOKENS, ("gen_ai.token.type",), "gen_ai_client_token_usage"),
    "gen_ai.client.operation.time_to_first_chunk": (
        "histogram", "s", _DURATION, (), "gen_ai_client_operation_time_to_first_chunk_seconds",
    ),
    "gen_ai.client.operation.time_per_output_chunk": (
        "histogram", "s", _DURATION, (), "gen_ai_client_operation_time_per_output_chunk_seconds",
    ),
}  # fmt: skip
_MODALITY = ("gen_ai.token.modality",)
LATEST_EXPECTED = {
    "gen_ai.client.inference.duration": ("histogram", "s", _DURATION, (), "gen_ai_client_inference_duration_seconds"),
    "gen_ai.client.inference.time_to_first_chunk": (
        "histogram", "s", _DURATION, (), "gen_ai_client_inference_time_to_first_chunk_seconds",
    ),
    "gen_ai.client.inference.time_per_output_chunk": (
        "histogram", "s", _DURATION, (), "gen_ai_client_inference_time_per_output_chunk_seconds",
    ),
    "gen_ai.client.inference.usage.input_tokens": (
        "counter", "{token}", None, _MODALITY, "gen_ai_client_inference_usage_input_tokens_total",
    ),
    "gen_ai.client.inference.usage.output_tokens": (
        "counter", "{token}", None, _MODALITY, "gen_ai_client_inference_usage_output_tokens_total",
    ),
    "gen_ai.client.inference.usage.cache_read.input_tokens": (
        "counter", "{token}", None, _MODALITY, "gen_ai_client_inference_usage_cache_read_input_tokens_total",
    ),
    "gen_ai.client.inference.usage.cache_write.input_tokens": (
        "counter", "{token}", None, _MODALITY, "gen_ai_client_inference_usage_cache_write_input_tokens_total",
    ),
    "gen_ai.client.inference.usage.reasoning.output_tokens": (
        "counter", "{token}", None, _MODALITY, "gen_ai_client_inference_usage_reasoning_output_tokens_total",
    ),
    "gen_ai.client.inference.operation.input_tokens": (
        "histogram", "{token}", _TOKENS, (), "gen_ai_client_inference_operation_input_tokens",
    ),
    "gen_ai.client.inference.operation.output_tokens": (
        "histogram", "{token}", _TOKENS, (), "gen_ai_client_inference_operation_output_tokens",
    ),
    "gen_ai.client.embeddings.duration": ("histogram", "s", _DURATION, (), "gen_ai_client_embeddings_duration_seconds"),
    "gen_ai.client.embeddings.operation.input_tokens": (
        "histogram", "{token}", _TOKENS, (), "gen_ai_client_embeddings_operation_input_tokens",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("form", "expected"), [(sc.V1_41, V1_41_EXPECTED), (sc.LATEST, LATEST_EXPECTED)])
def test_the_table_is_what_the_conventions_say(form: sc.Form, expected: dict[str, tuple[object, ...]]) -> None:
    assert [m.name for m in form.metrics] == list(expected)
    assert len({m.key for m in form.metrics}) == len(form.metrics)
    for m in form.metrics:
        kind, unit, buckets, extra, series = expected[m.name]
        assert (m.kind, m.unit, m.buckets, m.attributes) == (kind, unit, buckets, (*_COMMON, *extra)), m.name
        assert prometheus_name(m.name, m.unit, m.kind) == series
        assert m.operations <= sc.GENAI_OPERATIONS
        assert not set(m.optional) & set(m.attributes)


def test_error_type_where_the_conventions_put_it() -> None:
    """Latest: duration and per-operation token histograms carry error.type; streaming timings and the usage counters
    never do. (v1.41's table records that our v1.41 output puts it on failed streams' points too.)"""
    with_error = {m.name for m in sc.LATEST.metrics if "error.type" in m.optional}
    assert with_error == {
        "gen_ai.client.inference.duration",
        "gen_ai.client.inference.operation.input_tokens",
        "gen_ai.client.inference.operation.output_tokens",
        "gen_ai.client.embeddings.duration",
    }


def test_embeddings_and_inference_are_apart_in_the_latest_form() -> None:
    for m in sc.LATEST.metrics:
        assert m.operations == (sc.EMBEDDINGS if m.name.startswith("gen_ai.client.embeddings.") else sc.INFERENCE)


def test_the_v1_41_rows_of_the_instrument_table_come_from_the_conventions_table() -> None:
    rows = [spec for spec in TABLE if spec.genai]
    assert [(r.name, r.unit, r.description, r.buckets) for r in rows] == [
        (m.name, m.unit, m.description, m.buckets) for m in sc.V1_41.metrics
    ]


def test_span_attributes_of_the_forms() -> None:
    assert sc.LATEST.span_attributes - sc.V1_41.span_attributes == {
        "gen_ai.response.time_to_first_chunk",
        "gen_ai.usage.cache_write.input_tokens",
    }
    assert sc.V1_41.span_attributes <= sc.LATEST.span_attributes
    assert "gen_ai.usage.cache_creation.input_tokens" not in sc.LATEST.span_attributes
    assert sc.V1_41.request_stream_always and not sc.LATEST.request_stream_always


def test_the_readme_lists_every_series_of_the_latest_form() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("\n## GenAI conventions: v1.41 or the latest\n", 1)[1].split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| `gen_ai_")]
    listed = {name for line in table for name in re.findall(r"`(gen_ai_[a-z_]+)`", line.split(" | ")[0])}
    assert listed == {series.name for series in GENAI_LATEST_SERIES}
    assert sc.LATEST.schema_url in section and sc.V1_41.schema_url in section
