"""requests adapter: hooked at ``HTTPAdapter.send`` (class level).

``HTTPAdapter.send`` runs once per attempt, each redirect hop included, and hands back the response with its body
unread (``stream=True`` or not: ``Session.send`` reads ``.content`` afterwards). The body is observed one level down,
where every way of reading it meets: the urllib3 response's reads of wire bytes (``_fp_read`` for sized or
close-delimited bodies, ``_update_chunk_length`` / ``_handle_chunk`` for chunked ones). ``.content``, ``.json()``,
``iter_content()``, ``iter_lines()``, ``raw.read()`` and ``raw.stream()`` all pass there, each byte once. The bytes
are still content-encoded there, as at httpx's transport level, so the core decodes them for parsing.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from otel_holysheep._call import Call, Flavor, RequestFields
from otel_holysheep._parsing.headers import RESPONSE_HEADER_NAMES
from otel_holysheep._safety import call_safely
from otel_holysheep._state import ACTIVE, Session

_CALL = "_otel_holysheep_call"
_READING = "_otel_holysheep_reading"


def targets(module: Any, session: Session) -> list[tuple[type, str, Any]]:
    """(class, method name, wrapper factory) for every method this adapter wraps in ``requests``; the observed
    urllib3 response types are kept in ``session``."""
    import urllib3  # noqa: PLC0415 - requests depends on it

    def observe(request: Any, response: Any, call: Call, is_async: bool) -> None:
        _observe(urllib3, response, call, session.observed_types)

    flavor = Flavor(
        (module.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError),
        (module.exceptions.ConnectionError,),
        _fields,
        _set_body,
        observe,
    )
    return [(module.adapters.HTTPAdapter, "send", lambda original: _wrapper(original, flavor))]


def _wrapper(original: Any, flavor: Flavor) -> Any:
    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        hook = ACTIVE.hook
        if hook is not None:
            route = call_safely(hook.route_text, request.url)
            if route is not None and not hook.sending.get():  # not already measured one library up
                return hook.send(flavor, request, route, partial(original, self, request, *args, **kwargs))
        return original(self, request, *args, **kwargs)

    return send


def _fields(request: Any) -> RequestFields:
    body = request.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, bytes):
        body = b""  # a file or generator upload: not ours to read
    return RequestFields(request.method, body, _header(request.headers, "x-stainless-retry-count"))


def _header(headers: Any, name: str) -> str | None:
    """``headers.get(name)`` for a lower-case ``name``; a ``CaseInsensitiveDict`` without raising KeyError inside."""
    store = getattr(headers, "_store", None)  # CaseInsensitiveDict: lower-cased name -> (name, value)
    if isinstance(store, dict):
        found = store.get(name)
        return found[1] if found is not None else None
    value: str | None = headers.get(name)
    return value


def _set_body(request: Any, body: bytes) -> None:
    request.body = body
    request.headers["Content-Length"] = str(len(body))


def _observe(urllib3: Any, response: Any, call: Call, observed_types: dict[type, type]) -> None:
    call.on_headers(response.status_code, _wanted_headers(response.headers))
    content = getattr(response, "_content", None)
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
    # Same layout, same name; only the reads below are added, until the call is finished. A response the
    # application drops unread and unclosed is closed by io.IOBase's finalizer, which reaches the close() below: no
    # weakref.finalize needed.
    raw.__class__ = _observed_type(type(raw), observed_types)


def _wanted_headers(headers: Any) -> dict[str, str]:
    """The response headers the core reads; requests has joined repeats already."""
    store = getattr(headers, "_store", None)  # CaseInsensitiveDict: lower-cased name -> (name, value)
    if isinstance(store, dict):
        return {name: found[1] for name in RESPONSE_HEADER_NAMES if (found := store.get(name)) is not None}
    return {k: v for k, v in headers.lower_items() if k in RESPONSE_HEADER_NAMES}


def _observed_type(base: type, observed_types: dict[type, type]) -> type:
    observed = observed_types.get(base)
    if observed is None:
        observed = type(base.__name__, (base,), _observed_reads(base))
        observed.__module__, observed.__qualname__ = base.__module__, base.__qualname__
        observed_types[base] = observed
    return observed


def _observed_reads(base: Any) -> dict[str, Any]:
    """The methods an observed urllib3 response of type ``base`` gets: ``base``'s own, plus the observation.

    Once the call is finished (end of body, read error, close), the response gets its own type back, and the rest
    of its life (urllib3's closing empty read, the connection releases) costs nothing. Each method reads the call
    anew: one already running in another thread when that happens finds none and is plain urllib3 again.
    """

    def _fp_read(self: Any, amt: int | None = None, *args: Any, **kwargs: Any) -> bytes:
        call: Call | None = self.__dict__.get(_CALL)
        if call is None:
            return base._fp_read(self, amt, *args, **kwargs)  # type: ignore[no-any-return]
        data: bytes = _read(self, base, call, "_fp_read", amt, *args, **kwargs)
        call_safely(_observed, self, base, call, data, amt)
        return data

    def _update_chunk_length(self: Any) -> None:
        call: Call | None = self.__dict__.get(_CALL)
        if call is None:
            return base._update_chunk_length(self)  # type: ignore[no-any-return]
        _read(self, base, call, "_update_chunk_length")
        if self.chunk_left == 0:  # the last chunk: the body is complete
            call_safely(_ended, self, base, call.on_eof)
        return None

    def _handle_chunk(self: Any, amt: int | None) -> bytes:
        call: Call | None = self.__dict__.get(_CALL)
        if call is None:
            return base._handle_chunk(self, amt)  # type: ignore[no-any-return]
        data: bytes = _read(self, base, call, "_handle_chunk", amt)
        if data:
            call.on_body_bytes(data)  # never raises
        return data

    def close(self: Any) -> None:
        try:
            base.close(self)
        finally:
            call_safely(_released, self, base)

    def release_conn(self: Any) -> None:
        # urllib3 releases the connection when the body is read to its end, fails, or is closed; requests'
        # Response.close() releases a fully read body without closing it. Whatever the reads reported came first.
        try:
            base.release_conn(self)
        finally:
            call_safely(_released, self, base)

    reads = (_fp_read, _update_chunk_length, _handle_chunk, close, release_conn)
    return {read.__name__: read for read in reads}


def _observed(response: Any, base: type, call: Call, data: bytes, amt: int | None) -> None:
    """Wire bytes ``_fp_read(amt)`` took for the application (still content-encoded). An empty read (not of 0 bytes)
    or a closed file is the end of the body."""
    if data:
        call.on_body_bytes(data)
    if (not data and amt != 0) or _fp_closed(response._fp):
        _ended(response, base, call.on_eof)


def _released(response: Any, base: type) -> None:
    """Closed or released: a body not finished by now was abandoned by the application."""
    call: Call | None = response.__dict__.get(_CALL)
    if call is not None and not response.__dict__.get(_READING):  # urllib3 closes before raising a read error: that
        _ended(response, base, call.on_close)  # error decides


def _read(response: Any, base: type, call: Call, method: str, *args: Any, **kwargs: Any) -> Any:
    """Run urllib3's own ``method`` (looked up on ``base`` now: a later patch of urllib3 is honoured); a read error
    ends the call with that error."""
    state = response.__dict__
    state[_READING] = True
    try:
        return getattr(base, method)(response, *args, **kwargs)
    except BaseException as exc:
        call_safely(_ended, response, base, call.on_body_error, exc)
        raise
    finally:
        state[_READING] = False


def _ended(response: Any, base: type, event: Any, *args: Any) -> None:
    """``event`` finishes the call: the response is plain urllib3 again from here on. If ``event`` fails, the
    response stays observed, so that its close or connection release still finishes the call."""
    event(*args)
    response.__dict__.pop(_CALL, None)
    response.__class__ = base


def _fp_closed(fp: Any) -> bool:
    if fp is None:
        return True
    isclosed = getattr(fp, "isclosed", None)
    return bool(isclosed()) if isclosed is not None else bool(getattr(fp, "closed", False))
