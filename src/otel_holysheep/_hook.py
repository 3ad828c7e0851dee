"""The one core that handles a matched request, shared by every client library (httpx, httpx2, requests, aiohttp),
sync and async.

``Hook.route`` / ``Hook.route_text`` decide cheaply whether a URL is the gateway's. For a matched request
``Hook.begin`` opens a :class:`Call` (span, in-flight gauge, request fields), the application's request runs exactly
once, and the call is finished exactly once: when the body has been read to its end, fails, is closed early, or is
garbage-collected. Every telemetry step runs under the never-raise guard; the application's own exceptions pass
through unchanged.

A client library is an adapter (``_httpx``, ``_requests``, ``_aiohttp``): its wrapper reads ``_state.ACTIVE.hook``,
routes the URL (a :class:`Route`: the base URL and the path, parsed once) and hands the request to ``Hook.send`` /
``Hook.send_async`` with its :class:`Flavor`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Tracer

from otel_holysheep import _attributes as a
from otel_holysheep import _names as n
from otel_holysheep._attribution import Attribution
from otel_holysheep._call import Call, Flavor
from otel_holysheep._config import BaseUrl, Settings, index_base_urls, match_base_url
from otel_holysheep._genai import LatestGenAI
from otel_holysheep._instruments import Telemetry
from otel_holysheep._parsing import add_stream_usage_option, parse_request, request_messages
from otel_holysheep._pricing import PriceBook
from otel_holysheep._recorder import Attempt, Recorder
from otel_holysheep._safety import call_safely


class Route(NamedTuple):
    """Where a matched request goes: the base URL it falls under and its URL path (no query), parsed once."""

    base: BaseUrl
    path: str


class Hook:
    """Configured state shared by every request: routes, tracer, instruments, prices, label guards."""

    def __init__(
        self,
        settings: Settings,
        tracer: Tracer,
        telemetry: Telemetry,
        prices: PriceBook,
        attribution: Attribution | None = None,
        latest: LatestGenAI | None = None,
    ) -> None:
        self.settings = settings
        self.tracer = tracer
        self.telemetry = telemetry
        self.prices = prices
        self.attribution = attribution
        self.models = a.model_labels(settings.max_models)
        self.recorder = Recorder(settings, telemetry, prices, self.models, latest)
        # v1.41 form: gen_ai.request.stream on every request, as always; latest form: only on streaming ones (the
        # conventions' "if and only if the request is streaming").
        self._stream_always = latest is None
        # True while a matched request is being sent in this thread / asyncio task. A client library running
        # underneath another one (the openai SDK's aiohttp client and LiteLLM's aiohttp transport run httpx over
        # aiohttp) then sees the same request again: the wrappers pass it straight through, so it is counted once, by
        # the outer library.
        self.sending: ContextVar[bool] = ContextVar("otel_holysheep_sending", default=False)
        # The error type of the last failed attempt in this thread / asyncio task: the reason of the retry that
        # follows. Written only where the application's own context is current (never from a finalizer).
        self.last_failure: ContextVar[str | None] = ContextVar("otel_holysheep_last_failure", default=None)
        self._hosts = index_base_urls(settings.base_urls)

    def route(self, url: Any) -> Route | None:
        """The base URL an httpx or yarl ``url`` falls under, with its path; ``None`` when it is not the gateway's (the
        cheap test every HTTP request pays)."""
        bases = self._hosts.get(url.host)
        if bases is None:
            return None
        path = url.path
        base = match_base_url(bases, url.scheme, url.port, path)
        return tuple.__new__(Route, (base, path)) if base is not None else None

    def route_text(self, url: str) -> Route | None:
        """``route`` for a URL string (``scheme://[userinfo@]host[:port]/path?query``, as requests prepares it)."""
        scheme, sep, rest = url.partition("://")
        if not sep:
            return None
        authority, _, path = rest.partition("/")
        if "?" in authority or "#" in authority:  # no path: "http://host?query"
            authority, path = authority.partition("#")[0].partition("?")[0], ""
        authority = authority.rpartition("@")[2]
        if authority.startswith("["):  # [IPv6]:port
            host, _, port_text = authority[1:].partition("]")
            port_text = port_text[1:]
        else:
            host, _, port_text = authority.partition(":")
        bases = self._hosts.get(host.lower())
        if bases is None:
            return None
        path = "/" + path.partition("#")[0].partition("?")[0]
        base = match_base_url(bases, scheme.lower(), int(port_text) if port_text else None, path)
        return tuple.__new__(Route, (base, path)) if base is not None else None

    def begin(self, flavor: Flavor, request: Any, route: Route) -> Call | None:
        """Open the telemetry for one attempt; ``None`` means pass the request straight through."""
        if not is_instrumentation_enabled():
            return None
        start = time.perf_counter()
        fields = flavor.fields(request)
        base = route.base
        endpoint = a.endpoint_of(route.path, base.path)
        body = fields.body
        info = parse_request(body) if body else None
        if (
            info is not None
            and info.stream
            and not info.has_include_usage
            and endpoint == "chat/completions"
            and self.settings.request_stream_usage
        ):
            new_body = add_stream_usage_option(body)
            if new_body is not None:
                flavor.set_body(request, new_body)
        model = self.models.label(info.model if info else None)
        attempt = attempt_of(fields.retry_count)
        if attempt:
            self.telemetry.retries.add((model, a.retry_reason(self.last_failure.get())))
        operation = a.operation_of(endpoint)
        attributes: dict[str, Any] = {
            n.GEN_AI_OPERATION_NAME: operation,
            n.GEN_AI_PROVIDER_NAME: n.PROVIDER_NAME,
            n.SERVER_ADDRESS: base.host,
            n.SERVER_PORT: base.port,
            n.HOLYSHEEP_ENDPOINT: endpoint,
            n.HTTP_REQUEST_METHOD: fields.method,
        }
        if info is not None and info.model:
            attributes[n.GEN_AI_REQUEST_MODEL] = info.model  # the real name (<= 256 chars); metric labels are capped
        if info is not None and (info.stream or self._stream_always):
            attributes[n.GEN_AI_REQUEST_STREAM] = info.stream
        if attempt:
            attributes[n.HOLYSHEEP_ATTEMPT] = attempt
            attributes[n.HTTP_REQUEST_RESEND_COUNT] = attempt
        if self.settings.capture_content and body:
            messages = request_messages(body, self.settings.content_max_chars)
            if messages is not None:
                attributes[n.GEN_AI_INPUT_MESSAGES] = messages
        # Read now, while the application's context (its server span, its baggage) is the current one. A failure
        # here loses the attribution values (empty), never the request's telemetry.
        attributed: tuple[str, ...] = ()
        attribution = self.attribution
        if attribution is not None:
            attributed = call_safely(attribution.capture, attributes, default=attribution.empty)
        name = f"{operation} {info.model}" if info is not None and info.model else operation
        # Tracing failing (a broken span processor) must not cost the metrics: fall back to a non-recording span.
        span = call_safely(self._start_span, name, attributes) or INVALID_SPAN
        identity = tuple.__new__(Attempt, (span, start, model, endpoint, operation, base, attributed))  # see Outcome
        self.telemetry.active.add((model,), 1)
        return Call(flavor, identity, self.recorder, self.last_failure, self.settings.capture_content)

    def _start_span(self, name: str, attributes: dict[str, Any]) -> Span:
        return self.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)

    def send(self, flavor: Flavor, request: Any, route: Route, run: Callable[[], Any]) -> Any:
        """Run ``run()`` (the library's own send of ``request``) exactly once, measured as one attempt."""
        call: Call | None = call_safely(self.begin, flavor, request, route)
        if call is None:
            return run()
        token = call_safely(_attach, call)
        sending = self.sending.set(True)
        try:
            response = run()
        except BaseException as exc:
            call_safely(call.fail, exc)
            raise
        finally:
            self.sending.reset(sending)
            if token is not None:
                call_safely(otel_context.detach, token)
        if call_safely(_observe, flavor, request, response, call, False) is None:
            call_safely(call.finish_now)  # could not observe the body: finish at the headers, never leak
        return response

    async def send_async(self, flavor: Flavor, request: Any, route: Route, run: Callable[[], Awaitable[Any]]) -> Any:
        """Async twin of ``send``."""
        call: Call | None = call_safely(self.begin, flavor, request, route)
        if call is None:
            return await run()
        token = call_safely(_attach, call)
        sending = self.sending.set(True)
        try:
            response = await run()
        except BaseException as exc:
            call_safely(call.fail, exc)
            raise
        finally:
            self.sending.reset(sending)
            if token is not None:
                call_safely(otel_context.detach, token)
        if call_safely(_observe, flavor, request, response, call, True) is None:
            call_safely(call.finish_now)
        return response


def _attach(call: Call) -> object:
    return otel_context.attach(trace.set_span_in_context(call.attempt.span))


def _observe(flavor: Flavor, request: Any, response: Any, call: Call, is_async: bool) -> bool:
    flavor.observe(request, response, call, is_async)
    return True


def attempt_of(raw: str | bytes | None) -> int:
    """The openai SDK's retry number from ``x-stainless-retry-count``; 0 for a first attempt or any other client."""
    if raw is None:
        return 0
    try:
        value = int(raw)
    except ValueError:
        return 0
    return value if 0 < value < 1000 else 0
