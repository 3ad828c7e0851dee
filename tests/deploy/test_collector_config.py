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
def test_memory_limiter_first_with_a_fixed_size_and_batching_in_the_exporters(path: Path) -> None:
    config = load(path)
    for name, pipeline in config["service"]["pipelines"].items():
        processors = [component_type(p) for p in pipeline.get("processors", [])]
        assert processors[0] == "memory_limiter", name
        assert "batch" not in processors, f"{name}: batching belongs in the exporters' sending_queue now"
    limiter = config["processors"]["memory_limiter"]
    assert limiter.get("check_interval"), "memory_limiter needs check_interval"
    assert "limit_percentage" not in limiter, "a share of the host is not a size: limit_mib"
    assert re.fullmatch(r"\$\{env:OTELCOL_MEMORY_LIMIT_MIB:-\d+\}", str(limiter["limit_mib"])), limiter
    # every exporter that queues batches by bytes, under gRPC's default 4 MiB message
    for exporter_id, exporter in config["exporters"].items():
        queue = exporter.get("sending_queue")
        if not queue or not queue.get("enabled", True):
            continue
        batch = queue.get("batch")
        assert batch and batch["sizer"] == "bytes" and batch["max_size"] <= 4 * 1024 * 1024, exporter_id
    text = path.read_text()
    assert re.search(r"GOMEMLIMIT=\d+MiB", text), "the run instructions set GOMEMLIMIT"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_nothing_listens_on_every_interface_unless_the_deployment_asks(path: Path) -> None:
    """Every listening address is OTELCOL_LISTEN_HOST, loopback when unset; 0.0.0.0 appears nowhere."""
    config = load(path)
    text = path.read_text()
    assert "0.0.0.0" not in text
    listen = "${env:OTELCOL_LISTEN_HOST:-127.0.0.1}"
    endpoints = [config["extensions"]["health_check"]["endpoint"]]
    endpoints += [p["endpoint"] for p in config["receivers"]["otlp"]["protocols"].values()]
    if "prometheus" in config["exporters"]:
        endpoints.append(config["exporters"]["prometheus"]["endpoint"])
    for endpoint in endpoints:
        assert endpoint.rsplit(":", 1)[0] == listen, endpoint
    for reader in config["service"]["telemetry"]["metrics"]["readers"]:
        assert reader["pull"]["exporter"]["prometheus"]["host"] == listen


def test_every_hop_between_hosts_has_tls_and_a_token() -> None:
    gateway = load(COLLECTOR / "otel-collector-gateway.yaml")
    single_tls = load(COLLECTOR / "tls-receivers.yaml")
    for receivers in (gateway["receivers"], single_tls["receivers"]):
        for name, proto in receivers["otlp"]["protocols"].items():
            assert proto["tls"]["cert_file"] and proto["tls"]["key_file"], name
            assert proto["auth"]["authenticator"] == "bearertokenauth/server", name
    agent = load(COLLECTOR / "otel-collector-agent.yaml")
    hops = [agent["exporters"]["load_balancing"]["protocol"]["otlp"], agent["exporters"]["otlp_grpc/traces"]]
    for hop in hops:
        assert not hop["tls"].get("insecure"), hop
        assert hop["auth"]["authenticator"] == "bearertokenauth/client"
    for path in CONFIGS:
        text = path.read_text()
        assert not re.search(r"^\s*insecure:\s*true", text, re.MULTILINE), f"{path.name}: plain text by default"


def test_gateways_push_and_the_pipeline_is_scraped() -> None:
    """No double series on a pool change: the gateways push (remote write), and every Collector's own metrics have a
    scrape job; the Collector scrape with honor_labels has sample and label limits."""
    gateway = load(COLLECTOR / "otel-collector-gateway.yaml")
    assert gateway["service"]["pipelines"]["metrics"]["exporters"] == ["prometheus_remote_write"]
    assert "prometheus" not in gateway["exporters"]
    prometheus = yaml.safe_load((REPO / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prometheus["scrape_configs"]}
    assert jobs["otel-collector"].get("sample_limit") and jobs["otel-collector"].get("label_limit")
    own = jobs["otel-collector-self"]
    assert [port_of(t) for sc in own["static_configs"] for t in sc["targets"]] == [8888]
    assert prometheus["storage"]["tsdb"]["out_of_order_time_window"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_resource_labels_are_a_closed_set(path: Path) -> None:
    config = load(path)
    if "load_balancing" in config["exporters"]:
        return  # the agent forwards resources as they are; the gateways bound them
    pipeline = config["service"]["pipelines"]["metrics"]
    assert "transform/bounded_labels" in pipeline["processors"]
    (statement,) = config["processors"]["transform/bounded_labels"]["metric_statements"]
    kept = set(re.findall(r'"([a-z.]+)"', statement))
    assert statement.startswith("keep_keys(resource.attributes,")
    assert kept == {
        "service.name",
        "service.namespace",
        "service.instance.id",
        "host.name",
        "deployment.environment.name",
    }


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


def test_prometheus_exporter_matches_the_prometheus_scrape_job() -> None:
    config = load(COLLECTOR / "otel-collector.yaml")
    exporter = config["exporters"]["prometheus"]
    assert exporter["resource_to_telemetry_conversion"]["enabled"] is True
    port = port_of(exporter["endpoint"])
    prometheus = yaml.safe_load((REPO / "prometheus.yml").read_text())
    (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "otel-collector"]
    assert job.get("honor_labels") is True, "the Collector sets job/instance itself"
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert targets and all(port_of(t) == port for t in targets), (targets, port)
    assert "# prometheus_remote_write:" in (COLLECTOR / "otel-collector.yaml").read_text(), "commented alternative"


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


def credentials_env(tmp_path: Path) -> dict[str, str]:
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    return {
        "OTELCOL_STORAGE_DIR": str(tmp_path),
        "OTELCOL_TOKEN_FILE": str(token),
        "OTELCOL_TLS_CERT_FILE": str(tmp_path / "tls.crt"),
        "OTELCOL_TLS_KEY_FILE": str(tmp_path / "tls.key"),
    }


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_otelcol_validate(path: Path, tmp_path: Path) -> None:
    result = otelcol("validate", f"--config={path}", env=credentials_env(tmp_path))
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


def test_otelcol_validate_the_single_collector_with_the_tls_overlay(tmp_path: Path) -> None:
    overlay = COLLECTOR / "tls-receivers.yaml"
    result = otelcol("validate", f"--config={COLLECTOR / 'otel-collector.yaml'}", f"--config={overlay}",
                     env=credentials_env(tmp_path))  # fmt: skip
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("name", ["otel-collector-gateway.yaml", "otel-collector-agent.yaml"])
def test_without_a_token_file_a_fleet_collector_refuses_to_start(name: str, tmp_path: Path) -> None:
    env = credentials_env(tmp_path)
    del env["OTELCOL_TOKEN_FILE"]
    result = otelcol("validate", f"--config={COLLECTOR / name}", env=env)
    assert result.returncode != 0
    assert "no bearer token provided" in result.stdout + result.stderr


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
