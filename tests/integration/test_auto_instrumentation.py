"""Zero-code: a plain app under `opentelemetry-instrument` with the Prometheus exporter serves the metric contract."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from otel_holysheep._series import DETAIL_SERIES, PROMETHEUS_SERIES
from otel_holysheep.simulator import GatewaySimulator
from otel_holysheep.version import __version__
from tests.engines import free_port
from tests.otlp_receiver import OtlpReceiver
from tests.support import openai_aiohttp_client_or_skip, scrape

APP = Path(__file__).parent / "apps" / "contract_app.py"
MIXED_APP = Path(__file__).parent / "apps" / "mixed_clients_app.py"
BIN = Path(sys.executable).parent
SCOPE_LABELS = {"otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}


@contextmanager
def instrumented_app(
    gateway: GatewaySimulator, stderr: list[str] | None = None, app: Path = APP, **extra_env: str
) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        {
            "GATEWAY_URL": gateway.base_url,
            "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": gateway.base_url,
            "OTEL_METRICS_EXPORTER": "prometheus",
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
            "OTEL_EXPORTER_PROMETHEUS_PORT": str(port),
            "OTEL_SERVICE_NAME": "contract-app",
            **extra_env,
        }
    )
    proc = subprocess.Popen(
        [str(BIN / "opentelemetry-instrument"), sys.executable, str(app)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "READY":
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"the app did not start: {line!r}\n{err}")
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if stderr is not None and proc.stderr:
            stderr.append(proc.stderr.read())
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def total(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for got, v in samples.get(name, []) if all(got.get(k) == val for k, val in labels.items()))


def assert_documented_series(samples: dict[str, list[tuple[dict[str, str], float]]], detail: bool) -> None:
    """Every documented series is on the page with its labels; the detail histograms only with their setting."""
    for series in PROMETHEUS_SERIES:
        name = series.name
        sample_name = {"histogram": f"{name}_count"}.get(series.type, name)
        if name in DETAIL_SERIES and not detail:
            assert not [n for n in samples if n.startswith(name)], f"{name} is opt-in: no series by default"
            continue
        assert sample_name in samples, f"{name} missing from /metrics"
        for labels, _ in samples[sample_name]:
            assert set(labels) - SCOPE_LABELS == set(series.labels), (name, labels)
        # the Prometheus exporter labels every series with its scope in newer releases (open-telemetry/
        # opentelemetry-python#5152), not in the oldest we support: all series or none, and then ours
        assert {labels.get("otel_scope_name") for labels, _ in samples[sample_name]} in ({"otel_holysheep"}, {None})


def test_contract_over_prometheus_exporter(gateway: GatewaySimulator) -> None:
    gateway.reset()
    with instrumented_app(gateway) as url:
        samples = scrape(url)
    served = [r for r in gateway.requests if r.path.startswith("/v1/")]
    assert_documented_series(samples, detail=False)
    # numbers against what the simulator served
    assert total(samples, "holysheep_requests_total") == len(served) == 9
    assert total(samples, "holysheep_request_duration_seconds_count") == len(served)
    assert total(samples, "holysheep_requests_total", model="deepseek-v3.2", status="failure") == 1
    assert total(samples, "holysheep_requests_total", model="deepseek-v3.2", status="success") == 1
    assert total(samples, "holysheep_retries_total", model="deepseek-v3.2", reason="http_5xx") == 1
    assert total(samples, "holysheep_errors_total", model="claude-sonnet-4", error_type="http_429") == 1
    assert total(samples, "holysheep_errors_total") == 2
    assert total(samples, "holysheep_tokens_total", model="gpt-4.1", token_type="prompt") == 300
    assert total(samples, "holysheep_tokens_total", model="gpt-4.1", token_type="completion") == 50
    assert total(samples, "holysheep_tokens_total", model="gpt-4.1", token_type="cached") == 50
    assert total(samples, "holysheep_tokens_total", model="gpt-4.1", token_type="reasoning") == 5
    assert total(samples, "holysheep_tokens_total", model="gemini-2.5-flash", token_type="completion") == 6
    assert total(samples, "holysheep_tokens_total", model="gemini-2.5-flash", token_type="prompt") == 45
    assert total(samples, "holysheep_cost_usd_total", model="gpt-4.1") == pytest.approx(
        (250 * 2.0 + 50 * 0.5 + 50 * 8.0) / 1e6
    )
    assert total(samples, "holysheep_cache_savings_usd_total", model="gpt-4.1") == pytest.approx(50 * 1.5 / 1e6)
    assert total(samples, "holysheep_unpriced_tokens_total", model="mystery-model") == 10
    assert total(samples, "holysheep_usage_missing_total", model="gemini-2.5-flash") == 1
    assert total(samples, "holysheep_stream_outcomes_total", outcome="completed") == 2
    assert total(samples, "holysheep_finishes_total", finish_reason="stop") == 5  # 2 gpt-4.1, 2 streams, deepseek
    assert total(samples, "holysheep_finishes_total", model="mystery-model", finish_reason="tool_calls") == 1
    assert total(samples, "holysheep_finishes_total") == 6  # not the 429, not the embeddings
    assert total(samples, "holysheep_tool_calls_total", model="mystery-model") == 2
    assert total(samples, "holysheep_tool_calls_total") == 2
    # deepseek-v3.2: 6 uncached + 4 cache-written prompt tokens (no cache-write price: at input), 10 out
    deepseek = (10 * 0.28 + 10 * 0.42) / 1e6
    assert total(samples, "holysheep_tokens_total", model="deepseek-v3.2", token_type="cache_write") == 4
    assert total(samples, "holysheep_cost_usd_total", model="deepseek-v3.2") == pytest.approx(deepseek)
    assert total(samples, "holysheep_gateway_cost_usd_total", model="deepseek-v3.2") == 0.0000071
    assert total(samples, "holysheep_gateway_cost_ours_usd_total", model="deepseek-v3.2") == pytest.approx(deepseek)
    substitutions = [
        ({k: v for k, v in labels.items() if k not in SCOPE_LABELS}, value)
        for labels, value in samples["holysheep_model_substitutions_total"]
    ]
    assert substitutions == [({"model": "mystery-model", "served_model": "mystery-fallback"}, 1)]
    assert total(samples, "holysheep_time_to_first_token_seconds_count") == 2
    assert total(samples, "holysheep_active_requests") == 0
    # defaults: no detail histograms (time to headers, tokens per second, retry-after), no gen_ai.*
    assert not [name for name in samples if name.startswith("gen_ai_")]
    # secrets never exported
    text = repr(samples)
    assert "sk-contract-test" not in text
    assert "hello" not in text


def test_contract_over_otlp_exporter(gateway: GatewaySimulator) -> None:
    """The same app pushing OTLP/HTTP (protobuf) to a loopback receiver: the exporter the Collector set-ups use.
    The app exits when its stdin closes; the SDK's shutdown pushes the totals before the process ends."""
    gateway.reset()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    with OtlpReceiver().running() as receiver:
        env.update(
            {
                "GATEWAY_URL": gateway.base_url,
                "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": gateway.base_url,
                "OTEL_METRICS_EXPORTER": "otlp",
                "OTEL_TRACES_EXPORTER": "none",
                "OTEL_LOGS_EXPORTER": "none",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_SERVICE_NAME": "contract-app-otlp",
            }
        )
        proc = subprocess.run(
            [str(BIN / "opentelemetry-instrument"), sys.executable, str(APP)],
            env=env,
            input="",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "READY"
        receiver.wait_for(lambda r: r.total("holysheep.requests") >= 9)
    served = [r for r in gateway.requests if r.path.startswith("/v1/")]
    assert receiver.total("holysheep.requests") == len(served) == 9
    assert receiver.total("holysheep.request.duration#count") == 9
    assert receiver.total("holysheep.requests", model="deepseek-v3.2", status="failure") == 1
    assert receiver.total("holysheep.errors", model="claude-sonnet-4", error_type="http_429") == 1
    assert receiver.total("holysheep.tokens", model="gpt-4.1", token_type="prompt") == 300
    assert receiver.total("holysheep.tokens", model="gemini-2.5-flash", token_type="completion") == 6
    assert receiver.total("holysheep.cost.usd", model="gpt-4.1") == pytest.approx(
        (250 * 2.0 + 50 * 0.5 + 50 * 8.0) / 1e6
    )
    assert receiver.total("holysheep.stream_outcomes", outcome="completed") == 2
    assert receiver.total("holysheep.time_to_first_token#count") == 2
    assert receiver.total("holysheep.active_requests") == 0
    assert ("otel_holysheep", __version__) in receiver.scopes
    assert receiver.resource["service.name"] == "contract-app-otlp"
    assert "Traceback" not in proc.stderr


def test_detail_histograms_over_prometheus_exporter(gateway: GatewaySimulator) -> None:
    gateway.reset()
    with instrumented_app(gateway, OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS="true") as url:
        samples = scrape(url)
    assert_documented_series(samples, detail=True)
    assert total(samples, "holysheep_requests_total") == 9
    assert total(samples, "holysheep_retry_after_seconds_sum", model="claude-sonnet-4") == pytest.approx(2)
    # time to headers for the two streams only (a JSON response's headers come with its end)
    assert total(samples, "holysheep_time_to_headers_seconds_count") == 2
    assert total(samples, "holysheep_time_to_headers_seconds_count", model="gemini-2.5-flash") == 2
    assert total(samples, "holysheep_output_tokens_per_second_count", model="gemini-2.5-flash") >= 1
    assert not [name for name in samples if name.startswith("gen_ai_")]


def test_opt_ins_over_prometheus_exporter(gateway: GatewaySimulator) -> None:
    gateway.reset()
    with instrumented_app(
        gateway,
        OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS="true",
        OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS="all",
    ) as url:
        samples = scrape(url)
    assert total(samples, "holysheep_requests_total") == 9
    assert total(samples, "holysheep_time_to_headers_seconds_count") == 9  # every response: asked for explicitly
    assert "holysheep_retry_after_seconds_count" not in samples  # the other detail histograms stay off
    assert "holysheep_output_tokens_per_second_count" not in samples
    assert total(samples, "gen_ai_client_operation_duration_seconds_count", gen_ai_provider_name="holysheep") == 9
    assert (
        total(samples, "gen_ai_client_token_usage_count", gen_ai_token_type="input") == 6
    )  # every response that reported usage
    assert total(samples, "gen_ai_client_operation_time_to_first_chunk_seconds_count") == 2


def test_disabled_by_entry_point_name(gateway: GatewaySimulator) -> None:
    with instrumented_app(gateway, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="holysheep") as url:
        samples = scrape(url)
    assert "holysheep_requests_total" not in samples
    assert not any(name.startswith("gen_ai_") for name in samples)


def test_bad_configuration_warns_once_and_still_measures(gateway: GatewaySimulator, tmp_path: Path) -> None:
    gateway.reset()
    bad_prices = tmp_path / "prices.yaml"
    bad_prices.write_text("models:\n  gpt-4.1: {input: free, output: 1}\n")
    stderr: list[str] = []
    with instrumented_app(
        gateway,
        stderr,
        OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS=f"{gateway.base_url}, ftp://nope, not a url",
        OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS="lots",
        OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS="maybe",
        OTEL_INSTRUMENTATION_HOLYSHEEP_PRICES_FILE=str(bad_prices),
    ) as url:
        samples = scrape(url)
    # the app ran, instrument() did not raise, the good base URL is measured, the built-in prices stand
    assert total(samples, "holysheep_requests_total") == 9
    assert total(samples, "holysheep_cost_usd_total", model="gpt-4.1") == pytest.approx(
        (250 * 2.0 + 50 * 0.5 + 50 * 8.0) / 1e6
    )
    assert not [name for name in samples if name.startswith("gen_ai_")]  # "maybe" -> the default (off)
    text = stderr[0]
    for needle in (
        "ftp://nope",
        "not a url",
        "OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS",
        "OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS",
        f"{bad_prices}: models.gpt-4.1.input",
    ):
        assert text.count(needle) == 1, (needle, text)
    assert "Traceback" not in text


@pytest.mark.openai_sdk
def test_every_client_library_counted_exactly_once(gateway: GatewaySimulator) -> None:
    """requests, aiohttp, raw httpx and the openai SDK (default httpx2 client and its aiohttp client) in one app under
    `opentelemetry-instrument` (with the generic httpx and requests instrumentations loaded too): every request the
    gateway served is counted once, under the library's own model, with its own tokens."""
    openai_aiohttp_client_or_skip()
    gateway.reset()
    with instrumented_app(gateway, app=MIXED_APP) as url:
        samples = scrape(url)
    served = [r for r in gateway.requests if r.path.startswith("/v1/")]
    assert len(served) == 10
    assert total(samples, "holysheep_requests_total") == len(served)
    for model in ("gpt-4.1", "claude-sonnet-4", "deepseek-v3.2", "gemini-2.5-flash", "gpt-4.1-mini"):
        assert total(samples, "holysheep_requests_total", model=model, status="success") == 2, model
        assert total(samples, "holysheep_tokens_total", model=model, token_type="prompt") == 20, model
        assert total(samples, "holysheep_stream_outcomes_total", model=model, outcome="completed") == 1, model
        assert total(samples, "holysheep_time_to_first_token_seconds_count", model=model) == 1, model
    assert total(samples, "holysheep_active_requests") == 0
    assert total(samples, "holysheep_errors_total") == 0
    assert "sk-mixed-test" not in repr(samples)
