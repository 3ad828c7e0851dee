"""httpx / httpx2 adapter: hooked at ``Client._send_single_request`` (sync and async, class level).

That method runs once per attempt, after auth and before redirects are followed, for every transport (custom ones and
MockTransport included), so the openai SDK's default client and its aiohttp client are both seen. The response body
is observed by replacing ``response.stream`` with a pass-through stream of the module's own type (``_stream``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from otel_holysheep._call import Call, Flavor, RequestFields
from otel_holysheep._parsing.headers import response_headers
from otel_holysheep._safety import call_safely
from otel_holysheep._state import ACTIVE, Session
from otel_holysheep._stream import make_stream_types

METHOD = "_send_single_request"


def targets(module: Any, session: Session) -> list[tuple[type, str, Any]]:
    """(class, method name, wrapper factory) for every method this adapter wraps in ``module`` (no state of its own
    in ``session``)."""
    sync_stream, async_stream = make_stream_types(module)

    def observe(request: Any, response: Any, call: Call, is_async: bool) -> None:
        call.on_headers(response.status_code, wanted_headers(response.headers))
        content = getattr(response, "_content", None)
        if isinstance(content, bytes):
            # Already read (MockTransport and other custom transports hand back read responses): the bytes are
            # decoded already and will never flow through the stream again.
            call.on_content(content)
            return
        response.stream = (async_stream if is_async else sync_stream)(response.stream, call)

    def set_body(request: Any, body: bytes) -> None:
        request.stream = module.ByteStream(body)
        request._content = body
        request.headers["Content-Length"] = str(len(body))

    flavor = Flavor((module.TimeoutException,), (module.ConnectError,), _fields, set_body, observe)
    return [
        (module.Client, METHOD, lambda original: _sync_wrapper(original, flavor)),
        (module.AsyncClient, METHOD, lambda original: _async_wrapper(original, flavor)),
    ]


def _fields(request: Any) -> RequestFields:
    content = getattr(request, "_content", None)  # set once the body has been read (always for bytes/json bodies)
    retry_count = None
    for key, value in header_items(request.headers):
        if key == b"x-stainless-retry-count":
            retry_count = value
            break
    return RequestFields(request.method, content if isinstance(content, bytes) else b"", retry_count)


def wanted_headers(headers: Any) -> dict[str, str]:
    """The response headers the core reads, in one pass over the raw list (``Headers.get`` scans all per name)."""
    return response_headers(header_items(headers))


def header_items(headers: Any) -> Iterator[tuple[bytes, bytes]]:
    """(lower-cased name, raw value) pairs of an httpx/httpx2 ``Headers`` without building strings for all of them.

    ``Headers._list`` holds (raw name, lower name, value) in both libraries; ``.raw`` is the public fallback.
    """
    items = getattr(headers, "_list", None)
    if items is not None:
        return ((lower, value) for _, lower, value in items)
    return ((name.lower(), value) for name, value in headers.raw)


def _sync_wrapper(original: Any, flavor: Flavor) -> Any:
    def _send_single_request(self: Any, request: Any) -> Any:
        hook = ACTIVE.hook
        if hook is not None:
            route = call_safely(hook.route, request.url)
            if route is not None and not hook.sending.get():  # not already measured one library up
                return hook.send(flavor, request, route, lambda: original(self, request))
        return original(self, request)

    return _send_single_request


def _async_wrapper(original: Any, flavor: Flavor) -> Any:
    async def _send_single_request(self: Any, request: Any) -> Any:
        hook = ACTIVE.hook
        if hook is not None:
            route = call_safely(hook.route, request.url)
            if route is not None and not hook.sending.get():  # not already measured one library up
                return await hook.send_async(flavor, request, route, lambda: original(self, request))
        return await original(self, request)

    return _send_single_request
