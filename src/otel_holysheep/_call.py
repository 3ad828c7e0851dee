"""One matched HTTP attempt: from request start to its single finish, and everything recorded then."""

from __future__ import annotations

import email.utils
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from otel_holysheep import _attributes as a
from otel_holysheep import _names as n
from otel_holysheep._config import TIME_TO_HEADERS_ALL
from otel_holysheep._parsing import Decoder, JsonScanner, ResponseInfo, SseScanner, cap_text, decoder_for
from otel_holysheep._safety import call_or_else, call_safely

if TYPE_CHECKING:
    from otel_holysheep._config import BaseUrl
    from otel_holysheep._hook import Hook

# The base of the context handed to histogram records for exemplars: only our span in it, nothing of the caller's.
_EMPTY_CONTEXT: Final = otel_context.Context()
_USAGE_ENDPOINTS = frozenset({"chat/completions", "completions", "embeddings", "responses"})
_RATELIMIT_KINDS = ("requests", "tokens")
_GENAI_OPERATIONS = frozenset({"chat", "text_completion", "embeddings"})
_RATELIMIT_HEADERS = tuple(
    (kind, f"x-ratelimit-remaining-{kind}", f"x-ratelimit-limit-{kind}") for kind in _RATELIMIT_KINDS
)
# Every response header a call reads, lower-cased (adapters pick these out of a response's headers in one pass).
RESPONSE_HEADER_NAMES = frozenset(
    {"content-type", "content-encoding", "retry-after", "retry-after-ms"}
    | {name for _, remaining, limit in _RATELIMIT_HEADERS for name in (remaining, limit)}
)
_RESPONSE_HEADERS = frozenset(name.encode() for name in RESPONSE_HEADER_NAMES)


class RequestFields(NamedTuple):
    """What the core reads from a client library's request, whichever library made it."""

    method: str
    path: str  # the URL path (no query), to tell the endpoint
    body: bytes  # the request body when it is in memory, else b""
    retry_count: str | bytes | None  # the openai SDK's ``x-stainless-retry-count`` header value, if any


class Flavor(NamedTuple):
    """A client library adapter: what differs between httpx, httpx2, requests and aiohttp.

    Where the library is hooked lives in the adapter module; what the core needs from it is here: which of its
    exceptions mean timeout or connection error, how to read its request, how to change a request body (the
    stream-usage opt-in), and how to observe its response body (``observe`` calls ``Call.on_headers`` and arranges
    for the body events to reach the call, or finishes it).
    """

    timeout_errors: tuple[type[BaseException], ...]
    connect_errors: tuple[type[BaseException], ...]
    fields: Callable[[Any], RequestFields]  # (request) -> what the core reads from it
    set_body: Callable[[Any, bytes], None]  # (request, new body)
    observe: Callable[[Any, Any, Call, bool], None]  # (request, response, call, is_async)
    # Exceptions the library raises *for* a response, carrying its ``status`` (aiohttp's raise_for_status=True).
    status_errors: tuple[type[BaseException], ...] = ()


