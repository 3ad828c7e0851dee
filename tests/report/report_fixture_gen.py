"""Writes tests/report/fixtures/metrics.txt: the exact text the OpenTelemetry Prometheus exporter serves for known data.

Real OTel SDK MeterProvider + PrometheusMetricReader on a fresh CollectorRegistry, rendered by
prometheus_client.generate_latest. ``EXPECTED`` holds the report numbers worked out by hand from the values fed in.

Regenerate: .venv/bin/python tests/report/report_fixture_gen.py
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).parent / "fixtures" / "metrics.txt"
SCOPE_VERSION = "0.1.0"  # fixed, so a version bump does not change the fixture
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)

# (model, endpoint, status, duration seconds, how many)
REQUESTS: tuple[tuple[str, str, str, float, int], ...] = (
    ("gpt-4.1", "chat.completions", "success", 0.8, 30),
    ("gpt-4.1", "chat.completions", "success", 1.5, 8),
    ("gpt-4.1", "chat.completions", "failure", 6.0, 1),
    ("gpt-4.1", "chat.completions", "timeout", 30.0, 1),
    ("gpt-4.1", "responses", "success", 0.4, 10),
    ("deepseek-v3", "chat.completions", "success", 2.5, 20),
    ("deepseek-v3", "chat.completions", "success", 8.0, 10),
    ("my-finetune", "chat.completions", "success", 0.2, 4),
    ("my-finetune", "chat.completions", "error", 0.2, 1),
    ("mystery", "chat.completions", "success", 200.0, 2),
)
# (model, time to first token, how many): streams only
TTFT: tuple[tuple[str, float, int], ...] = (("gpt-4.1", 0.3, 10), ("gpt-4.1", 0.7, 8), ("gpt-4.1", 1.5, 2))
# model -> (adds, prompt per add, completion per add, cached per add, reasoning per add, usd per add or None, unpriced)
USAGE: dict[str, tuple[int, int, int, int, int, float | None, int]] = {
    "gpt-4.1": (48, 2500, 625, 400, 100, 0.01, 0),
    "deepseek-v3": (30, 2000, 666, 0, 0, 0.00152, 0),
    "my-finetune": (4, 250, 125, 0, 0, 0.0, 375),
    "mystery": (2, 150, 50, 0, 0, None, 0),
}

# Worked out by hand (see the bucket arithmetic in test_report_fixture.py).
EXPECTED = {
    # model: requests, success %, avg s, p95 s, p95 ttft s, tokens in, tokens out, cost, usd/1M, tokens/usd
    "gpt-4.1": (50, 96.0, 76 / 50, 1.9375, 1.5, 120000, 30000, 0.48, 3.2, 312500.0),
    "deepseek-v3": (30, 100.0, 130 / 30, 9.25, None, 60000, 19980, 0.0456, 0.0456 / 79980 * 1e6, 79980 / 0.0456),
    "my-finetune": (5, 80.0, 0.2, 0.2425, None, 1000, 500, None, None, None),
    "mystery": (2, 100.0, 200.0, 120.0, None, 300, 100, None, None, None),
    "TOTAL": (
        87,
        84 / 87 * 100,
        607 / 87,
        5 + 5 * 9.65 / 11,
        1.5,
        181300,
        50580,
        0.5256,
        0.5256 / 229980 * 1e6,
        229980 / 0.5256,
    ),
}


def generate_exposition(openmetrics: bool = False) -> str:
    """The fixture data as the exporter's page: Prometheus text format, or OpenMetrics if asked for."""
    from prometheus_client import generate_latest
    from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

    with _fixture_meter() as (meter, registry):
        requests = meter.create_counter("holysheep.requests", unit="{request}")
        duration = meter.create_histogram(
            "holysheep.request.duration", unit="s", explicit_bucket_boundaries_advisory=DURATION_BUCKETS
        )
        ttft = meter.create_histogram(
            "holysheep.time_to_first_token", unit="s", explicit_bucket_boundaries_advisory=TTFT_BUCKETS
        )
        tokens = meter.create_counter("holysheep.tokens", unit="{token}")
        cost = meter.create_counter("holysheep.cost.usd", unit="{USD}")
        unpriced = meter.create_counter("holysheep.unpriced_tokens", unit="{token}")
        errors = meter.create_counter("holysheep.errors", unit="{error}")
        active = meter.create_up_down_counter("holysheep.active_requests", unit="{request}")
        outcomes = meter.create_counter("holysheep.stream_outcomes", unit="{stream}")

        error_types = {"failure": "http_500", "timeout": "timeout", "error": "exception"}
        for model, endpoint, status, seconds, count in REQUESTS:
            for _ in range(count):
                active.add(1, {"model": model})
                requests.add(1, {"model": model, "endpoint": endpoint, "status": status})
                duration.record(seconds, {"model": model, "endpoint": endpoint})
                if status in error_types:
                    errors.add(1, {"model": model, "error_type": error_types[status]})
                active.add(-1, {"model": model})
        for model, seconds, count in TTFT:
            for _ in range(count):
                ttft.record(seconds, {"model": model})
                outcomes.add(1, {"model": model, "outcome": "completed"})
        for model, (adds, prompt, completion, cached, reasoning, usd, unpriced_n) in USAGE.items():
            for _ in range(adds):
                tokens.add(prompt, {"model": model, "token_type": "prompt"})
                tokens.add(completion, {"model": model, "token_type": "completion"})
                if cached:
                    tokens.add(cached, {"model": model, "token_type": "cached"})
                if reasoning:
                    tokens.add(reasoning, {"model": model, "token_type": "reasoning"})
                if usd is not None:
                    cost.add(usd, {"model": model})
                if unpriced_n:
                    unpriced.add(unpriced_n, {"model": model})
        return (generate_openmetrics if openmetrics else generate_latest)(registry).decode()


