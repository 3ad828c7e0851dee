"""Fixtures for the gateway simulator tests: one instant simulator per test, on loopback port 0."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel_holysheep.simulator import GatewaySimulator


@pytest.fixture
def sim() -> Iterator[GatewaySimulator]:
    with GatewaySimulator() as simulator:
        yield simulator
