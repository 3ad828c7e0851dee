"""OpenTelemetry Collector configurations: structure (no Collector binary needed), and with our Collector distribution
(otelcol-holysheep, `make collector`): every component the configs name is in it, each config validates, and a
misspelled component type fails validation with the Collector's own message."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from engines import REPO, require_binary

COLLECTOR = REPO / "collector"
CONFIGS = sorted(COLLECTOR.glob("otel-collector*.yaml"))
KINDS = ("receivers", "processors", "exporters", "connectors", "extensions")
# old spelling -> current name (the old ones are deprecated aliases or removed)
DEPRECATED = {
    "logging": "debug",
    "otlphttp": "otlp_http",
    "prometheusremotewrite": "prometheus_remote_write",
    "loadbalancing": "load_balancing",
    "resourcedetection": "resource_detection",
}
# exporters whose old name is now a deprecated alias of a renamed component
DEPRECATED_EXPORTERS = {"otlp": "otlp_grpc"}


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict), path
    return doc


def component_type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def test_the_three_configs_exist() -> None:
    assert [p.name for p in CONFIGS] == [
        "otel-collector-agent.yaml",
        "otel-collector-gateway.yaml",
        "otel-collector.yaml",
    ]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_component_is_defined_and_used(path: Path) -> None:
    config = load(path)
    service = config["service"]
    used: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for name, pipeline in service["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in (config.get(kind) or {}), f"{name}: {kind[:-1]} {component} is not defined"
                used[kind].add(component)
    for ext in service.get("extensions", []):
        assert ext in (config.get("extensions") or {}), f"extension {ext} is not defined"
        used["extensions"].add(ext)
    for kind in KINDS:
        unused = set(config.get(kind) or {}) - used[kind]
        assert not unused, f"{kind} defined but not used: {sorted(unused)}"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_memory_limiter_first_batch_last(path: Path) -> None:
    for name, pipeline in load(path)["service"]["pipelines"].items():
        processors = [component_type(p) for p in pipeline.get("processors", [])]
        assert processors[0] == "memory_limiter", name
        assert processors[-1] == "batch", name
        assert load(path)["processors"]["memory_limiter"].get("check_interval"), "memory_limiter needs check_interval"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_no_deprecated_names_or_syntax(path: Path) -> None:
    config = load(path)
    for kind in KINDS:
        for component in config.get(kind) or {}:
            ctype = component_type(component)
            assert ctype not in DEPRECATED, f"{kind}: {ctype} -> use {DEPRECATED[ctype]}"
            if kind == "exporters":
                assert ctype not in DEPRECATED_EXPORTERS, f"exporter {ctype} -> use {DEPRECATED_EXPORTERS[ctype]}"
    # Also in comments: what people uncomment should be current too.
    text = path.read_text()
    for old, new in DEPRECATED.items():
        assert not re.search(rf"^\s*#?\s*{old}(/\w+)?:", text, re.MULTILINE), f"{old} -> {new}"
    assert not re.search(r"\$(?![{$])", text), "use ${env:VAR} (or ${env:VAR:-default}), not $VAR"
    assert not re.search(r"\$\{(?!env:)", text), "use ${env:VAR}, not ${VAR}"
    telemetry_metrics = config["service"].get("telemetry", {}).get("metrics", {})
    assert "address" not in telemetry_metrics, "service.telemetry.metrics.address is gone: use readers"
    assert telemetry_metrics.get("readers"), "the Collector's own metrics: service.telemetry.metrics.readers"
    assert config["service"]["telemetry"].get("logs"), "service.telemetry.logs"


@pytest.mark.parametrize("name", ["otel-collector.yaml", "otel-collector-gateway.yaml"])
def test_prometheus_exporter_matches_the_prometheus_scrape_job(name: str) -> None:
    config = load(COLLECTOR / name)
    exporter = config["exporters"]["prometheus"]
    assert exporter["resource_to_telemetry_conversion"]["enabled"] is True
    port = port_of(exporter["endpoint"])
    prometheus = yaml.safe_load((REPO / "prometheus.yml").read_text())
    (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "otel-collector"]
    assert job.get("honor_labels") is True, "the Collector sets job/instance itself"
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert targets and all(port_of(t) == port for t in targets), (targets, port)
    assert "# prometheus_remote_write:" in (COLLECTOR / name).read_text(), "commented remote-write alternative"


def test_otlp_receivers_listen_on_the_standard_ports() -> None:
    for path in CONFIGS:
        protocols = load(path)["receivers"]["otlp"]["protocols"]
        assert port_of(protocols["grpc"]["endpoint"]) == 4317, path.name
        assert port_of(protocols["http"]["endpoint"]) == 4318, path.name


def test_agent_forwards_to_gateways_with_host_attributes() -> None:
    agent = load(COLLECTOR / "otel-collector-agent.yaml")
    pipelines = agent["service"]["pipelines"]
    assert set(pipelines) == {"metrics", "traces"}
    assert pipelines["metrics"]["exporters"] == ["load_balancing"]
    assert pipelines["traces"]["exporters"] == ["otlp_grpc/traces"]
    for pipeline in pipelines.values():
        assert "resource_detection" in pipeline["processors"]
    lb = agent["exporters"]["load_balancing"]
    assert lb["routing_key"] == "resource", "one app instance -> one gateway, so no series is exposed twice"
    assert "otlp" in lb["protocol"]
    # what waits for a gateway waits on disk
    assert "file_storage" in agent["service"]["extensions"]
    for name in ("load_balancing", "otlp_grpc/traces"):
        queue = agent["exporters"][name]["sending_queue"]
        assert queue["enabled"] is True and queue["storage"] == "file_storage", name
    assert lb["protocol"]["otlp"]["sending_queue"]["enabled"] is False, "no per-gateway queue in memory"
    # the agent listens on loopback only
    for proto in agent["receivers"]["otlp"]["protocols"].values():
        assert proto["endpoint"].startswith("127.0.0.1:")
    gateway = load(COLLECTOR / "otel-collector-gateway.yaml")
    gateway_port = port_of(gateway["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"])
    assert str(gateway_port) in str(lb["resolver"]["dns"]["port"])
    assert agent["exporters"]["otlp_grpc/traces"]["endpoint"].endswith(f":-{gateway_port}}}")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_metrics_and_traces_pipelines(path: Path) -> None:
    pipelines = load(path)["service"]["pipelines"]
    assert set(pipelines) == {"metrics", "traces"}
    assert pipelines["traces"]["receivers"] == ["otlp"]


def test_readme_documents_the_app_side_env_vars() -> None:
    readme = (COLLECTOR / "README.md").read_text()
    for needle in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative",
        "OTEL_RESOURCE_ATTRIBUTES=service.name=",
        "service.instance.id=",
        "OTEL_METRICS_EXPORTER=otlp",
    ):
        assert needle in readme, needle


# --- with our Collector (otelcol-holysheep, built from collector/builder-config.yaml) ------------------------------
def otelcol(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    binary = require_binary("otelcol-holysheep")
    return subprocess.run(
        [str(binary), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin", **(env or {})},
    )


def commented_components(text: str) -> dict[str, set[str]]:
    """Component ids of the commented-out alternatives (``  # prometheus_remote_write:`` under ``exporters:``)."""
    found: dict[str, set[str]] = {kind: set() for kind in KINDS}
    kind = None
    for line in text.splitlines():
        if re.match(r"^[a-z_]+:", line):
            kind = line.split(":")[0] if line.split(":")[0] in KINDS else None
        m = re.match(r"^  # ([a-z_]+(?:/[a-z0-9_]+)?):\s*$", line)
        if kind and m:
            found[kind].add(m.group(1))
    return found


def shipped_component_types() -> dict[str, set[str]]:
    """Every component type a shipped config names, in use or in a commented alternative."""
    types: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for path in CONFIGS:
        config = load(path)
        for kind in KINDS:
            types[kind] |= {component_type(c) for c in config.get(kind) or {}}
        for kind, ids in commented_components(path.read_text()).items():
            types[kind] |= {component_type(c) for c in ids}
    return types


def test_the_distribution_has_every_component_the_configs_name() -> None:
    result = otelcol("components")
    assert result.returncode == 0, result.stderr
    listed = yaml.safe_load(result.stdout)
    known = {kind: {c["name"] for c in listed.get(kind) or []} for kind in KINDS}
    for kind, types in shipped_component_types().items():
        assert types <= known[kind], f"{kind} not in otelcol-holysheep: {sorted(types - known[kind])}"
    if listed["buildinfo"]["command"] != "otelcol-holysheep":
        pytest.skip(
            f"not our distribution but {listed['buildinfo']['command']}: the manifest checks need make collector"
        )
    # the manifest builds what the configs name, plus the file exporter: the tests' trace store (tests/otelcol.py)
    manifest = yaml.safe_load((COLLECTOR / "builder-config.yaml").read_text())
    built = {(kind, c["name"]) for kind in KINDS for c in listed.get(kind) or []}
    named = {(kind, t) for kind, types in shipped_component_types().items() for t in types}
    assert built - named == {("exporters", "file")}
    assert sum(len(manifest.get(kind) or []) for kind in KINDS) == len(built)
    assert listed["buildinfo"]["version"] == manifest["dist"]["version"]


def test_every_module_of_the_manifest_is_at_one_release() -> None:
    manifest = yaml.safe_load((COLLECTOR / "builder-config.yaml").read_text())
    release = manifest["dist"]["version"]
    versions = {entry["gomod"].split()[1] for kind in KINDS for entry in manifest.get(kind) or []}
    assert versions == {f"v{release}"}, versions


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_otelcol_validate(path: Path, tmp_path: Path) -> None:
    result = otelcol("validate", f"--config={path}", env={"OTELCOL_STORAGE_DIR": str(tmp_path)})
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


def test_a_misspelled_component_type_fails_validation_with_the_collectors_message(tmp_path: Path) -> None:
    text = (COLLECTOR / "otel-collector.yaml").read_text()
    assert "  memory_limiter:\n" in text
    broken = tmp_path / "misspelled.yaml"
    broken.write_text(text.replace("  memory_limiter:\n", "  memory_limitter:\n", 1))
    result = otelcol("validate", f"--config={broken}")
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "memory_limitter" in message, message
    assert "unknown type" in message, message
