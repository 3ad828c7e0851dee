"""Every telemetry name otel-holysheep emits, in one place.

Our own metrics live under ``holysheep.*``; the OpenTelemetry Prometheus exporter turns them into the series in
``PROMETHEUS_SERIES`` (unit suffixes and ``_total`` are added by the exporter). GenAI semantic-convention names are
kept here too rather than imported from ``opentelemetry.semconv._incubating``, which deprecates and moves them.
"""

from __future__ import annotations

from typing import Final, NamedTuple

# --- GenAI semantic conventions (v1.41) -------------------------------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
HTTP_REQUEST_RESEND_COUNT: Final = "http.request.resend_count"
HTTP_ROUTE: Final = "http.route"  # read from the app's server span (attribution), never set by us

GEN_AI_CLIENT_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
GEN_AI_CLIENT_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.operation.time_per_output_chunk"

PROVIDER_NAME: Final = "holysheep"

# --- our span attributes ----------------------------------------------------------------------------------------
HOLYSHEEP_ENDPOINT: Final = "holysheep.endpoint"
HOLYSHEEP_ATTEMPT: Final = "holysheep.attempt"
HOLYSHEEP_STREAM_OUTCOME: Final = "holysheep.stream.outcome"
HOLYSHEEP_TIME_TO_FIRST_TOKEN: Final = "holysheep.time_to_first_token"
HOLYSHEEP_COST_USD: Final = "holysheep.cost.usd"
HOLYSHEEP_ATTRIBUTION_PREFIX: Final = "holysheep.attribution."  # + the attribution label: holysheep.attribution.team

# --- our metrics --------------------------------------------------------------------------------------------------
REQUESTS: Final = "holysheep.requests"
REQUEST_DURATION: Final = "holysheep.request.duration"
TOKENS: Final = "holysheep.tokens"
ACTIVE_REQUESTS: Final = "holysheep.active_requests"
ERRORS: Final = "holysheep.errors"
TIME_TO_HEADERS: Final = "holysheep.time_to_headers"
TIME_TO_FIRST_TOKEN: Final = "holysheep.time_to_first_token"
# Unit {token}/s: the Prometheus name is holysheep_output_tokens_per_second on every path. (Named
# holysheep.output_tokens_per_second, Prometheus 3's OTLP receiver and the Collector's exporters would add the unit
# suffix a second time: holysheep_output_tokens_per_second_per_second.)
OUTPUT_TOKENS_PER_SECOND: Final = "holysheep.output_tokens"
STREAM_OUTCOMES: Final = "holysheep.stream_outcomes"
USAGE_MISSING: Final = "holysheep.usage_missing"
COST: Final = "holysheep.cost.usd"
UNPRICED_TOKENS: Final = "holysheep.unpriced_tokens"
CACHE_SAVINGS: Final = "holysheep.cache_savings.usd"
RATELIMIT_REMAINING: Final = "holysheep.ratelimit.remaining"
RATELIMIT_LIMIT: Final = "holysheep.ratelimit.limit"
RETRY_AFTER: Final = "holysheep.retry_after"
RETRIES: Final = "holysheep.retries"


class Series(NamedTuple):
    """One Prometheus series family as the OTel Prometheus exporter exposes it."""

    name: str
    type: str  # counter | histogram | gauge
    labels: tuple[str, ...]
    help: str


PROMETHEUS_SERIES: Final[tuple[Series, ...]] = (
    Series(
        "holysheep_requests_total",
        "counter",
        ("model", "endpoint", "status"),
        "HTTP attempts to the gateway; status = success | failure (HTTP error) | timeout | error (other).",
    ),
    Series(
        "holysheep_request_duration_seconds",
        "histogram",
        ("model", "endpoint"),
        "Request start to last body byte (a stream's end), failures included.",
    ),
    Series(
        "holysheep_tokens_total",
        "counter",
        ("model", "token_type"),
        "Provider-reported tokens; token_type = prompt | completion | cached | reasoning.",
    ),
    Series("holysheep_active_requests", "gauge", ("model",), "Requests in flight (bodies not yet finished)."),
    Series(
        "holysheep_errors_total",
        "counter",
        ("model", "error_type"),
        "Unsuccessful requests; error_type = http_<code> | timeout | connect_error | stream_interrupted | exception.",
    ),
    Series(
        "holysheep_time_to_headers_seconds",
        "histogram",
        ("model", "endpoint"),
        "Streamed responses (all with TIME_TO_HEADERS=all): request start until the response headers arrived.",
    ),
    Series(
        "holysheep_time_to_first_token_seconds",
        "histogram",
        ("model",),
        "Streams only: request start until the first chunk carrying content.",
    ),
    Series(
        "holysheep_output_tokens_per_second",
        "histogram",
        ("model",),
        "Streams only: completion tokens / (end - first token).",
    ),
    Series(
        "holysheep_stream_outcomes_total",
        "counter",
        ("model", "outcome"),
        "How streams ended: completed | cancelled | interrupted | timeout.",
    ),
    Series("holysheep_usage_missing_total", "counter", ("model",), "Successful responses that carried no usage."),
    Series(
        "holysheep_cost_usd_total", "counter", ("model",), "USD spent, from provider-reported usage and the price book."
    ),
    Series("holysheep_unpriced_tokens_total", "counter", ("model",), "Tokens of models the price book does not know."),
    Series("holysheep_cache_savings_usd_total", "counter", ("model",), "USD saved by cached input vs the input price."),
    Series(
        "holysheep_ratelimit_remaining",
        "gauge",
        ("model", "kind"),
        "Last x-ratelimit-remaining-{requests,tokens} header seen.",
    ),
    Series(
        "holysheep_ratelimit_limit", "gauge", ("model", "kind"), "Last x-ratelimit-limit-{requests,tokens} header seen."
    ),
    Series(
        "holysheep_retry_after_seconds", "histogram", ("model",), "Advised wait (retry-after) on 429/503 responses."
    ),
    Series(
        "holysheep_retries_total",
        "counter",
        ("model", "reason"),
        "Retried attempts (x-stainless-retry-count > 0); reason = previous attempt's failure class.",
    ),
)

ATTRIBUTED_SERIES: Final = (
    "holysheep_requests_total",
    "holysheep_errors_total",
    "holysheep_tokens_total",
    "holysheep_cost_usd_total",
)
"""The counters that carry the attribution labels (``OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION``: ``route`` and
baggage keys) after their own, when they are switched on. Histograms never do."""
