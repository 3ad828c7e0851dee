"""The one core that handles a matched request, shared by httpx and httpx2, sync and async.

``Hook.route`` decides cheaply whether a URL is the gateway's. For a matched request ``Hook.begin`` opens a
:class:`Call` (span, in-flight gauge, request fields), the application's request runs exactly once, and the call is
finished exactly once: when the body has been read to its end, fails, is closed early, or is garbage-collected.
Every telemetry step runs under the never-raise guard; the application's own exceptions pass through unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Tracer

from otel_holysheep import _attributes as a
from otel_holysheep import _names as n
from otel_holysheep._call import LAST_FAILURE, Call, Flavor, header_items
from otel_holysheep._config import BaseUrl, Settings, index_base_urls, match_base_url
from otel_holysheep._instruments import Telemetry
from otel_holysheep._parsing import add_stream_usage_option, parse_request, request_messages
from otel_holysheep._pricing import PriceBook
from otel_holysheep._safety import call_safely


class Hook:
    """Configured state shared by every request: routes, tracer, instruments, prices, label guards."""

    def __init__(self, settings: Settings, tracer: Tracer, telemetry: Telemetry, prices: PriceBook) -> None:
        self.settings = settings
        self.tracer = tracer
        self.telemetry = telemetry
        self.prices = prices
        self.models = a.ModelLabels(settings.max_models)
        self._hosts = index_base_urls(settings.base_urls)

    def route(self, url: Any) -> BaseUrl | None:
        """The base URL ``url`` falls under, or ``None`` (the cheap test every HTTP request pays)."""
        bases = self._hosts.get(url.host)
        if bases is None:
            return None
        return match_base_url(bases, url.scheme, url.port, url.path)

    def begin(self, flavor: Flavor, request: Any, base: BaseUrl) -> Call | None:
        """Open the telemetry for one attempt; ``None`` means pass the request straight through."""
        if not is_instrumentation_enabled():
            return None
        start = time.perf_counter()
        url = request.url
        endpoint = a.endpoint_of(url.path, base.path)
        body = _body_of(request)
        info = parse_request(body) if body else None
        if (
            info is not None
            and info.stream
            and not info.has_include_usage
            and endpoint == "chat/completions"
            and self.settings.request_stream_usage
        ):
            _add_stream_usage(flavor, request, body)
        model = self.models.label(info.model if info else None)
        attempt = _attempt_of(request)
        if attempt:
            self.telemetry.retries.add((model, a.retry_reason(LAST_FAILURE.get())))
        operation = a.operation_of(endpoint)
        attributes: dict[str, Any] = {
            n.GEN_AI_OPERATION_NAME: operation,
            n.GEN_AI_PROVIDER_NAME: n.PROVIDER_NAME,
            n.SERVER_ADDRESS: base.host,
            n.SERVER_PORT: base.port,
            n.HOLYSHEEP_ENDPOINT: endpoint,
            n.HTTP_REQUEST_METHOD: request.method,
        }
        if info is not None and info.model:
            attributes[n.GEN_AI_REQUEST_MODEL] = info.model  # the real name (<= 256 chars); metric labels are capped
        if info is not None:
            attributes[n.GEN_AI_REQUEST_STREAM] = info.stream
        if attempt:
            attributes[n.HOLYSHEEP_ATTEMPT] = attempt
            attributes[n.HTTP_REQUEST_RESEND_COUNT] = attempt
        if self.settings.capture_content and body:
            messages = request_messages(body, self.settings.content_max_chars)
            if messages is not None:
                attributes[n.GEN_AI_INPUT_MESSAGES] = messages
        name = f"{operation} {info.model}" if info is not None and info.model else operation
        # Tracing failing (a broken span processor) must not cost the metrics: fall back to a non-recording span.
        span = call_safely(self._start_span, name, attributes) or INVALID_SPAN
        self.telemetry.active.add((model,), 1)
        return Call(self, flavor, span, start, model, endpoint, operation, base)

    def _start_span(self, name: str, attributes: dict[str, Any]) -> Span:
        return self.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)

    def send(
        self, flavor: Flavor, original: Callable[[Any, Any], Any], client: Any, request: Any, base: BaseUrl
    ) -> Any:
        call: Call | None = call_safely(self.begin, flavor, request, base)
        if call is None:
            return original(client, request)
        token = call_safely(_attach, call)
        try:
            response = original(client, request)
        except BaseException as exc:
            call_safely(call.fail, exc)
            raise
        finally:
            if token is not None:
                call_safely(otel_context.detach, token)
        if call_safely(call.on_response, response, False) is None:
            call_safely(call.finish_now)  # could not observe the body: finish at the headers, never leak
        return response

    async def send_async(
        self, flavor: Flavor, original: Callable[[Any, Any], Awaitable[Any]], client: Any, request: Any, base: BaseUrl
    ) -> Any:
        call: Call | None = call_safely(self.begin, flavor, request, base)
        if call is None:
            return await original(client, request)
        token = call_safely(_attach, call)
        try:
            response = await original(client, request)
        except BaseException as exc:
            call_safely(call.fail, exc)
            raise
        finally:
            if token is not None:
                call_safely(otel_context.detach, token)
        if call_safely(call.on_response, response, True) is None:
            call_safely(call.finish_now)
        return response


def _attach(call: Call) -> object:
    return otel_context.attach(trace.set_span_in_context(call.span))


def _body_of(request: Any) -> bytes:
    content = getattr(request, "_content", None)  # set once the body has been read (always for bytes/json bodies)
    return content if isinstance(content, bytes) else b""


def _attempt_of(request: Any) -> int:
    """The openai SDK's retry number (``x-stainless-retry-count``), 0 for a first attempt or any other client."""
    for key, raw in header_items(request.headers):
        if key == b"x-stainless-retry-count":
            try:
                value = int(raw)
            except ValueError:
                return 0
            return value if 0 < value < 1000 else 0
    return 0


def _add_stream_usage(flavor: Flavor, request: Any, body: bytes) -> None:
    """The documented opt-in: ask the gateway for a final usage chunk on a streaming chat request."""
    new_body = add_stream_usage_option(body)
    if new_body is None:
        return
    request.stream = flavor.byte_stream(new_body)
    request._content = new_body
    request.headers["Content-Length"] = str(len(new_body))
