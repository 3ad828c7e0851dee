"""Who owns what: one :class:`Session` per ``instrument()`` ... ``uninstrument()``, and the per-provider registries.

A session holds everything that used to be module or class state: the hook every wrapper reads, the wrapped methods
and their originals, the server-span processor in use, the aiohttp calls in flight, the urllib3 response types
observed. ``instrument()`` creates it and switches ``ACTIVE`` to it; ``uninstrument()`` switches ``ACTIVE`` off first
(every wrapper passes straight through from then on) and tears the session down. Requests still in flight keep
their own session's objects and finish there.

What a provider has been given cannot be taken back: an observable instrument's callback, a span processor. Those
are remembered per provider (``_registry.PerProvider``, weak keys) for the life of the process, so that an instrument()
after an uninstrument() with the same providers continues the same series instead of registering twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel_holysheep._attribution import ServerSpans
    from otel_holysheep._hook import Hook


class Session:
    """What one instrumentation session owns (see the module docstring)."""

    __slots__ = ("aiohttp_calls", "hook", "observed_types", "originals", "server_spans")

    def __init__(self, hook: Hook, server_spans: ServerSpans | None = None) -> None:
        self.hook = hook
        self.server_spans = server_spans
        # (library, class name, method name) -> (class, original, wrapper)
        self.originals: dict[tuple[str, str, str], tuple[type, Any, Any]] = {}
        # id(observed aiohttp StreamReader) -> its call (a StreamReader has __slots__: the call cannot live on it)
        self.aiohttp_calls: dict[int, Any] = {}
        # urllib3 response type -> its observed subclass
        self.observed_types: dict[type, type] = {}

    def close(self) -> None:
        """Switch off what the providers keep (the server-span processor forgets its spans)."""
        server_spans, self.server_spans = self.server_spans, None
        if server_spans is not None:
            server_spans.enabled = False
            server_spans.shutdown()


class Active:
    """The switch every wrapper reads: the session's hook, or ``None`` when uninstrumented (pass straight through)."""

    __slots__ = ("hook", "session")

    def __init__(self) -> None:
        self.hook: Hook | None = None
        self.session: Session | None = None

    def start(self, session: Session) -> None:
        self.session = session
        self.hook = session.hook

    def stop(self) -> Session | None:
        """Switch off; the session that was active, for its teardown."""
        session, self.session, self.hook = self.session, None, None
        return session


ACTIVE = Active()
