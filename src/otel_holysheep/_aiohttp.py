"""aiohttp adapter: hooked at ``ClientSession._request`` (class level).

Every ``session.request`` / ``get`` / ``post`` / ``ws_connect``-free call passes there once and gets back the response
with its body unread (aiohttp's own redirect hops and its one reconnect on a stale keep-alive connection stay inside
it). The body is observed at the response's ``StreamReader``, where every way of reading it meets: ``read()``,
``json()``, ``text()``, ``content`` iteration, ``iter_chunked`` / ``iter_any`` / ``iter_chunks``, ``readline`` and
``readuntil`` loops all take their bytes through ``_read_nowait_chunk``. The reader's class becomes a subclass with
the same layout that adds those observations; the call is finished at the end of the body, on a connection error,
read timeout, ``release()`` / ``close()`` / context-manager exit (aiohttp then marks the reader closed), or when the
response is garbage-collected.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Any, NamedTuple

from otel_holysheep._call import Call, Flavor, RequestFields
from otel_holysheep._parsing.headers import response_headers
from otel_holysheep._safety import call_safely
from otel_holysheep._state import ACTIVE, Session


class AioRequest(NamedTuple):
    """One ``ClientSession._request`` call: what the core reads and the stream-usage opt-in may change."""

    session: Any
    method: str
    url: Any  # str or yarl.URL, as the application passed it
    kwargs: dict[str, Any]


def targets(module: Any, session: Session) -> list[tuple[type, str, Any]]:
    """(class, method name, wrapper factory) for every method this adapter wraps in ``aiohttp``; the calls of the
    observed readers are kept in ``session`` (by id: a StreamReader has __slots__, the call cannot live on it)."""
    from aiohttp import client_reqrep, streams  # noqa: PLC0415

    closed = getattr(client_reqrep, "_CONNECTION_CLOSED_EXCEPTION", None)
    calls: dict[int, Call] = session.aiohttp_calls
    reader_type = _observed_reader_type(streams.StreamReader, module.ClientConnectionError, closed, calls)
    flavor = Flavor(
        (asyncio.TimeoutError, TimeoutError),  # aiohttp's ServerTimeoutError and ConnectionTimeoutError included
        (module.ClientConnectorError,),
        _fields,
        _set_body,
        lambda request, response, call, is_async: _observe(streams, reader_type, calls, request, response, call),
        (module.ClientResponseError,),  # raise_for_status=True: the status of the response it raised for
    )
    return [(module.ClientSession, "_request", lambda original: _wrapper(original, flavor))]


def _wrapper(original: Any, flavor: Flavor) -> Any:
    async def _request(self: Any, method: str, str_or_url: Any, *args: Any, **kwargs: Any) -> Any:
        hook = ACTIVE.hook
        if hook is not None:
            route = call_safely(_route, hook, self, str_or_url)
            if route is not None and not hook.sending.get():  # not already measured one library up
                request = AioRequest(self, method, str_or_url, kwargs)
                return await hook.send_async(
                    flavor, request, route, lambda: original(self, method, str_or_url, *args, **kwargs)
                )
        return await original(self, method, str_or_url, *args, **kwargs)

    return _request


def _route(hook: Any, session: Any, url: Any) -> Any:
    if isinstance(url, str) and "://" in url:
        return hook.route_text(url)
    return hook.route(session._build_url(url))  # a yarl.URL, or a path under the session's base_url


def _fields(request: AioRequest) -> RequestFields:
    kwargs = request.kwargs
    payload = kwargs.get("json")
    if payload is not None:
        body = json.dumps(payload).encode("utf-8")
    else:
        data = kwargs.get("data")
        if isinstance(data, str):
            body = data.encode("utf-8")
        else:  # bytes, or a form, file or generator: not ours to read
            body = bytes(data) if isinstance(data, bytes | bytearray) else b""
    retry_count = None
    headers = kwargs.get("headers")
    if headers:
        items = headers.items() if hasattr(headers, "items") else headers
        for key, value in items:
            if str(key).lower() == "x-stainless-retry-count":
                retry_count = value
                break
    return RequestFields(request.method.upper(), body, retry_count)


def _set_body(request: AioRequest, body: bytes) -> None:
    kwargs = request.kwargs
    if kwargs.get("json") is not None:
        kwargs["json"] = json.loads(body)
    elif isinstance(kwargs.get("data"), str):
        kwargs["data"] = body.decode("utf-8")
    else:
        kwargs["data"] = body


def _observe(
    streams: Any, reader_type: type, calls: dict[int, Call], request: AioRequest, response: Any, call: Call
) -> None:
    decompress = request.kwargs.get("auto_decompress")
    if decompress is None:
        decompress = request.session.auto_decompress
    call.on_headers(response.status, response_headers((k.lower(), v) for k, v in response.raw_headers), decompress)
    content = response.content
    if type(content) is not streams.StreamReader or content.at_eof():
        # No body (aiohttp's shared EMPTY_PAYLOAD), one already read to its end, or a reader of a type we do not
        # know: finish now.
        call.on_eof()
        return
    error = content.exception()
    if error is not None:  # the body failed while the headers were read (in the same packet)
        call.on_body_error(error)
        return
    key = id(content)
    calls[key] = call
    content.__class__ = reader_type
    weakref.finalize(response, _abandoned, calls, key, call)


def _observed_reader_type(base: Any, closed_type: type, closed: object, calls: dict[int, Call]) -> type:
    """A StreamReader subclass with the same layout (no new slots) that reports body events to its call."""

    def end(reader: Any, step: Any, *args: Any) -> None:
        call_safely(step, *args)
        calls.pop(id(reader), None)

    class ObservedStreamReader(base):  # type: ignore[misc]
        __slots__ = ()

        def _read_nowait_chunk(self, n: int) -> bytes:
            data: bytes = super()._read_nowait_chunk(n)
            call = calls.get(id(self))
            if call is not None:
                call.on_body_bytes(data)
                if self._eof and not self._buffer:
                    end(self, call.on_eof)
            return data

        def feed_eof(self) -> None:
            super().feed_eof()
            call = calls.get(id(self))
            if call is not None and not self._buffer:  # the application has read everything already
                end(self, call.on_eof)

        def set_exception(self, exc: BaseException, *args: Any) -> None:
            super().set_exception(exc, *args)
            call = calls.get(id(self))
            if call is not None:
                if exc is closed or type(exc) is closed_type:  # release() / close() before the end of the body
                    end(self, call.on_close)
                else:
                    end(self, call.on_body_error, exc)

        async def _wait(self, func_name: str) -> None:
            try:
                await super()._wait(func_name)
            except asyncio.TimeoutError as exc:  # the request's total timeout, while waiting for body bytes
                call = calls.get(id(self))
                if call is not None:
                    end(self, call.on_body_error, exc)
                raise

    ObservedStreamReader.__module__, ObservedStreamReader.__qualname__ = base.__module__, base.__qualname__
    ObservedStreamReader.__name__ = base.__name__
    return ObservedStreamReader


def _abandoned(calls: dict[int, Call], key: int, call: Call) -> None:
    call_safely(call.on_close)
    if calls.get(key) is call:
        del calls[key]