class Call:
    """Telemetry state of one attempt. ``finish`` runs exactly once, whichever way the attempt ends."""

    __slots__ = (
        "_done",
        "_lock",
        "_marks",
        "attributed",
        "base",
        "decoder",
        "endpoint",
        "first_token_at",
        "flavor",
        "headers_at",
        "hook",
        "model",
        "operation",
        "scanner",
        "span",
        "sse",
        "start",
        "status_code",
    )

    def __init__(
        self,
        hook: Hook,
        flavor: Flavor,
        span: Span,
        start: float,
        model: str,
        endpoint: str,
        operation: str,
        base: BaseUrl,
        attributed: tuple[str, ...] = (),
    ) -> None:
        self.hook = hook
        self.flavor = flavor
        self.span = span
        self.start = start
        self.model = model
        self.endpoint = endpoint
        self.operation = operation
        self.base = base
        self.attributed = attributed  # attribution label values (``_attribution``), () when off
        self.headers_at: float | None = None
        self.first_token_at: float | None = None
        self.status_code = 0
        self.scanner: SseScanner | JsonScanner | None = None
        self.decoder: Decoder | None = None
        self.sse = False
        self._done = False
        self._marks = True  # whether the finish sets the retry marker (see on_close)
        self._lock = threading.Lock()

    # --- the three ways in -----------------------------------------------------------------------------------
    def fail(self, exc: BaseException) -> None:
        """The request raised before any response: classify and finish."""
        code = getattr(exc, "status", None) if isinstance(exc, self.flavor.status_errors) else None
        if isinstance(code, int) and code >= 400:  # an HTTP error status the library turned into an exception
            self.status_code = code
            self.finish(a.STATUS_FAILURE, a.http_error_type(code), None, None)
            return
        error = self._classify(exc, before_headers=True)
        status = a.STATUS_TIMEOUT if error == a.ERROR_TIMEOUT else a.STATUS_ERROR
        self.finish(status, error, None, None)

    def on_headers(self, status_code: int, headers: Mapping[str, str], decoded: bool = False) -> None:
        """Headers are in: record what they say and get ready to observe the body.

        ``headers`` holds (at least) the ``RESPONSE_HEADER_NAMES`` present, lower-cased, repeats joined by ", ".
        ``decoded``: the adapter will feed body bytes its library has already decompressed.
        """
        self.headers_at = time.perf_counter()
        self.status_code = status_code
        if status_code >= 400:  # the retry marker, set here: adapters observe headers inside the send
            self.hook.last_failure.set(a.http_error_type(status_code))
        self._record_rate_limits(headers, status_code)
        content_type = headers.get("content-type", "")
        capture = self.hook.settings.capture_content
        if "text/event-stream" in content_type:
            self.sse = True
            self.scanner = SseScanner(capture)
        elif "json" in content_type:
            self.scanner = JsonScanner(capture)
        encoding = headers.get("content-encoding")
        if encoding and self.scanner is not None and not decoded:
            self.decoder = decoder_for(encoding)
            if self.decoder is None:
                self.scanner = None  # an encoding we cannot read: time it, but do not parse it

    def on_content(self, content: bytes) -> None:
        """The whole body at once, already decoded (a response its library read before handing it back)."""
        self.decoder = None
        if self.scanner is not None:
            self.on_chunk(content)
        self.on_eof()

    def finish_now(self) -> None:
        """The body cannot be observed: finish with what the headers said."""
        self.on_eof()

    # --- body events, called by the observed streams ------------------------------------------------------------
    def on_chunk(self, chunk: bytes) -> None:
        scanner = self.scanner
        if scanner is None:
            return
        data = chunk if self.decoder is None else self.decoder.decompress(chunk)
        if self.sse:
            if scanner.feed(data) and self.first_token_at is None:
                self.first_token_at = time.perf_counter()
        else:
            scanner.feed(data)

    def on_body_bytes(self, chunk: bytes) -> None:
        """Body bytes as the application reads them (adapters call this): never raises; a parser that fails is
        switched off for the rest of the body, the application's bytes untouched."""
        if self.scanner is not None:
            call_or_else(self.on_chunk, chunk, self.drop_scanner)

    def drop_scanner(self) -> None:
        """Parsing failed: stop parsing this body (the application's bytes are untouched)."""
        self.scanner = None

    def on_eof(self) -> None:
        info = self._info()
        if self.status_code >= 400:
            self.finish(a.STATUS_FAILURE, a.http_error_type(self.status_code), info, None)
        elif self.sse and not (info is not None and info.terminal):
            self.finish(a.STATUS_ERROR, a.ERROR_STREAM_INTERRUPTED, info, a.OUTCOME_INTERRUPTED)
        else:
            self.finish(a.STATUS_SUCCESS, None, info, a.OUTCOME_COMPLETED if self.sse else None)

    def on_body_error(self, exc: BaseException) -> None:
        if self._done:
            return
        if not isinstance(exc, Exception):  # GeneratorExit, CancelledError, KeyboardInterrupt: the app stopped
            self.on_close()
            return
        info = self._info()
        if self.status_code >= 400:
            self.finish(a.STATUS_FAILURE, a.http_error_type(self.status_code), info, None)
            return
        error = self._classify(exc, before_headers=False)
        status = a.STATUS_TIMEOUT if error == a.ERROR_TIMEOUT else a.STATUS_ERROR
        outcome = a.OUTCOME_TIMEOUT if error == a.ERROR_TIMEOUT else a.OUTCOME_INTERRUPTED
        self.finish(status, error, info, outcome if self.sse else None)

    def on_close(self) -> None:
        """Closed (or collected) before the end of the body: the application stopped reading.

        Sets no retry marker: a close can come from the garbage collector (a dropped stream, its dropped iterator),
        which runs in whatever context it interrupted, another request's between its attempts maybe. An HTTP error
        status was marked when its headers arrived, in the application's own context."""
        if self._done:
            return
        self._marks = False
        info = self._info()
        if self.status_code >= 400:
            self.finish(a.STATUS_FAILURE, a.http_error_type(self.status_code), info, None)
        elif self.sse and info is not None and info.terminal:
            # The stream's terminating event arrived; the client closed without reading the last bytes (the openai
            # SDK stops at [DONE]). That is a completed stream, not a cancelled one.
            self.finish(a.STATUS_SUCCESS, None, info, a.OUTCOME_COMPLETED)
        else:
            self.finish(a.STATUS_SUCCESS, None, info, a.OUTCOME_CANCELLED if self.sse else None)

    def _info(self) -> ResponseInfo | None:
        scanner = self.scanner
        return call_safely(scanner.finish) if scanner is not None else None  # a parser bug loses usage, not the call

    def _classify(self, exc: BaseException, before_headers: bool) -> str:
        if not isinstance(exc, Exception):
            return a.ERROR_CANCELLED
        if isinstance(exc, self.flavor.timeout_errors):
            return a.ERROR_TIMEOUT
        if before_headers:
            return a.ERROR_CONNECT if isinstance(exc, self.flavor.connect_errors) else a.ERROR_EXCEPTION
        return a.ERROR_STREAM_INTERRUPTED

    # --- the single finish ----------------------------------------------------------------------------------------
    def finish(self, status: str, error: str | None, info: ResponseInfo | None, outcome: str | None) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        end = time.perf_counter()
        self.hook.telemetry.active.add((self.model,), -1)  # first, so the in-flight gauge can never leak
        if error != a.ERROR_CANCELLED and self._marks:
            self.hook.last_failure.set(error)
        # Metrics and the span are independent steps: a failure in one must not lose the other.
        result = call_safely(self._record, end, status, error, info, outcome)
        usage, cost = result if result is not None else (None, None)
        call_safely(self._end_span, status, error, info, usage, outcome, cost)

    def _record(
        self, end: float, status: str, error: str | None, info: ResponseInfo | None, outcome: str | None
    ) -> tuple[Any, float | None]:
        t = self.hook.telemetry
        model = self.model
        attributed = self.attributed
        t.requests.add((model, self.endpoint, status, *attributed))
        if error is not None:
            t.errors.add((model, error, *attributed))
        duration = end - self.start
        labels = {"model": model, "endpoint": self.endpoint}
        # Exemplars point at this attempt's own span, not at whatever span is current when the body ends (the app's
        # server span, or none). A non-recording span is unsampled: no exemplar, never a wrong one.
        exemplar = trace.set_span_in_context(self.span, _EMPTY_CONTEXT)
        t.duration.record(duration, labels, context=exemplar)
        # A non-streaming response's headers come with the finished completion: that value repeats the duration.
        if self.headers_at is not None and (self.sse or self.hook.settings.time_to_headers == TIME_TO_HEADERS_ALL):
            t.time_to_headers.record(self.headers_at - self.start, labels, context=exemplar)
        if outcome is not None:
            t.stream_outcomes.add((model, outcome))
        usage = info.usage if info is not None else None
        response_model = self._response_model(info)
        # gen_ai.client.* describe GenAI operations only (not model listings or other gateway paths)
        genai = (
            self._genai_attributes(response_model, error)
            if self.hook.settings.genai_metrics and self.operation in _GENAI_OPERATIONS
            else None
        )
        if genai is not None:
            t.genai_duration.record(duration, genai, context=exemplar)
        self._record_stream_timing(end, usage, genai, exemplar)
        cost = None
        if usage is not None:
            cost = self._record_usage(usage, info.response_model if info else None, genai)
        elif status == a.STATUS_SUCCESS and self.endpoint in _USAGE_ENDPOINTS and outcome != a.OUTCOME_CANCELLED:
            t.usage_missing.add((model,))
        return usage, cost

    def _response_model(self, info: ResponseInfo | None) -> str | None:
        if info is None or not info.response_model:
            return None
        return self.hook.models.label(info.response_model)

    def _genai_attributes(self, response_model: str | None, error: str | None) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            n.GEN_AI_OPERATION_NAME: self.operation,
            n.GEN_AI_PROVIDER_NAME: n.PROVIDER_NAME,
            n.GEN_AI_REQUEST_MODEL: self.model,
            n.SERVER_ADDRESS: self.base.host,
            n.SERVER_PORT: self.base.port,
        }
        if response_model is not None:
            attrs[n.GEN_AI_RESPONSE_MODEL] = response_model
        if error is not None:
            attrs[n.ERROR_TYPE] = error
        return attrs

    def _record_stream_timing(
        self, end: float, usage: Any, genai: dict[str, Any] | None, exemplar: otel_context.Context
    ) -> None:
        first = self.first_token_at
        if first is None:
            return
        t = self.hook.telemetry
        ttft = first - self.start
        model_only = {"model": self.model}
        t.time_to_first_token.record(ttft, model_only, context=exemplar)
        if genai is not None:
            t.genai_ttfc.record(ttft, genai, context=exemplar)
        scanner = self.scanner
        chunks = scanner.info.content_chunks if isinstance(scanner, SseScanner) else 0
        if genai is not None and chunks > 1:
            t.genai_time_per_chunk.record((end - first) / (chunks - 1), genai)
        if usage is not None and usage.completion and end > first:
            t.output_tokens_per_second.record(usage.completion / (end - first), model_only)

    def _record_usage(self, usage: Any, response_model: str | None, genai: dict[str, Any] | None) -> float | None:
        t = self.hook.telemetry
        model = self.model
        prompt, completion = usage.prompt or 0, usage.completion or 0
        for token_type, value in (
            ("prompt", usage.prompt),
            ("completion", usage.completion),
            ("cached", usage.cached),
            ("reasoning", usage.reasoning),
        ):
            if value:
                t.tokens.add((model, token_type, *self.attributed), value)
        if genai is not None:
            if usage.prompt is not None:
                t.genai_tokens.record(usage.prompt, {**genai, n.GEN_AI_TOKEN_TYPE: "input"})
            if usage.completion is not None:
                t.genai_tokens.record(usage.completion, {**genai, n.GEN_AI_TOKEN_TYPE: "output"})
        found = self.hook.prices.lookup(response_model or model) if (response_model or model) else None
        if found is None and response_model and model != a.UNKNOWN_MODEL:
            found = self.hook.prices.lookup(model)
        if found is None:
            if prompt + completion:
                t.unpriced_tokens.add((model,), prompt + completion)
            return None
        cost = self.hook.prices.cost(found[1], prompt, completion, usage.cached or 0)
        t.cost.add((model, *self.attributed), cost.usd)
        if cost.savings_usd:
            t.cache_savings.add((model,), cost.savings_usd)
        return cost.usd

    def _record_rate_limits(self, headers: Any, code: int) -> None:
        t = self.hook.telemetry
        for kind, remaining_header, limit_header in _RATELIMIT_HEADERS:
            remaining = _number(headers.get(remaining_header))
            if remaining is not None:
                t.ratelimit_remaining.set((self.model, kind), remaining)
            limit = _number(headers.get(limit_header))
            if limit is not None:
                t.ratelimit_limit.set((self.model, kind), limit)
        if code in (429, 503):
            wait = retry_after_seconds(headers)
            if wait is not None:
                t.retry_after.record(wait, {"model": self.model})

    def _end_span(
        self,
        status: str,
        error: str | None,
        info: ResponseInfo | None,
        usage: Any,
        outcome: str | None,
        cost: float | None,
    ) -> None:
        span = self.span
        if span.is_recording():
            attrs: dict[str, Any] = {}
            if self.status_code:
                attrs[n.HTTP_RESPONSE_STATUS_CODE] = self.status_code
            if info is not None:
                if info.response_id:
                    attrs[n.GEN_AI_RESPONSE_ID] = info.response_id[:256]
                if info.finish_reasons:
                    attrs[n.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(info.finish_reasons)
                if info.output_text is not None:
                    attrs[n.GEN_AI_OUTPUT_MESSAGES] = cap_text(
                        "".join(info.output_text), self.hook.settings.content_max_chars
                    )
                if info.response_model:  # spans carry the real name; only metric labels are capped
                    attrs[n.GEN_AI_RESPONSE_MODEL] = info.response_model[:256]
            if usage is not None:
                if usage.prompt is not None:
                    attrs[n.GEN_AI_USAGE_INPUT_TOKENS] = usage.prompt
                if usage.completion is not None:
                    attrs[n.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.completion
                if usage.cached is not None:
                    attrs[n.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cached
                if usage.reasoning is not None:
                    attrs[n.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning
            if outcome is not None:
                attrs[n.HOLYSHEEP_STREAM_OUTCOME] = outcome
            if self.first_token_at is not None:
                attrs[n.HOLYSHEEP_TIME_TO_FIRST_TOKEN] = self.first_token_at - self.start
            if cost is not None:
                attrs[n.HOLYSHEEP_COST_USD] = cost
            if error is not None:
                attrs[n.ERROR_TYPE] = error
            span.set_attributes(attrs)
            if status != a.STATUS_SUCCESS:
                span.set_status(Status(StatusCode.ERROR, error))
        span.end()


def response_headers(items: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The ``RESPONSE_HEADER_NAMES`` among (lower-cased name, raw value) pairs, repeats joined by ", ".

    One pass decoding only the wanted values as latin-1 (httpx's own fallback): these values are ASCII tokens and
    numbers, so this gives the text a ``Headers.get`` per name would, without scanning all headers per look-up.
    """
    found: dict[str, str] = {}
    for key, raw_value in items:
        if key in _RESPONSE_HEADERS:
            name, value = key.decode("ascii"), raw_value.decode("latin-1")
            found[name] = f"{found[name]}, {value}" if name in found else value
    return found


def _number(raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def retry_after_seconds(headers: Any) -> float | None:
    """The advised wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), if sane."""
    ms = _number(headers.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000.0 if ms <= 86_400_000 else None
    raw = headers.get("retry-after")
    seconds = _number(raw)
    if seconds is None and raw:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        seconds = max(when.timestamp() - time.time(), 0.0)
    return seconds if seconds is not None and seconds <= 86_400 else None
