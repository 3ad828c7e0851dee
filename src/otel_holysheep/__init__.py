"""otel-holysheep: zero-code OpenTelemetry metrics and GenAI spans for every call to the HolySheep AI gateway.

Auto-instrumentation (no code change)::

    pip install "otel-holysheep[prometheus]"
    OTEL_METRICS_EXPORTER=prometheus OTEL_TRACES_EXPORTER=none OTEL_LOGS_EXPORTER=none \\
        opentelemetry-instrument python app.py      # /metrics on :9464

Programmatic::

    from otel_holysheep import HolySheepInstrumentor
    HolySheepInstrumentor().instrument(meter_provider=..., tracer_provider=..., base_urls=["https://api.holysheep.ai/v1"])
    ...
    HolySheepInstrumentor().uninstrument()

Every request made through httpx, httpx2 (hence the openai SDK 2.x and 3.x, either of its HTTP clients), requests or
aiohttp whose URL starts with a configured base URL gets a CLIENT span and the ``holysheep_*`` metrics listed in the
README, counted once even when one library runs over another; everything else passes through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_holysheep.version import __version__

if TYPE_CHECKING:
    from otel_holysheep._instrumentor import HolySheepInstrumentor

__all__ = ["HolySheepInstrumentor", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so the simulator and report tools start without importing OpenTelemetry.
    if name == "HolySheepInstrumentor":
        from otel_holysheep._instrumentor import HolySheepInstrumentor  # noqa: PLC0415

        return HolySheepInstrumentor
    raise AttributeError(f"module 'otel_holysheep' has no attribute {name!r}")
