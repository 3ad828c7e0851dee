"""The two forms of the GenAI semantic conventions otel-holysheep emits, as one table: metric names, instrument
kinds, units, bucket advice and attributes, the span attributes that differ, and the schema URL of each form.

``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` (with the ``gen_ai.*`` metrics on) selects
:data:`LATEST`; otherwise :data:`V1_41`, byte for byte what otel-holysheep emitted before the opt-in existed. The form
is chosen once, at ``instrument()``.

Sources (read, not imported: the Python ``_incubating`` constants are deprecated and the names keep moving):

- :data:`V1_41`: open-telemetry/semantic-conventions tag v1.41.0 (e018fe6f91862f5ed63c082f87697cddac596784), the last
  release whose GenAI conventions are live in that repository: ``model/gen-ai/metrics.yaml``, ``spans.yaml``,
  ``registry.yaml``. Its schema URL stays the 1.37.0 one otel-holysheep always declared (``gen_ai.provider.name``,
  which it emits, arrived in 1.37.0).
- :data:`LATEST`: open-telemetry/semantic-conventions-genai, which has no tagged release. Pinned to the commit of
  ``docs/gen-ai/client-inference.md`` 024a4f944a1291fcb627c9c47da69e79868dd15e (the inference span and the
  ``gen_ai.client.inference.*`` duration and streaming metrics, generated from the model at that commit), with
  ``docs/gen-ai/gen-ai-token-metrics.md`` and ``model/gen-ai/token-metrics.yaml`` at
  066d4a7f356f8600de6f10c42874626ab88692fb (the usage counters and per-operation token histograms) and
  ``docs/gen-ai/client-embeddings.md`` at 88eccb155ca7d6984826da1f4b1c08ee916e0f49 (embeddings). Schema URL: the
  development one its ``model/manifest.yaml`` declares, ``https://opentelemetry.io/schemas/gen-ai-dev/1.42.0-dev``.

Where the v1.41 output departs from v1.41 (kept, since the default must not change): ``gen_ai.request.stream`` is set
to ``false`` on non-streaming requests (the conventions say "if and only if the request is streaming"), and a failed
stream's ``time_to_first_chunk`` / ``time_per_output_chunk`` / ``token.usage`` points carry ``error.type``. The latest
form does neither. In both forms ``time_per_output_chunk`` is recorded once per stream, as the mean gap between
content chunks (the conventions ask for one point per chunk; that would cost one histogram record per chunk).

Pure module: no OpenTelemetry or httpx imports.
"""

from __future__ import annotations

from typing import Final, Literal, NamedTuple

from otel_holysheep import _buckets as b
from otel_holysheep import _names as n

GEN_AI_LATEST_EXPERIMENTAL: Final = "gen_ai_latest_experimental"
"""The ``OTEL_SEMCONV_STABILITY_OPT_IN`` value that selects the latest GenAI conventions."""


def opted_in(raw: str | None) -> bool:
    """Whether an ``OTEL_SEMCONV_STABILITY_OPT_IN`` value asks for the latest GenAI conventions, read as
    opentelemetry-instrumentation's ``_OpenTelemetrySemanticConventionStability`` reads it: a comma-separated list,
    each item stripped of whitespace, matched exactly (case included); other items (``http``, ``database/dup``...)
    are for other instrumentations and ignored."""
    return bool(raw) and GEN_AI_LATEST_EXPERIMENTAL in (item.strip() for item in (raw or "").split(","))


INFERENCE: Final = frozenset({"chat", "text_completion"})
"""The ``gen_ai.operation.name`` values that are inference operations (``responses`` calls are ``chat``)."""
EMBEDDINGS: Final = frozenset({"embeddings"})
GENAI_OPERATIONS: Final = INFERENCE | EMBEDDINGS

