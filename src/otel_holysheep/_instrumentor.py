"""HolySheepInstrumentor: build settings, tracer, meter, instruments; wrap and unwrap. Nothing else."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Collection, Iterable
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otel_holysheep._attribution import Attribution, ServerSpans, server_spans_for
from otel_holysheep._config import ATTRIBUTION_ROUTE, Settings
from otel_holysheep._genai import create_latest_genai
from otel_holysheep._hook import Hook
from otel_holysheep._instruments import create_telemetry
from otel_holysheep._pricing import load_price_book
from otel_holysheep._safety import call_safely
from otel_holysheep._semconv import LATEST, V1_41
from otel_holysheep._state import ACTIVE, Session
from otel_holysheep.package import _instruments
from otel_holysheep.version import __version__

_logger = logging.getLogger("otel_holysheep")

_SCHEMA_URL = V1_41.schema_url  # the default; the latest GenAI conventions' form declares LATEST.schema_url
# Client library -> its adapter module. A library that is not installed is skipped; any one of them is enough.
_ADAPTERS = {
    "httpx": "otel_holysheep._httpx",
    "httpx2": "otel_holysheep._httpx",
    "requests": "otel_holysheep._requests",
    "aiohttp": "otel_holysheep._aiohttp",
}


class HolySheepInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Measures every request to the HolySheep gateway made through httpx, httpx2, requests or aiohttp.

    ``instrument(tracer_provider=None, meter_provider=None, base_urls=None, prices_file=None)``; every argument is
    optional and defaults to the global providers and the ``OTEL_INSTRUMENTATION_HOLYSHEEP_*`` environment. What
    one instrumentation owns is a ``_state.Session``, created here and torn down by ``uninstrument()``.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        base_urls = kwargs.get("base_urls")
        if base_urls is not None and (isinstance(base_urls, (str, bytes)) or not isinstance(base_urls, Iterable)):
            raise TypeError("base_urls must be a list of URL strings, e.g. ['https://api.holysheep.ai/v1']")
        prices_file = kwargs.get("prices_file")
        if prices_file is not None and not isinstance(prices_file, (str, os.PathLike)):
            raise TypeError("prices_file must be a path")
        # Past argument checks nothing may raise: under opentelemetry-instrument it would stop other instrumentors.
        call_safely(self._install, kwargs)

    def _install(self, kwargs: dict[str, Any]) -> None:
        previous = ACTIVE.stop()  # an instrument() without uninstrument() (BaseInstrumentor refuses it): replaced
        if previous is not None:
            _teardown(previous)
        base_urls = kwargs.get("base_urls")
        settings = Settings.from_env(os.environ, base_urls=list(base_urls) if base_urls is not None else None)
        prices_file = kwargs.get("prices_file")
        if prices_file is not None:
            settings = _replace(settings, prices_file=os.fspath(prices_file))
        # The GenAI conventions' form is decided here, once: the schema URL says which one the telemetry follows.
        latest = settings.genai_form_latest
        schema_url = LATEST.schema_url if latest else _SCHEMA_URL
        tracer = trace.get_tracer("otel_holysheep", __version__, kwargs.get("tracer_provider"), schema_url=schema_url)
        meter = metrics.get_meter("otel_holysheep", __version__, kwargs.get("meter_provider"), schema_url=schema_url)
        server_spans = _server_spans(settings, kwargs.get("tracer_provider"))
        attribution = (
            Attribution(settings.attribution, settings.max_attribution_values, server_spans)
            if settings.attribution
            else None
        )
        labels = attribution.labels if attribution is not None else ()
        telemetry = create_telemetry(meter, labels)
        genai = create_latest_genai(meter) if latest else None
        hook = Hook(settings, tracer, telemetry, load_price_book(settings.prices_file), attribution, genai)
        session = Session(hook, server_spans)
        for library, adapter in _ADAPTERS.items():
            try:
                module = importlib.import_module(library)
            except ImportError:
                continue
            call_safely(_wrap_library, session, library, module, adapter)
        ACTIVE.start(session)
        _logger.debug("otel-holysheep: measuring requests to %s", ", ".join(map(str, settings.base_urls)))

    def _uninstrument(self, **kwargs: Any) -> None:
        session = ACTIVE.stop()  # first: every wrapper passes straight through from here on
        if session is not None:
            _teardown(session)


def _server_spans(settings: Settings, tracer_provider: Any) -> ServerSpans | None:
    """The processor following server spans, when a route is among the attribution labels: routes under a child
    span need the server span's descendants followed from their start."""
    if not any(source.source == ATTRIBUTION_ROUTE for source in settings.attribution):
        return None
    return server_spans_for(tracer_provider or trace.get_tracer_provider())


def _wrap_library(session: Session, library: str, module: Any, adapter: str) -> None:
    for cls, method, make in importlib.import_module(adapter).targets(module, session):
        original = cls.__dict__.get(method)
        if original is None:
            _logger.warning(
                "otel-holysheep: %s.%s has no %s; its requests are not measured", library, cls.__name__, method
            )
            continue
        if getattr(original, "__otel_holysheep_original__", None) is not None:
            continue  # already wrapped (a wrapper left behind by a foreign re-patch)
        wrapper = make(original)
        wrapper.__otel_holysheep_original__ = original
        wrapper.__wrapped__ = original
        setattr(cls, method, wrapper)
        session.originals[(library, cls.__name__, method)] = (cls, original, wrapper)


def _teardown(session: Session) -> None:
    """Unwrap what ``session`` wrapped and switch off what the providers keep."""
    session.close()
    for key, (cls, original, wrapper) in list(session.originals.items()):
        method = key[2]
        if cls.__dict__.get(method) is wrapper:
            setattr(cls, method, original)
        else:  # someone patched over us: leave their wrapper; ours now passes straight through
            _logger.debug("otel-holysheep: %s.%s.%s was re-patched; leaving it", *key)
        del session.originals[key]


def _replace(settings: Settings, **changes: Any) -> Settings:
    import dataclasses  # noqa: PLC0415

    return dataclasses.replace(settings, **changes)
