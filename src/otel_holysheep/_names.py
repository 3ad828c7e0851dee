"""Every attribute name otel-holysheep emits, in one place.

Span and metric attribute keys: the GenAI and HTTP semantic-convention names are kept here rather than imported
from ``opentelemetry.semconv._incubating``, which deprecates and moves them; ours live under ``holysheep.*``. Metric
names are rows of the instrument table (``_instruments.Telemetry``); their Prometheus series are in ``_series``. The
GenAI metrics of both convention forms (v1.41 and the latest, behind ``OTEL_SEMCONV_STABILITY_OPT_IN``) and the span
attributes each form sets are tabled in ``_semconv``.
"""

from __future__ import annotations

from typing import Final

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
# --- set only in the latest GenAI conventions' form (OTEL_SEMCONV_STABILITY_OPT_IN; see _semconv) ---
GEN_AI_TOKEN_MODALITY: Final = "gen_ai.token.modality"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"  # v1.41: cache_creation
# ---
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
HTTP_REQUEST_RESEND_COUNT: Final = "http.request.resend_count"
HTTP_ROUTE: Final = "http.route"  # read from the app's server span (attribution), never set by us

PROVIDER_NAME: Final = "holysheep"

# --- our span attributes ----------------------------------------------------------------------------------------
HOLYSHEEP_ENDPOINT: Final = "holysheep.endpoint"
HOLYSHEEP_ATTEMPT: Final = "holysheep.attempt"
HOLYSHEEP_STREAM_OUTCOME: Final = "holysheep.stream.outcome"
HOLYSHEEP_TIME_TO_FIRST_TOKEN: Final = "holysheep.time_to_first_token"
HOLYSHEEP_COST_USD: Final = "holysheep.cost.usd"
HOLYSHEEP_ATTRIBUTION_PREFIX: Final = "holysheep.attribution."  # + the attribution label: holysheep.attribution.team
