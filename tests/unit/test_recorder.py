"""``_recorder.Recorder``: one outcome in, the metrics and the span attributes out (exact values and label sets);
``_headers``: what the response headers say."""

from __future__ import annotations

from typing import Any, Final

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_holysheep import _attributes as a
from otel_holysheep._attributes import model_labels
from otel_holysheep._config import BaseUrl, Settings
from otel_holysheep._instruments import Telemetry
from otel_holysheep._parsing import Usage
from otel_holysheep._parsing.headers import RateLimit, parse_response_headers, response_headers
from otel_holysheep._pricing import load_price_book
from otel_holysheep._recorder import Attempt, Outcome, Recorder

BASE = BaseUrl("https", "gw.example", 443, "/v1")


class Setup:
    def __init__(self, **env: str) -> None:
        self.reader = InMemoryMetricReader()
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = provider.get_tracer("t")
        settings = Settings.from_env(env)
        telemetry = Telemetry(MeterProvider(metric_readers=[self.reader]).get_meter("m"))
        self.recorder = Recorder(settings, telemetry, load_price_book(None), model_labels(10))

    def attempt(self, model: str = "gpt-4.1") -> Attempt:
        return Attempt(self.tracer.start_span("chat"), 10.0, model, "chat/completions", "chat", BASE)

    def points(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        data = self.reader.get_metrics_data()
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for p in metric.data.data_points:
                        value = getattr(p, "value", None)
                        found.setdefault(metric.name, []).append(
                            (dict(p.attributes or {}), value if value is not None else (p.count, p.sum))
                        )
        return found


def outcome(**changes: Any) -> Outcome:
    base = Outcome(
        "success", None, None, 200, 12.5, 11.0, None, False, Usage(1000, 100, 200), "gpt-4.1", "r1", ("stop",), None, 0
    )
    return base._replace(**changes)


def test_a_success_with_usage() -> None:
    s = Setup()
    s.recorder.finished(s.attempt(), outcome())
    points = s.points()
    request = {"model": "gpt-4.1", "endpoint": "chat/completions", "status": "success"}
    assert points["holysheep.requests"] == [(request, 1)]
    assert points["holysheep.request.duration"] == [({"model": "gpt-4.1", "endpoint": "chat/completions"}, (1, 2.5))]
    assert "holysheep.time_to_headers" not in points  # not a stream, not configured for all
    assert sorted((p[0]["token_type"], p[1]) for p in points["holysheep.tokens"]) == [
        ("cached", 200),
        ("completion", 100),
        ("prompt", 1000),
    ]
    # gpt-4.1: 800 uncached input at 2.00, 200 cached at 0.50, 100 output at 8.00 per 1M tokens
    ((labels, cost),) = points["holysheep.cost.usd"]
    assert labels == {"model": "gpt-4.1"} and cost == pytest.approx((800 * 2.0 + 200 * 0.5 + 100 * 8.0) / 1e6)
    assert points["holysheep.active_requests"] == [({"model": "gpt-4.1"}, -1)]  # Hook.begin adds the +1
    assert "gen_ai.client.operation.duration" not in points  # off by default
    (span,) = s.exporter.get_finished_spans()
    assert span.attributes is not None
    assert dict(span.attributes) == {
        "http.response.status_code": 200,
        "gen_ai.response.id": "r1",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.response.model": "gpt-4.1",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 100,
        "gen_ai.usage.cache_read.input_tokens": 200,
        "holysheep.cost.usd": cost,
    }


def test_a_failed_stream() -> None:
    s = Setup(
        OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS="true", OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS="true"
    )
    s.recorder.finished(
        s.attempt(),
        outcome(
            status="error",
            error="stream_interrupted",
            stream_outcome="interrupted",
            sse=True,
            usage=None,
            first_token_at=11.5,
            content_chunks=3,
        ),
    )
    points = s.points()
    assert points["holysheep.errors"] == [({"model": "gpt-4.1", "error_type": "stream_interrupted"}, 1)]
    assert points["holysheep.stream_outcomes"] == [({"model": "gpt-4.1", "outcome": "interrupted"}, 1)]
    assert points["holysheep.time_to_headers"] == [({"model": "gpt-4.1", "endpoint": "chat/completions"}, (1, 1.0))]
    assert points["holysheep.time_to_first_token"] == [({"model": "gpt-4.1"}, (1, 1.5))]
    assert "holysheep.usage_missing" not in points  # a failure is not a response without usage
    genai = points["gen_ai.client.operation.duration"][0][0]
    assert genai["error.type"] == "stream_interrupted" and genai["gen_ai.response.model"] == "gpt-4.1"
    assert points["gen_ai.client.operation.time_per_output_chunk"][0][1] == (1, 0.5)  # (12.5 - 11.5) / 2
    (span,) = s.exporter.get_finished_spans()
    assert span.status.description == "stream_interrupted"
    assert span.attributes is not None and span.attributes["holysheep.stream.outcome"] == "interrupted"


def test_success_without_usage_and_unpriced_models() -> None:
    s = Setup()
    s.recorder.finished(s.attempt(), outcome(usage=None))
    s.recorder.finished(s.attempt("house-model"), outcome(response_model=None, usage=Usage(10, 5)))
    points = s.points()
    assert points["holysheep.usage_missing"] == [({"model": "gpt-4.1"}, 1)]
    assert points["holysheep.unpriced_tokens"] == [({"model": "house-model"}, 15)]


@pytest.mark.parametrize("detail", [False, True])
def test_headers_record_rate_limits_and_the_advised_wait(detail: bool) -> None:
    s = Setup(OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS=str(detail).lower())
    attempt = s.attempt()
    wanted = response_headers(
        [
            (b"x-ratelimit-remaining-requests", b"99"),
            (b"x-ratelimit-limit-tokens", b"1000"),
            (b"retry-after", b"2"),
            (b"x-other", b"ignored"),
        ]
    )
    s.recorder.headers(attempt, parse_response_headers(429, wanted))
    points = s.points()
    assert points["holysheep.ratelimit.remaining"] == [({"model": "gpt-4.1", "kind": "requests"}, 99)]
    assert points["holysheep.ratelimit.limit"] == [({"model": "gpt-4.1", "kind": "tokens"}, 1000)]
    if detail:
        assert points["holysheep.retry_after"] == [({"model": "gpt-4.1"}, (1, 2.0))]
    else:  # an opt-in detail histogram: never recorded, no series
        assert "holysheep.retry_after" not in points


DETAIL: Final = ("holysheep.time_to_headers", "holysheep.output_tokens", "holysheep.retry_after")


@pytest.mark.parametrize(
    ("env", "recorded"),
    [
        ({}, {}),
        ({"OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS": "false"}, {}),
        (
            {"OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS": "true"},
            {"holysheep.time_to_headers": 1, "holysheep.output_tokens": 1, "holysheep.retry_after": 1},
        ),
        # asked for explicitly: time to headers without the other two; "all" adds the JSON response's
        ({"OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS": "streams"}, {"holysheep.time_to_headers": 1}),
        ({"OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS": "all"}, {"holysheep.time_to_headers": 2}),
        (
            {
                "OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS": "true",
                "OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS": "all",
            },
            {"holysheep.time_to_headers": 2, "holysheep.output_tokens": 1, "holysheep.retry_after": 1},
        ),
        ({"OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS": "maybe"}, {}),  # warns, falls back to off
    ],
)
def test_detail_histograms_are_opt_in(env: dict[str, str], recorded: dict[str, int]) -> None:
    s = Setup(**env)
    s.recorder.finished(s.attempt(), outcome())  # a JSON response
    stream = outcome(sse=True, stream_outcome="completed", first_token_at=11.5)
    s.recorder.finished(s.attempt(), stream)  # a stream with usage
    s.recorder.headers(s.attempt(), parse_response_headers(429, response_headers([(b"retry-after", b"2")])))
    points = s.points()
    assert {name: points[name][0][1][0] for name in DETAIL if name in points} == recorded
    # what the defaults keep: the duration and time-to-first-token ladders
    assert points["holysheep.request.duration"][0][1][0] == 2
    assert points["holysheep.time_to_first_token"][0][1][0] == 1


@pytest.mark.parametrize(
    ("status", "headers", "limits", "wait"),
    [
        (200, {"x-ratelimit-remaining-tokens": "5"}, (RateLimit("tokens", 5.0, None),), None),
        (200, {"retry-after": "3"}, (), None),  # only on 429 / 503
        (503, {"retry-after-ms": "250"}, (), 0.25),
        (429, {"retry-after": "-1", "x-ratelimit-limit-requests": "inf"}, (), None),
        (429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, (), 0.0),  # a date in the past: no wait
        (429, {"retry-after": "999999"}, (), None),  # over a day: not sane
    ],
)
def test_parse_response_headers(
    status: int, headers: dict[str, str], limits: tuple[RateLimit, ...], wait: float | None
) -> None:
    parsed = parse_response_headers(status, headers)
    assert (parsed.rate_limits, parsed.retry_after) == (limits, wait)


def test_response_headers_joins_repeats_and_skips_the_rest() -> None:
    items = [(b"content-type", b"text/event-stream"), (b"retry-after", b"1"), (b"retry-after", b"2"), (b"x", b"y")]
    assert response_headers(items) == {"content-type": "text/event-stream", "retry-after": "1, 2"}


@pytest.mark.parametrize(
    ("raw", "label"),
    [("stop", "stop"), ("length", "length"), ("content_filter", "content_filter"), ("tool_calls", "tool_calls"),
     ("function_call", "function_call"), ("completed", "stop"), ("incomplete", "other"), ("end_turn", "other"),
     ("Stop", "other"), ("x" * 40, "other")],
)  # fmt: skip
def test_finish_reason_labels_are_a_closed_set(raw: str, label: str) -> None:
    assert a.finish_reason(raw) == label
    assert a.finish_reason(raw) in a.FINISH_REASONS


def test_a_substitution_is_counted_and_priced_by_the_served_model() -> None:
    s = Setup()
    served = outcome(response_model="claude-sonnet-4-20250514", usage=Usage(1000, 100))
    s.recorder.finished(s.attempt("gpt-4.1"), served)
    s.recorder.finished(s.attempt("gpt-4.1"), served)
    s.recorder.finished(s.attempt("gpt-4.1"), outcome(response_model="gpt-4.1-2025-04-14"))  # a snapshot: same model
    s.recorder.finished(s.attempt("claude-4-sonnet"), outcome(response_model="claude-sonnet-4"))  # an alias
    s.recorder.finished(s.attempt(a.UNKNOWN_MODEL), outcome(response_model="gpt-4.1"))  # nothing was requested
    points = s.points()
    assert points["holysheep.model_substitutions"] == [
        ({"model": "gpt-4.1", "served_model": "claude-sonnet-4-20250514"}, 2)
    ]
    costs = {labels["model"]: value for labels, value in points["holysheep.cost.usd"]}
    # two calls at claude-sonnet-4's prices (3.00 in, 15.00 out), one at gpt-4.1's (800 + 200 cached, 100 out)
    assert costs["gpt-4.1"] == pytest.approx(2 * (1000 * 3.0 + 100 * 15.0) / 1e6 + (800 * 2.0 + 200 * 0.5 + 800) / 1e6)


def test_a_substitute_without_a_price_is_unpriced_not_priced_as_the_request() -> None:
    s = Setup()
    s.recorder.finished(s.attempt("gpt-4.1"), outcome(response_model="house-fallback", usage=Usage(10, 5)))
    s.recorder.finished(s.attempt("gpt-4.1"), outcome(response_model="GPT-4.1-Custom-2026", usage=Usage(1, 1)))
    points = s.points()
    assert points["holysheep.unpriced_tokens"] == [({"model": "gpt-4.1"}, 17)]
    assert "holysheep.cost.usd" not in points
    assert sorted(p[0]["served_model"] for p in points["holysheep.model_substitutions"]) == [
        "GPT-4.1-Custom-2026",
        "house-fallback",
    ]


def test_served_model_labels_share_the_model_cap() -> None:
    s = Setup()
    s.recorder.models = model_labels(1)
    s.recorder.finished(s.attempt("gpt-4.1"), outcome(response_model="fallback-a", usage=None))
    s.recorder.finished(s.attempt("gpt-4.1"), outcome(response_model="fallback-b", usage=None))
    s.recorder.finished(s.attempt("gpt-4.1"), outcome(response_model="x" * 80, usage=None))
    assert sorted((p[0]["served_model"], p[1]) for p in s.points()["holysheep.model_substitutions"]) == [
        ("fallback-a", 1),
        ("other", 2),  # over the cap of 1 (the unit calls admit no request model), and a name too long
    ]


def test_cache_writes_and_the_gateway_cost() -> None:
    s = Setup()
    usage = Usage(10_000, 500, 2_000, None, cache_write=3_000, gateway_cost=0.0456)
    s.recorder.finished(s.attempt("claude-sonnet-4"), outcome(response_model="claude-sonnet-4", usage=usage))
    s.recorder.finished(s.attempt("claude-sonnet-4"), outcome(response_model="claude-sonnet-4", usage=Usage(100, 10)))
    s.recorder.finished(s.attempt("house-model"), outcome(response_model=None, usage=Usage(5, 5, gateway_cost=0.25)))
    points = s.points()
    tokens = {(p[0]["model"], p[0]["token_type"]): p[1] for p in points["holysheep.tokens"]}
    assert tokens[("claude-sonnet-4", "cache_write")] == 3_000
    assert tokens[("claude-sonnet-4", "cached")] == 2_000
    ours = (5_000 * 3.0 + 2_000 * 0.3 + 3_000 * 3.75 + 500 * 15.0) / 1e6
    costs = {p[0]["model"]: p[1] for p in points["holysheep.cost.usd"]}
    assert costs == {"claude-sonnet-4": pytest.approx(ours + (100 * 3.0 + 10 * 15.0) / 1e6)}
    assert dict((p[0]["model"], p[1]) for p in points["holysheep.gateway_cost.usd"]) == {
        "claude-sonnet-4": 0.0456,
        "house-model": 0.25,  # recorded even where our book has no price
    }
    # ours for the calls the gateway priced only: the second call reported no cost, house-model has no price
    assert points["holysheep.gateway_cost.ours.usd"] == [({"model": "claude-sonnet-4"}, pytest.approx(ours))]
