"""HolySheepInstrumentor: build settings, tracer, meter, instruments; wrap and unwrap. Nothing else."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Collection, Iterable
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otel_holysheep._call import Flavor
from otel_holysheep._config import Settings
from otel_holysheep._hook import Hook
from otel_holysheep._instruments import create_telemetry
from otel_holysheep._pricing import load_price_book
from otel_holysheep._safety import call_safely
from otel_holysheep._stream import make_stream_types
from otel_holysheep.package import _instruments
from otel_holysheep.version import __version__

_logger = logging.getLogger("otel_holysheep")

_SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"
_MODULES = ("httpx", "httpx2")
_METHOD = "_send_single_request"

# The active hook, read by every wrapped call; None when uninstrumented (the wrappers then pass straight through).
_active: Hook | None = None


class HolySheepInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Measures every request to the HolySheep gateway made through httpx or httpx2 (sync and async).

    ``instrument(tracer_provider=None, meter_provider=None, base_urls=None, prices_file=None)``; every argument is
    optional and defaults to the global providers and the ``OTEL_INSTRUMENTATION_HOLYSHEEP_*`` environment.
    """

    _originals: dict[tuple[str, str], Any] = {}

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
        global _active
        base_urls = kwargs.get("base_urls")
        settings = Settings.from_env(os.environ, base_urls=list(base_urls) if base_urls is not None else None)
        prices_file = kwargs.get("prices_file")
        if prices_file is not None:
            settings = _replace(settings, prices_file=os.fspath(prices_file))
        tracer = trace.get_tracer("otel_holysheep", __version__, kwargs.get("tracer_provider"), schema_url=_SCHEMA_URL)
        meter = metrics.get_meter("otel_holysheep", __version__, kwargs.get("meter_provider"), schema_url=_SCHEMA_URL)
        hook = Hook(settings, tracer, create_telemetry(meter), load_price_book(settings.prices_file))
        for module_name in _MODULES:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            call_safely(self._wrap_module, module_name, module)
        _active = hook
        _logger.debug("otel-holysheep: measuring requests to %s", ", ".join(map(str, settings.base_urls)))

    def _wrap_module(self, name: str, module: Any) -> None:
        sync_stream, async_stream = make_stream_types(module)
        flavor = Flavor(
            name, (module.TimeoutException,), (module.ConnectError,), module.ByteStream, sync_stream, async_stream
        )
        for client_name, make in (("Client", _sync_wrapper), ("AsyncClient", _async_wrapper)):
            cls = getattr(module, client_name)
            original = cls.__dict__.get(_METHOD)
            if original is None:
                _logger.warning(
                    "otel-holysheep: %s.%s has no %s; its requests are not measured", name, client_name, _METHOD
                )
                continue
            if getattr(original, "__otel_holysheep_original__", None) is not None:
                continue  # already wrapped (a wrapper left behind by a foreign re-patch)
            wrapper = make(original, flavor)
            setattr(cls, _METHOD, wrapper)
            self._originals[(name, client_name)] = (cls, original, wrapper)

    def _uninstrument(self, **kwargs: Any) -> None:
        global _active
        _active = None
        for (name, client_name), (cls, original, wrapper) in list(self._originals.items()):
            if cls.__dict__.get(_METHOD) is wrapper:
                setattr(cls, _METHOD, original)
            else:  # someone patched over us: leave their wrapper; ours now passes straight through
                _logger.debug("otel-holysheep: %s.%s.%s was re-patched; leaving it", name, client_name, _METHOD)
            del self._originals[(name, client_name)]


def _replace(settings: Settings, **changes: Any) -> Settings:
    import dataclasses  # noqa: PLC0415

    return dataclasses.replace(settings, **changes)


def _sync_wrapper(original: Any, flavor: Flavor) -> Any:
    def _send_single_request(self: Any, request: Any) -> Any:
        hook = _active
        if hook is not None:
            base = call_safely(hook.route, request.url)
            if base is not None:
                return hook.send(flavor, original, self, request, base)
        return original(self, request)

    _send_single_request.__otel_holysheep_original__ = original  # type: ignore[attr-defined]
    _send_single_request.__wrapped__ = original  # type: ignore[attr-defined]
    return _send_single_request


def _async_wrapper(original: Any, flavor: Flavor) -> Any:
    async def _send_single_request(self: Any, request: Any) -> Any:
        hook = _active
        if hook is not None:
            base = call_safely(hook.route, request.url)
            if base is not None:
                return await hook.send_async(flavor, original, self, request, base)
        return await original(self, request)

    _send_single_request.__otel_holysheep_original__ = original  # type: ignore[attr-defined]
    _send_single_request.__wrapped__ = original  # type: ignore[attr-defined]
    return _send_single_request
