"""requests adapter: hooked at ``HTTPAdapter.send`` (class level).

``HTTPAdapter.send`` runs once per attempt, each redirect hop included, and hands back the response with its body
unread (``stream=True`` or not: ``Session.send`` reads ``.content`` afterwards). The body is observed one level down,
where every way of reading it meets: the urllib3 response's reads of wire bytes (``_fp_read`` for sized or
close-delimited bodies, ``_update_chunk_length`` / ``_handle_chunk`` for chunked ones). ``.content``, ``.json()``,
``iter_content()``, ``iter_lines()``, ``raw.read()`` and ``raw.stream()`` all pass there, each byte once. The bytes
are still content-encoded there, as at httpx's transport level, so the core decodes them for parsing.
"""

from __future__ import annotations

from typing import Any

from otel_holysheep._call import RESPONSE_HEADER_NAMES, Call, Flavor, RequestFields
from otel_holysheep._hook import ACTIVE, SENDING
from otel_holysheep._safety import call_safely

_CALL = "_otel_holysheep_call"
_READING = "_otel_holysheep_reading"
_observed_types: dict[type, type] = {}


def targets(module: Any) -> list[tuple[type, str, Any]]:
    """(class, method name, wrapper factory) for every method this adapter wraps in ``requests``."""
    import urllib3  # noqa: PLC0415 - requests depends on it

    flavor = Flavor(
        "requests",
        (module.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError),
        (module.exceptions.ConnectionError,),
        _fields,
        _set_body,
        lambda request, response, call, is_async: _observe(urllib3, response, call),
    )
    return [(module.adapters.HTTPAdapter, "send", lambda original: _wrapper(original, flavor))]


def _wrapper(original: Any, flavor: Flavor) -> Any:
    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        hook = ACTIVE.hook
        if hook is not None:
            base = call_safely(hook.route_text, request.url)
            if base is not None and not SENDING.get():  # not already measured one library up
                return hook.send(flavor, request, base, lambda: original(self, request, *args, **kwargs))
        return original(self, request, *args, **kwargs)

    return send


def _fields(request: Any) -> RequestFields:
    body = request.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, bytes):
        body = b""  # a file or generator upload: not ours to read
    path = "/" + request.url.partition("://")[2].partition("/")[2].partition("?")[0].partition("#")[0]
    return RequestFields(request.method, path, body, request.headers.get("x-stainless-retry-count"))


def _set_body(request: Any, body: bytes) -> None:
    request.body = body
    request.headers["Content-Length"] = str(len(body))


def _observe(urllib3: Any, response: Any, call: Call) -> None:
    call.on_headers(response.status_code, _wanted_headers(response.headers))
    content = response.__dict__.get("_content")
    if isinstance(content, bytes):  # handed back already read (a test double or a custom adapter)
        call.on_content(content)
        return
    raw = response.raw
    if not isinstance(raw, urllib3.response.HTTPResponse):
        call.finish_now()  # a body we cannot observe: finish at the headers
        return
    if _fp_closed(raw._fp):  # no body (HEAD, 204, 304) or nothing left to read
        call.on_eof()
        return
    raw.__dict__[_CALL] = call
    # Same layout, same name; only the reads below are added. A response the application drops unread and unclosed
    # is closed by io.IOBase's finalizer, which reaches the close() below: no weakref.finalize needed.
    raw.__class__ = _observed_type(type(raw))


def _wanted_headers(headers: Any) -> dict[str, str]:
    """The response headers the core reads; requests has joined repeats already."""
    store = getattr(headers, "_store", None)  # CaseInsensitiveDict: lower-cased name -> (name, value)
    if isinstance(store, dict):
        return {name: found[1] for name in RESPONSE_HEADER_NAMES if (found := store.get(name)) is not None}
    return {k: v for k, v in headers.lower_items() if k in RESPONSE_HEADER_NAMES}


def _observed_type(base: type) -> type:
    observed = _observed_types.get(base)
    if observed is None:
        methods = {name: _ObservedReads.__dict__[name] for name in _READS}
        observed = type(base.__name__, (base,), methods)
        observed.__module__, observed.__qualname__ = base.__module__, base.__qualname__
        _observed_types[base] = observed
    return observed


class _ObservedReads:
    """The methods an observed urllib3 response gets (copied into a subclass of its own type)."""

    def _fp_read(self: Any, amt: int | None = None, *args: Any, **kwargs: Any) -> bytes:
        call: Call = self.__dict__[_CALL]
        data: bytes = _read(self, call, "_fp_read", amt, *args, **kwargs)
        call_safely(_observed, self, call, data, True, amt)
        return data

    def _update_chunk_length(self: Any) -> None:
        call: Call = self.__dict__[_CALL]
        _read(self, call, "_update_chunk_length")
        if self.chunk_left == 0:  # the last chunk: the body is complete
            call_safely(call.on_eof)

    def _handle_chunk(self: Any, amt: int | None) -> bytes:
        call: Call = self.__dict__[_CALL]
        data: bytes = _read(self, call, "_handle_chunk", amt)
        call_safely(_observed, self, call, data, False, None)
        return data

    def close(self: Any) -> None:
        try:
            _own(self, "close")()
        finally:
            call_safely(_released, self)

    def release_conn(self: Any) -> None:
        # urllib3 releases the connection when the body is read to its end, fails, or is closed; requests'
        # Response.close() releases a fully read body without closing it. Whatever the reads reported came first.
        try:
            _own(self, "release_conn")()
        finally:
            call_safely(_released, self)


def _observed(response: Any, call: Call, data: bytes, fp_read: bool, amt: int | None) -> None:
    """Wire bytes the application's read took (still content-encoded). After ``_fp_read(amt)`` (not a chunk), an
    empty read or a closed file is the end of the body."""
    if data:
        call.on_body_bytes(data)
    if fp_read and ((not data and amt != 0) or _fp_closed(response._fp)):
        call.on_eof()


def _released(response: Any) -> None:
    """Closed or released: a body not finished by now was abandoned by the application."""
    if not response.__dict__.get(_READING):  # urllib3 closes before raising a read error: that error decides
        response.__dict__[_CALL].on_close()


def _read(response: Any, call: Call, method: str, *args: Any, **kwargs: Any) -> Any:
    """Run the urllib3 response's own ``method``; a read error ends the call with that error."""
    response.__dict__[_READING] = True
    try:
        return _own(response, method)(*args, **kwargs)
    except BaseException as exc:
        call_safely(call.on_body_error, exc)
        raise
    finally:
        response.__dict__[_READING] = False


def _own(response: Any, method: str) -> Any:
    """urllib3's own ``method`` of ``response`` (its observed type's base)."""
    return getattr(type(response).__base__, method).__get__(response)


_READS = ("_fp_read", "_update_chunk_length", "_handle_chunk", "close", "release_conn")


def _fp_closed(fp: Any) -> bool:
    if fp is None:
        return True
    isclosed = getattr(fp, "isclosed", None)
    return bool(isclosed()) if isclosed is not None else bool(getattr(fp, "closed", False))
