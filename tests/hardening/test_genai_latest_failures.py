"""Failure injection for the latest GenAI conventions' steps (``OTEL_SEMCONV_STABILITY_OPT_IN=
gen_ai_latest_experimental``): each raises in turn; the application sees exactly what it sees uninstrumented, the
failure is logged at DEBUG, the holysheep_* metrics are all still recorded and every span still ends."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from otel_holysheep import _genai
from otel_holysheep.simulator import GatewaySimulator
from tests.hardening.test_failure_injection import Injected, boom, workload
from tests.support import instrumented

STEPS = [
    pytest.param(_genai.LatestGenAI, "record", id="latest-metrics"),
    pytest.param(_genai.LatestGenAI, "span_attributes", id="latest-span-attributes"),
    pytest.param(_genai.UsageTally, "add", id="latest-usage-counters"),
]


@pytest.fixture(scope="module")
def expected(gateway: GatewaySimulator) -> list[Any]:
    return workload(gateway.base_url)


@pytest.mark.parametrize(("target", "name"), STEPS)
def test_a_failing_latest_form_step_is_invisible_to_the_app_and_costs_nothing_else(
    target: Any,
    name: str,
    expected: list[Any],
    gateway: GatewaySimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS", "true")
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    with instrumented(base_urls=[gateway.base_url]) as cap, caplog.at_level(logging.DEBUG, "otel_holysheep"):
        monkeypatch.setattr(target, name, boom)
        assert workload(gateway.base_url) == expected
        monkeypatch.undo()
        debug = [r for r in caplog.records if r.name == "otel_holysheep" and r.exc_info]
        assert any(isinstance(r.exc_info[1], Injected) for r in debug if r.exc_info)
        # what the latest form's steps come after or before is all there
        assert cap.value("holysheep.requests", model="gpt-4.1") == 3
        assert cap.value("holysheep.tokens", model="gpt-4.1", token_type="prompt") > 0
        assert cap.value("holysheep.cost.usd", model="gpt-4.1") > 0
        assert cap.count("holysheep.time_to_first_token", model="gpt-4.1") == 1
        assert cap.value("holysheep.active_requests") == 0
        spans = cap.spans()
        assert len(spans) == 3
        assert all(span.end_time is not None for span in spans)
        assert all("gen_ai.usage.input_tokens" in span.attributes for span in spans if span.status.is_ok)
