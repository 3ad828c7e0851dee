"""Installation checks: this virtualenv's real package metadata, copies of it with distributions left out, the
official OpenAI instrumentation on the path, and an app under opentelemetry-instrument with and without the
exporter it names."""

from __future__ import annotations

import sys
from importlib.metadata import distributions, version
from pathlib import Path

import pytest
from doctor_helpers import (
    GOOD_EXPORTERS,
    REPO,
    app_env,
    checks_of,
    clean_environ,
    doctor_command,
    only,
    python_with_site,
    restricted_site,
    run,
    running_app,
    start_app,
    stderr_of,
    wait_ready,
)

from engines import free_port
from otel_holysheep.demo.run import stop
from otel_holysheep.doctor.result import Status
from otel_holysheep.simulator import GatewaySimulator

OK, WARN, FAIL = Status.OK, Status.WARN, Status.FAIL
PEERS = REPO / ".cache" / "bench-peers"
INSTALLED_METRICS = "console, otlp_proto_http, prometheus"  # requirements/dev.txt's exporters


def _install(env: dict[str, str]) -> dict[str, tuple[Status, str, str]]:
    return {f.check: (f.status, f.message, f.fix) for f in run(env) if f.section == "install"}


def test_a_correct_pull_setup() -> None:
    found = _install(dict(GOOD_EXPORTERS))
    prometheus = version("opentelemetry-exporter-prometheus")
    assert found == {
        "install.entry_point": (
            OK,
            "opentelemetry-instrument can load 'holysheep' (otel_holysheep:HolySheepInstrumentor, otel-holysheep "
            f"{version('otel-holysheep')}) in the Python environment of {sys.executable}",
            "",
        ),
        "install.enabled": (
            OK,
            "otel-holysheep is not disabled (OTEL_PYTHON_DISABLED_INSTRUMENTATIONS, OTEL_SDK_DISABLED)",
            "",
        ),
        "install.distro": (
            OK,
            f"distro 'distro' (opentelemetry-distro {version('opentelemetry-distro')}) and configurator "
            "'configurator' are installed",
            "",
        ),
        "install.exporter.metrics": (
            OK,
            f"metrics exporter prometheus (opentelemetry-exporter-prometheus {prometheus}) is installed "
            "(OTEL_METRICS_EXPORTER=prometheus)",
            "",
        ),
        "install.exporter.traces": (OK, "traces: not exported (OTEL_TRACES_EXPORTER=none)", ""),
        "install.exporter.logs": (OK, "logs: not exported (OTEL_LOGS_EXPORTER=none)", ""),
        "install.genai_peer": (OK, "no other instrumentor that records gen_ai.* metrics is installed", ""),
    }


def test_distro_defaults_need_the_grpc_exporter() -> None:
    """Nothing set: the distro defaults every signal to otlp over gRPC, which is not installed here."""
    found = _install({})
    for signal in ("metrics", "traces", "logs"):
        status, message, fix = found[f"install.exporter.{signal}"]
        var = f"OTEL_{signal.upper()}_EXPORTER"
        assert (status, message) == (
            FAIL,
            f"{var} is unset, so opentelemetry-distro defaults it to otlp: its exporter 'otlp_proto_grpc' "
            "(OTEL_EXPORTER_OTLP_PROTOCOL unset, the distro defaults it to grpc) is not installed, so "
            "opentelemetry-instrument fails at start-up ('Failed to auto initialize') and loads no instrumentor, "
            "otel-holysheep included",
        )
        first = (
            f"set {var}=prometheus (installed)"
            if signal == "metrics"
            else f"set {var}=none if you do not collect {signal}"
        )
        assert fix == (
            f"{first}; or set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf (otlp_proto_http is installed); or pip install "
            "opentelemetry-exporter-otlp-proto-grpc"
        )