@contextmanager
def _fixture_meter() -> Iterator[tuple[Any, Any]]:
    """(meter, registry): a real MeterProvider read by the Prometheus exporter's reader into a fresh registry."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    reader = PrometheusMetricReader(registry=registry)
    resource = Resource.create({"service.name": "chatbot", "service.instance.id": "fixture"})
    provider = MeterProvider(metric_readers=[reader], resource=resource)
    try:
        yield provider.get_meter("otel_holysheep", SCOPE_VERSION), registry
    finally:
        provider.shutdown()


# --- attributed counters (OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION=route,baggage.team) ----------------------------
ATTRIBUTED_FIXTURE = Path(__file__).parent / "fixtures" / "metrics-attributed.txt"
# (model, route, team, successes, failures, prompt per success, completion per success, usd per success or None)
ATTRIBUTED: tuple[tuple[str, str, str, int, int, int, int, float | None], ...] = (
    ("gpt-4.1", "/chat/{thread_id}", "search", 20, 2, 1000, 200, 0.0036),
    ("gpt-4.1", "/summarize", "", 10, 0, 500, 100, 0.0018),
    ("deepseek-v3.2", "/summarize", "ads", 30, 0, 2000, 500, 0.00077),
    ("deepseek-v3.2", "", "", 5, 0, 100, 100, 0.00007),  # a batch job: no server span, no baggage
    ("my-finetune", "/chat/{thread_id}", "search", 4, 0, 250, 125, None),
)
# Worked out by hand from ATTRIBUTED: requests, success %, tokens in, tokens out, cost (None: n/a)
EXPECTED_BY_ROUTE = {
    "/summarize": (40, 100.0, 65000, 16000, 10 * 0.0018 + 30 * 0.00077),
    "/chat/{thread_id}": (26, 24 / 26 * 100, 21000, 4500, 20 * 0.0036),
    "(none)": (5, 100.0, 500, 500, 5 * 0.00007),
    "TOTAL": (71, 69 / 71 * 100, 86500, 21000, 20 * 0.0036 + 10 * 0.0018 + 30 * 0.00077 + 5 * 0.00007),
}
EXPECTED_BY_TEAM = {
    "ads": (30, 100.0, 60000, 15000, 30 * 0.00077),
    "search": (26, 24 / 26 * 100, 21000, 4500, 20 * 0.0036),
    "(none)": (15, 100.0, 5500, 1500, 10 * 0.0018 + 5 * 0.00007),
}


def generate_attributed_exposition() -> str:
    """ATTRIBUTED as the exporter's page: the four counters with route and team, histograms per model only."""
    from prometheus_client import generate_latest

    with _fixture_meter() as (meter, registry):
        requests = meter.create_counter("holysheep.requests", unit="{request}")
        errors = meter.create_counter("holysheep.errors", unit="{error}")
        tokens = meter.create_counter("holysheep.tokens", unit="{token}")
        cost = meter.create_counter("holysheep.cost.usd", unit="{USD}")
        unpriced = meter.create_counter("holysheep.unpriced_tokens", unit="{token}")
        duration = meter.create_histogram(
            "holysheep.request.duration", unit="s", explicit_bucket_boundaries_advisory=DURATION_BUCKETS
        )
        for model, route, team, successes, failures, prompt, completion, usd in ATTRIBUTED:
            who = {"route": route, "team": team}
            for status, count in (("success", successes), ("failure", failures)):
                for _ in range(count):
                    requests.add(1, {"model": model, "endpoint": "chat/completions", "status": status, **who})
                    duration.record(1.0, {"model": model, "endpoint": "chat/completions"})
                    if status == "failure":
                        errors.add(1, {"model": model, "error_type": "http_500", **who})
            for _ in range(successes):
                tokens.add(prompt, {"model": model, "token_type": "prompt", **who})
                tokens.add(completion, {"model": model, "token_type": "completion", **who})
                if usd is not None:
                    cost.add(usd, {"model": model, **who})
                else:
                    unpriced.add(prompt + completion, {"model": model})
        return generate_latest(registry).decode()


