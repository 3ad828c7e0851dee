"""One matched HTTP attempt, tracked from request start to its single finish: the attempt's state machine.

``Call`` follows the response (headers, body bytes, end, error, close) and emits one immutable
:class:`~otel_holysheep._recorder.Outcome` when the attempt ends, whichever way; the :class:`Recorder` turns it into
metrics and span attributes. A call never reads the hook: what it needs is handed to it when it begins.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, NamedTuple

from otel_holysheep import _attributes as a
from otel_holysheep._parsing import Decoder, JsonScanner, ResponseInfo, SseScanner, decoder_for
from otel_holysheep._parsing.headers import parse_response_headers
from otel_holysheep._recorder import Attempt, Outcome, Recorder
from otel_holysheep._safety import call_or_else, call_safely


class RequestFields(NamedTuple):
    """What the core reads from a client library's request, whichever library made it."""

    method: str
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
        "attempt",
        "capture",
        "decoder",
        "first_token_at",
        "flavor",
        "headers_at",
        "last_failure",
        "recorder",
        "scanner",
        "sse",
        "status_code",
    )

    def __init__(
        self,
        flavor: Flavor,
        attempt: Attempt,
        recorder: Recorder,
        last_failure: ContextVar[str | None],
        capture: bool = False,
    ) -> None:
        self.flavor = flavor
        self.attempt = attempt
        self.recorder = recorder
        self.last_failure = last_failure  # the retry marker of this context (``Hook.last_failure``)
        self.capture = capture  # message content capture (the scanners keep the output text)
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
            self.last_failure.set(a.http_error_type(status_code))
        parsed = parse_response_headers(status_code, headers)
        if parsed.rate_limits or parsed.retry_after is not None:
            self.recorder.headers(self.attempt, parsed)
        content_type = parsed.content_type
        capture = self.capture
        if "text/event-stream" in content_type:
            self.sse = True
            self.scanner = SseScanner(capture)
        elif "json" in content_type:
            self.scanner = JsonScanner(capture)
        encoding = parsed.content_encoding
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
        if error != a.ERROR_CANCELLED and self._marks:
            self.last_failure.set(error)
        scanner = self.scanner
        chunks = scanner.info.content_chunks if isinstance(scanner, SseScanner) else 0
        # tuple.__new__ rather than Outcome(...): the same record without the NamedTuple's Python-level __new__
        if info is None:
            result = tuple.__new__(Outcome, (
                status, error, outcome, self.status_code, end, self.headers_at, self.first_token_at, self.sse,
                None, None, None, (), None, chunks, 0,
            ))  # fmt: skip
        else:
            text = info.output_text
            result = tuple.__new__(Outcome, (
                status, error, outcome, self.status_code, end, self.headers_at, self.first_token_at, self.sse,
                info.usage, info.response_model, info.response_id, tuple(info.finish_reasons),
                "".join(text) if text is not None else None, chunks, len(info.tool_calls),
            ))  # fmt: skip
        self.recorder.finished(self.attempt, result)