# The attributes every GenAI metric point carries (gen_ai.request.model is the bounded model label).
COMMON: Final = (
    n.GEN_AI_OPERATION_NAME, n.GEN_AI_PROVIDER_NAME, n.GEN_AI_REQUEST_MODEL, n.SERVER_ADDRESS, n.SERVER_PORT,
)  # fmt: skip
# ... and the ones a point carries only sometimes: the response model when the response named one, the error type
# when the operation failed.
RESPONSE_MODEL: Final = (n.GEN_AI_RESPONSE_MODEL,)
WITH_ERROR: Final = (n.GEN_AI_RESPONSE_MODEL, n.ERROR_TYPE)

MODALITY_UNKNOWN: Final = "unknown"
"""``gen_ai.token.modality`` of our usage counters: the gateway's usage does not break tokens down by modality."""


class Metric(NamedTuple):
    """One metric of a form."""

    key: str  # which measurement it is, the same across forms where there is one (duration, ttfc, ...)
    name: str
    kind: Literal["counter", "histogram"]
    unit: str
    description: str
    operations: frozenset[str]  # the gen_ai.operation.name values it is recorded for
    streams_only: bool  # recorded for streamed responses only
    attributes: tuple[str, ...]  # on every point
    optional: tuple[str, ...]  # on some points (see RESPONSE_MODEL, WITH_ERROR)
    buckets: tuple[float, ...] | None  # histograms' bucket advice


class Form(NamedTuple):
    """One form of the GenAI conventions: its metrics, the span attributes only it sets, its schema URL."""

    name: str
    schema_url: str
    metrics: tuple[Metric, ...]
    span_attributes: frozenset[str]  # gen_ai.* span attribute keys it may set
    request_stream_always: bool  # gen_ai.request.stream set on every request (true/false), else only when streaming

    def metric(self, key: str) -> Metric:
        return next(m for m in self.metrics if m.key == key)


def _histogram(
    key: str,
    name: str,
    unit: str,
    description: str,
    operations: frozenset[str],
    buckets: tuple[float, ...],
    extra: tuple[str, ...] = (),
    optional: tuple[str, ...] = RESPONSE_MODEL,
    streams_only: bool = False,
) -> Metric:
    attributes = COMMON + extra
    return Metric(key, name, "histogram", unit, description, operations, streams_only, attributes, optional, buckets)


def _counter(key: str, name: str, description: str) -> Metric:
    return Metric(
        key, name, "counter", "{token}", description, INFERENCE, False, (*COMMON, n.GEN_AI_TOKEN_MODALITY),
        RESPONSE_MODEL, None,
    )  # fmt: skip


# The span attributes both forms set (besides http.* and holysheep.*), when there is a value.
_SPAN_COMMON: Final = frozenset(
    {
        n.GEN_AI_OPERATION_NAME,
        n.GEN_AI_PROVIDER_NAME,
        n.GEN_AI_REQUEST_MODEL,
        n.GEN_AI_REQUEST_STREAM,
        n.SERVER_ADDRESS,
        n.SERVER_PORT,
        n.GEN_AI_RESPONSE_ID,
        n.GEN_AI_RESPONSE_MODEL,
        n.GEN_AI_RESPONSE_FINISH_REASONS,
        n.GEN_AI_USAGE_INPUT_TOKENS,
        n.GEN_AI_USAGE_OUTPUT_TOKENS,
        n.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        n.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        n.GEN_AI_INPUT_MESSAGES,
        n.GEN_AI_OUTPUT_MESSAGES,
        n.ERROR_TYPE,
    }
)

