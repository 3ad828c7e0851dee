"""Shared fixtures. The gateway simulator runs on 127.0.0.1, port 0; nothing here reaches beyond loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel_holysheep._config import ENV_DETAIL_HISTOGRAMS
from otel_holysheep.simulator import GatewaySimulator
from tests.support import Captured, instrumented


@pytest.fixture(scope="session")
def gateway() -> Iterator[GatewaySimulator]:
    """One instant (no latency, no random errors) simulator for the whole run."""
    with GatewaySimulator() as sim:
        yield sim


@pytest.fixture
def captured(
    gateway: GatewaySimulator, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Captured]:
    """The instrumentor pointed at the simulator, with in-memory exporters (and the opt-in detail histograms for a
    test marked ``detail_histograms``)."""
    if request.node.get_closest_marker("detail_histograms") is not None:
        monkeypatch.setenv(ENV_DETAIL_HISTOGRAMS, "true")
    with instrumented(base_urls=[gateway.base_url]) as cap:
        yield cap
