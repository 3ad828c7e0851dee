"""The one recorder: turns what an attempt's headers said and how the attempt ended (:class:`Outcome`) into metrics
and span attributes. It keeps no per-attempt state; :class:`~otel_holysheep._call.Call` tracks the attempt."""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from otel_holysheep import _attributes as a
from otel_holysheep import _names as n
from otel_holysheep import _sdk
from otel_holysheep._attributes import BoundedValues
from otel_holysheep._config import TIME_TO_HEADERS_ALL, TIME_TO_HEADERS_STREAMS, BaseUrl, Settings
from otel_holysheep._genai import LatestGenAI
from otel_holysheep._instruments import Telemetry
from otel_holysheep._parsing import Usage, cap_text
from otel_holysheep._parsing.headers import ResponseHeaders
from otel_holysheep._pricing import PriceBook
from otel_holysheep._safety import call_safely

# The base of the context handed to histogram records for exemplars: only our span in it, nothing of the caller's.
_EMPTY_CONTEXT: Final = otel_context.Context()
_USAGE_ENDPOINTS: Final = frozenset({"chat/completions", "completions", "embeddings", "responses"})
_GENAI_OPERATIONS: Final = frozenset({"chat", "text_completion", "embeddings"})
_SERVED_CACHE_MAX: Final = 1024


class Attempt(NamedTuple):
    """Who an attempt is, fixed when it begins: its span, start time and label values."""

    span: Span
    start: float
    model: str
    endpoint: str
    operation: str
    base: BaseUrl
    attributed: tuple[str, ...] = ()  # attribution label values (``_attribution``), () when off


class Outcome(NamedTuple):
    """How one attempt ended, as ``Call`` saw it: an immutable record handed to :meth:`Recorder.finished` once."""

    status: str  # success | failure | timeout | error
    error: str | None  # the error type, None on success
    stream_outcome: str | None  # streams only: completed | cancelled | interrupted | timeout
    status_code: int  # 0 when no response arrived
    end: float
    headers_at: float | None
    first_token_at: float | None
    sse: bool
    usage: Usage | None
    response_model: str | None
    response_id: str | None
    finish_reasons: tuple[str, ...]
    output_text: str | None  # only when content capture is on
    content_chunks: int  # streams: events carrying output content
    tool_calls: int = 0  # distinct tool calls in the response