# fmt: off
V1_41: Final = Form(
    "v1.41",
    "https://opentelemetry.io/schemas/1.37.0",
    (
        _histogram(
            "duration", "gen_ai.client.operation.duration", "s", "GenAI operation duration", GENAI_OPERATIONS,
            b.GENAI_DURATION_BUCKETS, optional=WITH_ERROR,
        ),
        _histogram(
            "tokens", "gen_ai.client.token.usage", "{token}", "Number of input and output tokens used",
            GENAI_OPERATIONS, b.GENAI_TOKEN_BUCKETS, extra=(n.GEN_AI_TOKEN_TYPE,), optional=WITH_ERROR,
        ),
        _histogram(
            "time_to_first_chunk", "gen_ai.client.operation.time_to_first_chunk", "s",
            "Time to receive the first chunk of a streamed response", INFERENCE, b.GENAI_DURATION_BUCKETS,
            optional=WITH_ERROR, streams_only=True,
        ),
        _histogram(
            "time_per_output_chunk", "gen_ai.client.operation.time_per_output_chunk", "s",
            "Time between consecutive output chunks of a streamed response", INFERENCE, b.GENAI_DURATION_BUCKETS,
            optional=WITH_ERROR, streams_only=True,
        ),
    ),
    _SPAN_COMMON,
    request_stream_always=True,
)

LATEST: Final = Form(
    "latest",
    "https://opentelemetry.io/schemas/gen-ai-dev/1.42.0-dev",
    (
        _histogram(
            "duration", "gen_ai.client.inference.duration", "s", "GenAI client inference operation duration",
            INFERENCE, b.GENAI_DURATION_BUCKETS, optional=WITH_ERROR,
        ),
        _histogram(
            "time_to_first_chunk", "gen_ai.client.inference.time_to_first_chunk", "s",
            "Time to receive the first chunk of a streamed response", INFERENCE, b.GENAI_DURATION_BUCKETS,
            streams_only=True,
        ),
        _histogram(
            "time_per_output_chunk", "gen_ai.client.inference.time_per_output_chunk", "s",
            "Time between consecutive output chunks of a streamed response", INFERENCE, b.GENAI_DURATION_BUCKETS,
            streams_only=True,
        ),
        _counter(
            "input_tokens", "gen_ai.client.inference.usage.input_tokens",
            "Input (prompt) tokens used, including cached tokens",
        ),
        _counter(
            "output_tokens", "gen_ai.client.inference.usage.output_tokens",
            "Output (completion) tokens used, including reasoning tokens",
        ),
        _counter(
            "cache_read_tokens", "gen_ai.client.inference.usage.cache_read.input_tokens",
            "Input tokens served from a provider-managed cache",
        ),
        _counter(
            "cache_write_tokens", "gen_ai.client.inference.usage.cache_write.input_tokens",
            "Input tokens written to a provider-managed cache",
        ),
        _counter(
            "reasoning_tokens", "gen_ai.client.inference.usage.reasoning.output_tokens",
            "Output tokens used for reasoning",
        ),
        _histogram(
            "operation_input_tokens", "gen_ai.client.inference.operation.input_tokens", "{token}",
            "Input (prompt) tokens used per inference operation", INFERENCE, b.GENAI_TOKEN_BUCKETS,
            optional=WITH_ERROR,
        ),
        _histogram(
            "operation_output_tokens", "gen_ai.client.inference.operation.output_tokens", "{token}",
            "Output (completion) tokens used per inference operation", INFERENCE, b.GENAI_TOKEN_BUCKETS,
            optional=WITH_ERROR,
        ),
        _histogram(
            "embeddings_duration", "gen_ai.client.embeddings.duration", "s",
            "GenAI client embeddings operation duration", EMBEDDINGS, b.GENAI_DURATION_BUCKETS, optional=WITH_ERROR,
        ),
        _histogram(
            "embeddings_input_tokens", "gen_ai.client.embeddings.operation.input_tokens", "{token}",
            "Input tokens used per embeddings operation", EMBEDDINGS, b.GENAI_TOKEN_BUCKETS,
        ),
    ),
    _SPAN_COMMON | {n.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, n.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS},
    request_stream_always=False,
)
# fmt: on

FINISH_REASON_ERROR: Final = "error"
"""Latest form: the ``gen_ai.response.finish_reasons`` entry of an inference whose finish reason never came (it
failed, was cancelled, or its stream ended before the final event)."""