@pytest.mark.parametrize(
    "protocol",
    [{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, {"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf"}],
)
def test_otlp_over_http(protocol: dict[str, str]) -> None:
    env = {**GOOD_EXPORTERS, "OTEL_METRICS_EXPORTER": "otlp", **protocol}
    status, message, _ = _install(env)["install.exporter.metrics"]
    assert (status, message) == (
        OK,
        f"metrics exporter otlp_proto_http (opentelemetry-exporter-otlp-proto-http "
        f"{version('opentelemetry-exporter-otlp-proto-http')}) is installed (OTEL_METRICS_EXPORTER=otlp)",
    )


def test_exporter_name_not_installed() -> None:
    status, message, fix = _install({**GOOD_EXPORTERS, "OTEL_METRICS_EXPORTER": "promethus"})[
        "install.exporter.metrics"
    ]
    assert status is FAIL
    assert message.startswith("OTEL_METRICS_EXPORTER=promethus: its exporter 'promethus' is not installed")
    assert fix == (
        "set OTEL_METRICS_EXPORTER=prometheus (installed); or name an installed metrics exporter in "
        f"OTEL_METRICS_EXPORTER (installed: {INSTALLED_METRICS})"
    )


def test_no_metrics_exporter_and_a_bad_protocol() -> None:
    status, message, fix = _install({**GOOD_EXPORTERS, "OTEL_METRICS_EXPORTER": "none"})["install.exporter.metrics"]
    assert (status, message) == (FAIL, "OTEL_METRICS_EXPORTER=none: no metrics leave the app")
    assert fix.startswith("set OTEL_METRICS_EXPORTER=prometheus (Prometheus scrapes :9464/metrics)")
    env = {**GOOD_EXPORTERS, "OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
    status, message, fix = _install(env)["install.exporter.metrics"]
    assert (status, message, fix) == (
        FAIL,
        "OTEL_METRICS_EXPORTER=otlp: OTEL_EXPORTER_OTLP_PROTOCOL=http/json is neither grpc nor http/protobuf; "
        "opentelemetry-instrument fails at start-up",
        "set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf or OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
    )


@pytest.mark.parametrize(
    ("extra", "message", "fix"),
    [
        (
            {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "httpx, holysheep"},
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=httpx, holysheep switches otel-holysheep off",
            "remove 'holysheep' (and '*') from OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
        ),
        (
            {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "*"},
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=* switches otel-holysheep off",
            "remove 'holysheep' (and '*') from OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
        ),
        (
            {"OTEL_SDK_DISABLED": "true"},
            "OTEL_SDK_DISABLED=true: the OpenTelemetry SDK records nothing, otel-holysheep included",
            "unset OTEL_SDK_DISABLED",
        ),
    ],
)
def test_switched_off(extra: dict[str, str], message: str, fix: str) -> None:
    assert _install({**GOOD_EXPORTERS, **extra})["install.enabled"] == (FAIL, message, fix)


def test_other_instrumentations_disabled_is_fine() -> None:
    assert (
        _install({**GOOD_EXPORTERS, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "httpx,httpx2"})["install.enabled"][0]
        is OK
    )


def test_named_distro_missing() -> None:
    assert _install({**GOOD_EXPORTERS, "OTEL_PYTHON_DISTRO": "vendor"})["install.distro"] == (
        FAIL,
        "OTEL_PYTHON_DISTRO=vendor names no installed distro",
        "unset OTEL_PYTHON_DISTRO, or install the package that provides it",
    )


# --- environments with distributions left out (python -S on a filtered copy of site-packages) ---------------------


def _doctor_without(tmp_path: Path, without: list[str]) -> dict[str, list[dict[str, str]]]:
    site = restricted_site(tmp_path, without)
    code, document, stderr = doctor_command([], {**clean_environ(), **GOOD_EXPORTERS}, python=python_with_site(site))
    assert code == 2, stderr
    return {c["check"]: c for c in document["checks"] if c["status"] == "fail"}


def test_source_tree_importable_but_not_installed(tmp_path: Path) -> None:
    failed = _doctor_without(tmp_path, ["otel_holysheep-"])
    assert list(failed) == ["install.entry_point"]
    entry_point = failed["install.entry_point"]
    assert entry_point["message"].startswith(
        "no 'holysheep' entry point in group opentelemetry_instrumentor in the Python environment of "
    )
    assert entry_point["fix"].startswith('pip install "otel-holysheep[prometheus]" into the environment that runs')


def test_distro_not_installed(tmp_path: Path) -> None:
    failed = _doctor_without(tmp_path, ["opentelemetry_distro-"])
    assert list(failed) == ["install.distro"]
    assert failed["install.distro"]["message"] == (
        "no OpenTelemetry distro installed: opentelemetry-instrument sets up no SDK, so nothing is exported"
    )
    assert failed["install.distro"]["fix"].startswith('pip install "otel-holysheep[prometheus]" (or [otlp])')


def test_no_http_client_library(tmp_path: Path) -> None:
    failed = _doctor_without(tmp_path, ["httpx-", "httpx2-", "requests-", "aiohttp-"])
    assert list(failed) == ["install.entry_point"]
    assert failed["install.entry_point"]["message"].startswith("opentelemetry-instrument skips 'holysheep': ")
    assert failed["install.entry_point"]["fix"] == (
        "pip install the HTTP client your app uses: httpx or httpx2 (the openai SDK installs one of them), "
        "requests or aiohttp"
    )


# --- another GenAI instrumentor: the official OpenAI instrumentation from .cache/bench-peers ---------------------


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({"OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS": "true"}, "warn"),
        ({}, "ok"),  # our gen_ai.* metrics are off by default
        (
            {"OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS": "true", "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai"},
            "ok",
        ),
    ],
)
def test_official_openai_instrumentation_present(extra: dict[str, str], status: str) -> None:
    if not (PEERS / ".installed").is_file():
        pytest.skip(f"the official OpenAI instrumentation is not in {PEERS}: run `make {PEERS}/.installed`")
    env = {**clean_environ(), **GOOD_EXPORTERS, "PYTHONPATH": str(PEERS), **extra}
    _, document, _ = doctor_command([], env)
    [peer] = checks_of(document, "install.genai_peer")
    [peer_dist] = [
        d for d in distributions(path=[str(PEERS)]) if d.name == "opentelemetry-instrumentation-genai-openai"
    ]
    label = f"'openai' (opentelemetry-instrumentation-genai-openai {peer_dist.version})"
    assert peer["status"] == status
    if status == "warn":
        assert (peer["message"], peer["fix"]) == (
            f"{label} also records gen_ai.client.* metrics for the same openai SDK calls: they would be counted twice",
            "unset OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS or set it to false, the default (keep theirs; the "
            "holysheep_* metrics stay), or OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=openai (keep ours)",
        )
    elif "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS" in extra:
        assert peer["message"] == f"{label} installed, but disabled by OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
    else:
        assert peer["message"] == (
            f"{label} installed; otel-holysheep's gen_ai.* metrics are off "
            "(the default; OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS=true would switch them on), "
            "so nothing is counted twice"
        )