class Recorder:
    """Metrics and span attributes for every attempt of one instrumentation."""

    def __init__(
        self,
        settings: Settings,
        telemetry: Telemetry,
        prices: PriceBook,
        models: BoundedValues,
        latest: LatestGenAI | None = None,
    ) -> None:
        self.latest = latest  # the latest GenAI conventions' output, when opted in (else the v1.41 form)
        self.settings = settings
        self.telemetry = telemetry
        self.prices = prices
        self.models = models
        self._served: dict[tuple[str, str], bool] = {}  # (model label, served name) -> a substitution?
        # Decided once: an instrument never recorded exports no series (the detail histograms are opt-in).
        self._detail = settings.detail_histograms
        headers_for = settings.time_to_headers_for
        self._headers_of_streams = headers_for in (TIME_TO_HEADERS_STREAMS, TIME_TO_HEADERS_ALL)
        self._headers_of_all = headers_for == TIME_TO_HEADERS_ALL

    def headers(self, attempt: Attempt, headers: ResponseHeaders) -> None:
        """What the response headers say: the rate-limit gauges, the advised wait."""
        t = self.telemetry
        for kind, remaining, limit in headers.rate_limits:
            if remaining is not None:
                t.ratelimit_remaining.set((attempt.model, kind), remaining)
            if limit is not None:
                t.ratelimit_limit.set((attempt.model, kind), limit)
        if self._detail and headers.retry_after is not None:
            t.retry_after.record(headers.retry_after, {"model": attempt.model})

    def finished(self, attempt: Attempt, outcome: Outcome) -> None:
        self.telemetry.active.add((attempt.model,), -1)  # first, so the in-flight gauge can never leak
        # Metrics and the span are independent steps: a failure in one must not lose the other.
        cost = call_safely(self._record, attempt, outcome)
        call_safely(self._end_span, attempt, outcome, cost)

    def _record(self, attempt: Attempt, o: Outcome) -> float | None:
        t = self.telemetry
        model = attempt.model
        attributed = attempt.attributed
        t.requests.add((model, attempt.endpoint, o.status, *attributed))
        if o.error is not None:
            t.errors.add((model, o.error, *attributed))
        duration = o.end - attempt.start
        labels = {"model": model, "endpoint": attempt.endpoint}
        # Exemplars point at this attempt's own span, not at whatever span is current when the body ends (the app's
        # server span, or none). A non-recording span is unsampled: no exemplar, never a wrong one.
        exemplar = trace.set_span_in_context(attempt.span, _EMPTY_CONTEXT)
        t.duration.record(duration, labels, context=exemplar)
        # A non-streaming response's headers come with the finished completion: that value repeats the duration.
        if o.headers_at is not None and (self._headers_of_all or (o.sse and self._headers_of_streams)):
            t.time_to_headers.record(o.headers_at - attempt.start, labels, context=exemplar)
        if o.stream_outcome is not None:
            t.stream_outcomes.add((model, o.stream_outcome))
        for reason in o.finish_reasons:
            t.finishes.add((model, a.finish_reason(reason), *attributed))
        if o.tool_calls:
            t.tool_calls.add((model,), o.tool_calls)
        usage = o.usage
        # the response model's label is admitted to the model cap whether or not the GenAI metrics are on
        response_model = self.models.label(o.response_model) if o.response_model else None
        # the same name as requested (the usual answer) costs one comparison; another name is looked at once
        substituted = False
        if response_model is not None and o.response_model != model and self._substituted(model, o):
            substituted = True
            t.model_substitutions.add((model, response_model))
        # gen_ai.client.* describe GenAI operations only (not model listings or other gateway paths)
        genai = (
            self._genai_attributes(attempt, response_model, o.error)
            if self.settings.genai_metrics and attempt.operation in _GENAI_OPERATIONS
            else None
        )
        if genai is not None and self.latest is not None:
            # its own step: a failure there must not cost the holysheep_* metrics below
            call_safely(self.latest.record, attempt.operation, attempt.start, o, genai, duration, exemplar)
            genai = None  # the v1.41 histograms below stay silent
        if genai is not None:
            t.genai_duration.record(duration, genai, context=exemplar)
        self._record_stream_timing(attempt, o, genai, exemplar)
        if usage is not None:
            return self._record_usage(attempt, usage, o.response_model, genai, substituted)
        if (
            o.status == a.STATUS_SUCCESS
            and attempt.endpoint in _USAGE_ENDPOINTS
            and o.stream_outcome != a.OUTCOME_CANCELLED
        ):
            t.usage_missing.add((model,))
        return None

    def _substituted(self, model: str, o: Outcome) -> bool:
        """Whether the response's model is another model than the request's label: not when both names stand for
        one model of the price book, or are one name without provider prefix and date suffix (``PriceBook.identity``).
        A request without a usable model name (``unknown``, ``other``) is never counted."""
        served = o.response_model or ""
        key = (model, served)
        hit = self._served.get(key)
        if hit is None:
            prices = self.prices
            hit = model not in (a.UNKNOWN_MODEL, a.OTHER) and prices.identity(model) != prices.identity(served)
            if len(self._served) < _SERVED_CACHE_MAX:
                self._served[key] = hit
        return hit

    def _genai_attributes(self, attempt: Attempt, response_model: str | None, error: str | None) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            n.GEN_AI_OPERATION_NAME: attempt.operation,
            n.GEN_AI_PROVIDER_NAME: n.PROVIDER_NAME,
            n.GEN_AI_REQUEST_MODEL: attempt.model,
            n.SERVER_ADDRESS: attempt.base.host,
            n.SERVER_PORT: attempt.base.port,
        }
        if response_model is not None:
            attrs[n.GEN_AI_RESPONSE_MODEL] = response_model
        if error is not None:
            attrs[n.ERROR_TYPE] = error
        return attrs

    def _record_stream_timing(
        self, attempt: Attempt, o: Outcome, genai: dict[str, Any] | None, exemplar: otel_context.Context
    ) -> None:
        first = o.first_token_at
        if first is None:
            return
        t = self.telemetry
        ttft = first - attempt.start
        model_only = {"model": attempt.model}
        t.time_to_first_token.record(ttft, model_only, context=exemplar)
        if genai is not None:
            t.genai_ttfc.record(ttft, genai, context=exemplar)
        chunks = o.content_chunks
        if genai is not None and chunks > 1:
            t.genai_time_per_chunk.record((o.end - first) / (chunks - 1), genai)
        usage = o.usage
        if self._detail and usage is not None and usage.completion and o.end > first:
            t.output_tokens_per_second.record(usage.completion / (o.end - first), model_only)

    def _record_usage(
        self,
        attempt: Attempt,
        usage: Usage,
        response_model: str | None,
        genai: dict[str, Any] | None,
        substituted: bool = False,
    ) -> float | None:
        t = self.telemetry
        model = attempt.model
        prompt, completion = usage.prompt or 0, usage.completion or 0
        for token_type, value in (
            ("prompt", usage.prompt),
            ("completion", usage.completion),
            ("cached", usage.cached),
            ("cache_write", usage.cache_write),
            ("reasoning", usage.reasoning),
        ):
            if value:
                t.tokens.add((model, token_type, *attempt.attributed), value)
        if genai is not None:
            if usage.prompt is not None:
                t.genai_tokens.record(usage.prompt, {**genai, n.GEN_AI_TOKEN_TYPE: "input"})
            if usage.completion is not None:
                t.genai_tokens.record(usage.completion, {**genai, n.GEN_AI_TOKEN_TYPE: "output"})
        gateway_cost = usage.gateway_cost
        if gateway_cost is not None:
            t.gateway_cost.add((model,), gateway_cost)
        prices = self.prices
        # Priced by the model that served the call; the request's model only when the response names none or names
        # the same model in a form the book does not know (a substitute without a price is unpriced, never guessed).
        found = prices.lookup(response_model or model) if (response_model or model) else None
        if found is None and response_model and model != a.UNKNOWN_MODEL and not substituted:
            found = prices.lookup(model)
        if found is None:
            if prompt + completion:
                t.unpriced_tokens.add((model,), prompt + completion)
            return None
        cost = prices.cost(found[1], prompt, completion, usage.cached or 0, usage.cache_write or 0)
        t.cost.add((model, *attempt.attributed), cost.usd)
        if gateway_cost is not None:
            t.gateway_cost_ours.add((model,), cost.usd)
        if cost.savings_usd:
            t.cache_savings.add((model,), cost.savings_usd)
        return cost.usd

    def _end_span(self, attempt: Attempt, o: Outcome, cost: float | None) -> None:
        span = attempt.span
        if span.is_recording():
            attrs: dict[str, Any] = {}
            if o.status_code:
                attrs[n.HTTP_RESPONSE_STATUS_CODE] = o.status_code
            if o.response_id:
                attrs[n.GEN_AI_RESPONSE_ID] = o.response_id[:256]
            if o.finish_reasons:
                attrs[n.GEN_AI_RESPONSE_FINISH_REASONS] = o.finish_reasons
            if o.output_text is not None:
                attrs[n.GEN_AI_OUTPUT_MESSAGES] = cap_text(o.output_text, self.settings.content_max_chars)
            if o.response_model:  # spans carry the real name; only metric labels are capped
                attrs[n.GEN_AI_RESPONSE_MODEL] = o.response_model[:256]
            usage = o.usage
            if usage is not None:
                if usage.prompt is not None:
                    attrs[n.GEN_AI_USAGE_INPUT_TOKENS] = usage.prompt
                if usage.completion is not None:
                    attrs[n.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.completion
                if usage.cached is not None:
                    attrs[n.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cached
                if usage.reasoning is not None:
                    attrs[n.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning
            if o.stream_outcome is not None:
                attrs[n.HOLYSHEEP_STREAM_OUTCOME] = o.stream_outcome
            if o.first_token_at is not None:
                attrs[n.HOLYSHEEP_TIME_TO_FIRST_TOKEN] = o.first_token_at - attempt.start
            if cost is not None:
                attrs[n.HOLYSHEEP_COST_USD] = cost
            if o.error is not None:
                attrs[n.ERROR_TYPE] = o.error
            if self.latest is not None:  # a failure there loses those attributes, never the span
                call_safely(self.latest.span_attributes, attempt.operation, attempt.start, o, attrs)
            _sdk.set_attributes(span, attrs)  # valid values by construction: the SDK's check skipped
            if o.status != a.STATUS_SUCCESS:
                span.set_status(Status(StatusCode.ERROR, o.error))
        span.end()
