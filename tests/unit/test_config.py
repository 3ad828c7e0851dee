"""Settings from the environment: good values, and bad ones that warn once and fall back."""

from __future__ import annotations

import logging

import pytest

from otel_holysheep._attributes import endpoint_of, model_labels, retry_reason
from otel_holysheep._config import BaseUrl, Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert [str(u) for u in settings.base_urls] == ["https://api.holysheep.ai/v1"]
    assert settings.genai_metrics is False
    assert settings.detail_histograms is False
    assert settings.time_to_headers is None  # not set
    assert settings.time_to_headers_for is None  # the detail histograms are off: time to headers is not recorded
    assert settings.request_stream_usage is False
    assert settings.capture_content is False
    assert settings.max_models == 50


def test_env_values() -> None:
    settings = Settings.from_env(
        {
            "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": " http://127.0.0.1:8080/v1/ , https://GW.example.com/v1",
            "OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS": "true",
            "OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS": " All ",
            "OTEL_INSTRUMENTATION_HOLYSHEEP_REQUEST_STREAM_USAGE": "TRUE",
            "OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS": "7",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
        }
    )
    assert settings.base_urls == (
        BaseUrl("http", "127.0.0.1", 8080, "/v1"),
        BaseUrl("https", "gw.example.com", 443, "/v1"),
    )
    assert (
        settings.genai_metrics,
        settings.time_to_headers,
        settings.request_stream_usage,
        settings.max_models,
        settings.capture_content,
    ) == (True, "all", True, 7, True)


@pytest.mark.parametrize(
    ("detail", "time_to_headers", "enabled", "headers_for"),
    [
        (None, None, False, None),  # defaults: none of the three detail histograms
        ("true", None, True, "streams"),
        (" ON ", None, True, "streams"),
        ("1", None, True, "streams"),
        ("false", None, False, None),
        ("off", None, False, None),
        ("", None, False, None),  # empty is unset
        ("false", "all", False, "all"),  # asked for explicitly: recorded without the detail histograms
        ("false", "streams", False, "streams"),
        ("true", "all", True, "all"),
        (None, "STREAMS", False, "streams"),
    ],
)
def test_detail_histograms_and_time_to_headers(
    detail: str | None, time_to_headers: str | None, enabled: bool, headers_for: str | None
) -> None:
    env = {}
    if detail is not None:
        env["OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS"] = detail
    if time_to_headers is not None:
        env["OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS"] = time_to_headers
    settings = Settings.from_env(env)
    assert (settings.detail_histograms, settings.time_to_headers_for) == (enabled, headers_for)


def test_code_base_urls_win() -> None:
    settings = Settings.from_env({"OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": "http://a/v1"}, base_urls=["http://b/x"])
    assert [str(u) for u in settings.base_urls] == ["http://b/x"]


@pytest.mark.parametrize(
    ("env", "field", "default"),
    [
        ({"OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS": "maybe"}, "genai_metrics", False),
        ({"OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS": "json"}, "time_to_headers", None),
        ({"OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS": "maybe"}, "detail_histograms", False),
        ({"OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS": "2"}, "detail_histograms", False),
        ({"OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS": "lots"}, "max_models", 50),
        ({"OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS": "0"}, "max_models", 50),
        ({"OTEL_INSTRUMENTATION_HOLYSHEEP_CONTENT_MAX_CHARS": "-5"}, "content_max_chars", 4096),
        (
            {"OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": "ftp://x, not a url"},
            "base_urls",
            (BaseUrl("https", "api.holysheep.ai", 443, "/v1"),),
        ),
    ],
)
def test_bad_values_warn_and_fall_back(
    env: dict[str, str], field: str, default: object, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_holysheep"):
        settings = Settings.from_env(env)
    assert getattr(settings, field) == default
    assert caplog.records, "a bad value must say so"
    assert all(name in caplog.text for name in env)


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/v1/chat/completions", "chat/completions"),
        ("/v1/completions", "completions"),
        ("/v1/embeddings", "embeddings"),
        ("/v1/responses", "responses"),
        ("/v1/responses/resp_123", "responses"),
        ("/v1/models", "models"),
        ("/v1/models/gpt-4.1", "models"),
        ("/v1/files/file-abc", "other"),
        ("/v1/", "other"),
    ],
)
def test_endpoint_labels_are_bounded(path: str, endpoint: str) -> None:
    assert endpoint_of(path, "/v1") == endpoint


def test_model_label_cap(caplog: pytest.LogCaptureFixture) -> None:
    labels = model_labels(3)
    with caplog.at_level(logging.WARNING, logger="otel_holysheep"):
        values = [labels.label(f"model-{i}") for i in range(10)]
    assert values[:3] == ["model-0", "model-1", "model-2"]
    assert set(values[3:]) == {"other"}
    assert labels.label("model-1") == "model-1"
    assert labels.label(None) == "unknown"
    assert labels.label("x" * 200) == "other"
    assert labels.label("sk-abc def\n") == "other"
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("http_429", "http_429"),
        ("http_500", "http_5xx"),
        ("http_503", "http_5xx"),
        ("timeout", "timeout"),
        ("connect_error", "connect_error"),
        ("http_400", "http_4xx"),
        (None, "unknown"),
        ("weird", "unknown"),
    ],
)
def test_retry_reasons(error: str | None, reason: str) -> None:
    assert retry_reason(error) == reason


def test_error_type_and_endpoint_floods_stay_bounded() -> None:
    from otel_holysheep._attributes import http_error_type

    error_types = {http_error_type(code) for code in range(-5, 2000)}
    assert len(error_types) <= 501  # http_100 ... http_599, and "exception" for anything that is not HTTP
    assert "exception" in error_types
    endpoints = {
        endpoint_of(f"/v1/{kind}/{i}/{'x' * (i % 7)}", "/v1")
        for i in range(500)
        for kind in ("files", "batches", "chat", "threads", "models", "responses")
    }
    assert endpoints <= {"other", "models", "responses"}