# --- the what-if fixture: the demo's four models, cached input, and finish reasons ---------------------------------
WHATIF_FIXTURE = Path(__file__).parent / "fixtures" / "metrics-whatif.txt"
# (model, successes, failures, duration s, ttft s or None, prompt, completion, cached per success,
#  finishes (stop, length) or None: no finish-reason series for that model)
WHATIF: tuple[tuple[str, int, int, float, float | None, int, int, int, tuple[int, int] | None], ...] = (
    ("gpt-4.1", 40, 0, 1.5, 0.7, 1000, 300, 200, (38, 2)),
    ("claude-sonnet-4", 20, 0, 3.0, 1.5, 800, 400, 0, (20, 0)),
    ("gemini-2.5-flash", 30, 2, 0.4, 0.2, 600, 200, 100, (27, 3)),
    ("deepseek-v3.2", 25, 0, 1.8, None, 500, 100, 0, None),
)
# Worked out by hand from WHATIF and the bucket bounds (P95 = lower + width * 0.95 inside the one bucket used):
# model: (P95 latency, P95 TTFT, success %, truncation %)
EXPECTED_OBSERVED = {
    "gpt-4.1": (1.95, 0.975, 100.0, 5.0),
    "claude-sonnet-4": (4.85, 1.95, 100.0, 0.0),
    "gemini-2.5-flash": (0.4875, 0.2425, 30 / 32 * 100, 10.0),
    "deepseek-v3.2": (1.95, None, 100.0, None),
}


def generate_whatif_exposition(*, finishes: bool = True) -> str:
    """WHATIF as the exporter's page; costs priced by the built-in price book as the instrumentation prices them.
    ``holysheep.finishes`` (a later issue's counter) is written only when ``finishes``."""
    from prometheus_client import generate_latest

    from otel_holysheep._pricing import PriceBook

    book = PriceBook.default()
    with _fixture_meter() as (meter, registry):
        requests = meter.create_counter("holysheep.requests", unit="{request}")
        errors = meter.create_counter("holysheep.errors", unit="{error}")
        duration = meter.create_histogram(
            "holysheep.request.duration", unit="s", explicit_bucket_boundaries_advisory=DURATION_BUCKETS
        )
        ttft = meter.create_histogram(
            "holysheep.time_to_first_token", unit="s", explicit_bucket_boundaries_advisory=TTFT_BUCKETS
        )
        tokens = meter.create_counter("holysheep.tokens", unit="{token}")
        cost = meter.create_counter("holysheep.cost.usd", unit="{USD}")
        finish = meter.create_counter("holysheep.finishes", unit="{completion}")
        for model, ok, failed, seconds, first, prompt, completion, cached, reasons in WHATIF:
            price = book.lookup(model)
            assert price is not None
            endpoint = {"model": model, "endpoint": "chat/completions"}
            for status, count in (("success", ok), ("failure", failed)):
                for _ in range(count):
                    requests.add(1, {**endpoint, "status": status})
                    duration.record(seconds, endpoint)
                    if status == "failure":
                        errors.add(1, {"model": model, "error_type": "http_500"})
                        continue
                    if first is not None:
                        ttft.record(first, {"model": model})
                    tokens.add(prompt, {"model": model, "token_type": "prompt"})
                    tokens.add(completion, {"model": model, "token_type": "completion"})
                    if cached:
                        tokens.add(cached, {"model": model, "token_type": "cached"})
                    cost.add(book.cost(price[1], prompt, completion, cached).usd, {"model": model})
            if finishes and reasons is not None:
                for reason, count in zip(("stop", "length"), reasons, strict=True):
                    if count:
                        finish.add(count, {"model": model, "finish_reason": reason})
        return generate_latest(registry).decode()


if __name__ == "__main__":
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(generate_exposition())
    ATTRIBUTED_FIXTURE.write_text(generate_attributed_exposition())
    WHATIF_FIXTURE.write_text(generate_whatif_exposition())
    print(f"wrote {FIXTURE}, {ATTRIBUTED_FIXTURE} and {WHATIF_FIXTURE}")
