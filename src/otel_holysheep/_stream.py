"""Pass-through observed byte streams: every chunk reaches the application unchanged and in order.

The classes subclass the instrumented module's own ``SyncByteStream`` / ``AsyncByteStream`` (httpx checks the type).
A call is finished exactly once: at the end of the body, on a read error, on ``close``, or, for a stream the
application abandoned without closing, when the stream is garbage-collected (``weakref.finalize``).
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

from otel_holysheep._call import Call
from otel_holysheep._safety import call_safely


def make_stream_types(module: Any) -> tuple[Any, Any]:
    """Observed (sync, async) stream classes for an httpx-like ``module``."""

    class ObservedSyncStream(module.SyncByteStream):  # type: ignore[misc]
        """Yields the wrapped stream's chunks unchanged while the call observes them."""

        def __init__(self, inner: Any, call: Call) -> None:
            self._inner = inner
            self._call = call
            self._finalizer = weakref.finalize(self, _abandoned, call)

        def __iter__(self) -> Iterator[bytes]:
            call = self._call
            try:
                for chunk in self._inner:
                    call.on_body_bytes(chunk)
                    yield chunk
            except BaseException as exc:
                call_safely(call.on_body_error, exc)
                raise
            call_safely(call.on_eof)

        def close(self) -> None:
            try:
                self._inner.close()
            finally:
                call_safely(self._call.on_close)
                self._finalizer.detach()

    class ObservedAsyncStream(module.AsyncByteStream):  # type: ignore[misc]
        """Async twin of ``ObservedSyncStream``."""

        def __init__(self, inner: Any, call: Call) -> None:
            self._inner = inner
            self._call = call
            self._finalizer = weakref.finalize(self, _abandoned, call)

        async def __aiter__(self) -> AsyncIterator[bytes]:
            call = self._call
            try:
                async for chunk in self._inner:
                    call.on_body_bytes(chunk)
                    yield chunk
            except BaseException as exc:
                call_safely(call.on_body_error, exc)
                raise
            call_safely(call.on_eof)

        async def aclose(self) -> None:
            try:
                await self._inner.aclose()
            finally:
                call_safely(self._call.on_close)
                self._finalizer.detach()

    return ObservedSyncStream, ObservedAsyncStream


def _abandoned(call: Call) -> None:
    call_safely(call.on_close)