# --- an app with and without the exporter it names ----------------------------------------------------------------


@pytest.mark.slow
def test_app_whose_exporter_is_not_installed() -> None:
    """OTEL_METRICS_EXPORTER=otlp with no protocol means gRPC, not installed here: opentelemetry-instrument fails at
    start-up and serves nothing. The doctor, run with the same variables, names the cause and the fix; with the fix
    applied the app serves its metrics."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    with GatewaySimulator() as sim:
        env = app_env(sim.base_url, port, OTEL_METRICS_EXPORTER="otlp")
        proc = start_app("healthy", env)
        try:
            wait_ready(proc)
            findings = run(env, metrics=url, interval=0)
        finally:
            log = stderr_of(proc)
            stop(proc)
        assert "Failed to auto initialize" in log
        assert "otlp_proto_grpc" in log
        metrics = only(findings, "install.exporter.metrics")
        assert metrics.status is FAIL
        assert metrics.message.startswith(
            "OTEL_METRICS_EXPORTER=otlp: its exporter 'otlp_proto_grpc' (OTEL_EXPORTER_OTLP_PROTOCOL unset, the "
            "distro defaults it to grpc) is not installed"
        )
        assert metrics.fix.startswith("set OTEL_METRICS_EXPORTER=prometheus (installed)")
        assert only(findings, "app.reachable").status is FAIL

        fixed = app_env(sim.base_url, port, OTEL_METRICS_EXPORTER="prometheus")
        with running_app("healthy", fixed):
            findings = run(fixed, metrics=url, interval=0)
        assert only(findings, "install.exporter.metrics").status is OK
        assert [(f.check, f.status) for f in findings if f.section == "app"] == [
            ("app.reachable", OK),
            ("app.series", OK),
            ("app.series_budget", OK),
            ("app.active_requests", Status.SKIP),
        ]
