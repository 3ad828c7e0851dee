"""Real SDK providers (spans exported by a batch processor to an exporter that drops them; metrics to an in-memory
reader) and one context manager per instrumentation, so variants can be switched on and off between rounds."""

from __future__ import annotations

import copy
import importlib
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

# Peers measured only here live outside .venv (see requirements/bench.txt); `make bench` installs them.
PEERS_DIR = Path(__file__).resolve().parent.parent / ".cache" / "bench-peers"


class DroppingExporter(SpanExporter):
    """Counts exported spans and drops them: export costs nothing, everything before it is real."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class Providers:
    def __init__(self) -> None:
        self._new_tracer_provider()
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        # Global too: the peers' helpers (util-genai, propagators) read the globals.
        trace.set_tracer_provider(self.tracer_provider)
        metrics.set_meter_provider(self.meter_provider)

    def own_tracer_provider(self) -> Providers:
        """The same meter provider with a tracer provider of its own (set up the same way, not global): for a variant
        that adds a span processor, which would otherwise stay and burden the other variants' spans too."""
        other = copy.copy(self)
        other._new_tracer_provider()
        return other

    def _new_tracer_provider(self) -> None:
        self.exporter = DroppingExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(BatchSpanProcessor(self.exporter))

    def spans_exported(self) -> int:
        self.tracer_provider.force_flush()
        return self.exporter.exported

    def metric_names(self) -> set[str]:
        data = self.reader.get_metrics_data()
        return {m.name for rm in (data.resource_metrics if data else []) for sm in rm.scope_metrics for m in sm.metrics}

    def kwargs(self) -> dict[str, Any]:
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}


SETTINGS_PREFIX = "OTEL_INSTRUMENTATION_HOLYSHEEP_"


@contextmanager
def settings_environment(env: Mapping[str, str], also_clear: Iterable[str] = ()) -> Iterator[None]:
    """Only ``env`` among our settings (and the ``also_clear`` variables) while it runs, so the defaults are really
    the defaults; the environment as it was afterwards."""
    names = {k for k in os.environ if k.startswith(SETTINGS_PREFIX)} | set(also_clear) | set(env)
    saved = {k: os.environ.get(k) for k in names}
    for k in names:
        os.environ.pop(k, None)
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _instrumented(instrumentor: Any, **kwargs: Any) -> Any:
    @contextmanager
    def on() -> Iterator[None]:
        instrumentor.instrument(**kwargs)
        try:
            yield
        finally:
            instrumentor.uninstrument()

    return on


def holysheep(p: Providers) -> Any:
    from otel_holysheep import HolySheepInstrumentor  # noqa: PLC0415

    return _instrumented(HolySheepInstrumentor(), **p.kwargs())


def generic_httpx(p: Providers, module_name: str) -> Any:
    from opentelemetry.instrumentation.httpx import (  # noqa: PLC0415
        HTTPX2ClientInstrumentor,
        HTTPXClientInstrumentor,
    )

    cls = HTTPXClientInstrumentor if module_name == "httpx" else HTTPX2ClientInstrumentor
    return _instrumented(cls(), **p.kwargs())


def generic_requests(p: Providers) -> Any:
    from opentelemetry.instrumentation.requests import RequestsInstrumentor  # noqa: PLC0415

    return _instrumented(RequestsInstrumentor(), **p.kwargs())


def generic_aiohttp(p: Providers) -> Any | None:
    """The generic aiohttp-client instrumentation (a peer, see requirements/bench.txt), or ``None`` if absent."""
    cls = _peer("opentelemetry.instrumentation.aiohttp_client", "AioHttpClientInstrumentor", "generic aiohttp-client")
    return _instrumented(cls(), **p.kwargs()) if cls is not None else None


def official_openai_class() -> Any | None:
    """The official OpenAI instrumentor class from the peers directory, or ``None`` (with a hint) when absent."""
    return _peer("opentelemetry.instrumentation.genai.openai", "OpenAIInstrumentor", "official OpenAI")


def _peer(module: str, name: str, what: str) -> Any | None:
    """``module.name`` from the peers directory (``make bench`` installs it there), or ``None`` with a hint."""
    if PEERS_DIR.is_dir() and str(PEERS_DIR) not in sys.path:
        sys.path.append(str(PEERS_DIR))
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        print(f"  ({what} instrumentation not available: {exc}; run `make bench` to install it)")
        return None


def official_openai(p: Providers) -> Any | None:
    """The official OpenAI instrumentation, or ``None`` when it is not installed (then that column is skipped)."""
    cls = official_openai_class()
    return None if cls is None else _instrumented(cls(), **p.kwargs())


def combined(*setups: Any) -> Any:
    @contextmanager
    def on() -> Iterator[None]:
        with ExitStack() as stack:
            for setup in setups:
                stack.enter_context(setup())
            yield

    return on
