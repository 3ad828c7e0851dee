"""Start and stop real OpenTelemetry Collectors (our Go-built ``otelcol-holysheep``) on loopback for end-to-end tests.

A shipped config (collector/*.yaml) runs as it is, plus one override file that moves every address it listens on to
127.0.0.1:<free port> ("ports overridden only"). Tests that exercise a commented alternative of a shipped config
(prometheus_remote_write, otlp_http into Prometheus 3, debug) take the commented block itself with
``commented_block`` and add it through the override, so the text users uncomment is the text tested.

    from otelcol import TraceSink, start_collector
    with TraceSink(tmp_path) as sink, start_collector(SINGLE, tmp_path, env=sink.env) as col:
        ...  # apps push to col.otlp_http_url; Prometheus scrapes col.prometheus_address
        sink.genai_spans()                       # spans that reached the trace store

Every Collector is stopped with SIGTERM (a graceful shutdown: batches flushed, persistent queues kept), then killed.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engines import REPO, EngineError, EngineServer, _start, find_binary, free_port, http_request

COLLECTOR_DIR = REPO / "collector"
SINGLE = COLLECTOR_DIR / "otel-collector.yaml"
AGENT = COLLECTOR_DIR / "otel-collector-agent.yaml"
GATEWAY = COLLECTOR_DIR / "otel-collector-gateway.yaml"
TLS_RECEIVERS = COLLECTOR_DIR / "tls-receivers.yaml"  # overlay for SINGLE: TLS + bearer token on its receivers
SHIPPED_CONFIGS = (SINGLE, AGENT, GATEWAY)
BINARY = "otelcol-holysheep"
_LOOPBACK = "127.0.0.1"
SCOPE = "otel_holysheep"  # the instrumentation scope of our spans and metrics


@dataclass
class Ports:
    """Every address a Collector listens on, each a free loopback port."""

    grpc: int = field(default_factory=free_port)
    http: int = field(default_factory=free_port)
    health: int = field(default_factory=free_port)
    prometheus: int = field(default_factory=free_port)
    telemetry: int = field(default_factory=free_port)


def load(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


def loopback_overrides(config: Mapping[str, Any], ports: Ports) -> dict[str, Any]:
    """An override config moving each listening address of ``config`` to 127.0.0.1 and a port of ``ports``."""
    out: dict[str, Any] = {}
    if "health_check" in config.get("extensions", {}):
        out["extensions"] = {"health_check": {"endpoint": f"{_LOOPBACK}:{ports.health}"}}
    protocols = config.get("receivers", {}).get("otlp", {}).get("protocols", {})
    listen = {"grpc": ports.grpc, "http": ports.http}
    out["receivers"] = {
        "otlp": {"protocols": {name: {"endpoint": f"{_LOOPBACK}:{listen[name]}"} for name in protocols}}
    }
    if "prometheus" in config.get("exporters", {}):
        out["exporters"] = {"prometheus": {"endpoint": f"{_LOOPBACK}:{ports.prometheus}"}}
    reader = {"pull": {"exporter": {"prometheus": {"host": _LOOPBACK, "port": ports.telemetry}}}}
    out["service"] = {"telemetry": {"metrics": {"readers": [reader]}}}
    return out


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge as the Collector merges several --config files: maps merge, everything else is replaced."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def commented_block(path: Path, key: str) -> dict[str, Any]:
    """The commented-out YAML block of a shipped config that starts with ``# <key>:``, uncommented and parsed.

    ``commented_block(SINGLE, "prometheus_remote_write")`` -> ``{"prometheus_remote_write": {...}}``.
    """
    lines = path.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(rf"^(\s*)# {re.escape(key)}:\s*$", line)), None)
    if start is None:
        raise AssertionError(f"no commented block '# {key}:' in {path.name}")
    indent = lines[start].index("#")
    block = [lines[start][indent + 2 :]]
    for line in lines[start + 1 :]:
        if not line.startswith(" " * indent + "#   "):
            break
        block.append(line[indent + 2 :])
    return dict(yaml.safe_load(textwrap.dedent("\n".join(block))))


class CollectorServer(EngineServer):
    """One Collector process: ``configs`` in order (later ones override earlier ones), ready when health_check
    answers. ``env`` is the process environment (``${env:...}`` in the configs)."""

    name = "otelcol"
    ready_path = "/"

    def __init__(
        self, binary: Path, workdir: Path, configs: Iterable[Path], ports: Ports, env: Mapping[str, str]
    ) -> None:
        super().__init__(binary, workdir, ports.health)
        self.configs = list(configs)
        self.ports = ports
        self.env = dict(env)

    def argv(self) -> list[str]:
        return [str(self.binary), *(arg for c in self.configs for arg in ("--config", str(c)))]

    @property
    def otlp_http_url(self) -> str:
        """OTEL_EXPORTER_OTLP_ENDPOINT for an app (the SDK appends /v1/metrics, /v1/traces)."""
        return f"http://{_LOOPBACK}:{self.ports.http}"

    @property
    def otlp_grpc_address(self) -> str:
        return f"{_LOOPBACK}:{self.ports.grpc}"

    @property
    def prometheus_address(self) -> str:
        """host:port of the prometheus exporter, as a scrape target."""
        return f"{_LOOPBACK}:{self.ports.prometheus}"

    def exposition(self) -> str:
        """What the prometheus exporter serves now."""
        status, body = http_request(f"http://{self.prometheus_address}/metrics")
        if status != 200:
            raise EngineError(f"{self.name} /metrics: HTTP {status}")
        return body.decode()

    def self_metrics(self) -> dict[str, float]:
        """The Collector's own metrics (:8888 equivalent), summed per metric name (``_total`` suffix removed)."""
        status, body = http_request(f"http://{_LOOPBACK}:{self.ports.telemetry}/metrics")
        if status != 200:
            raise EngineError(f"{self.name} telemetry: HTTP {status}")
        totals: dict[str, float] = {}
        for line in body.decode().splitlines():
            if not line or line.startswith("#"):
                continue
            name = re.split(r"[{ ]", line, maxsplit=1)[0].removesuffix("_total")
            totals[name] = totals.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        return totals

    @property
    def telemetry_address(self) -> str:
        """host:port of the Collector's own metrics (:8888), a scrape target of job otel-collector-self."""
        return f"{_LOOPBACK}:{self.ports.telemetry}"

    def restart(self, ready_timeout: float = 30.0) -> None:
        """Graceful stop (SIGTERM), then start again on the same ports and wait until ready."""
        self.stop(timeout=30.0)
        self.start()
        self.wait_ready(ready_timeout)


def start_collector(
    config: Path,
    tmp_path: Path,
    *,
    name: str = "otelcol",
    extra: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    ports: Ports | None = None,
    overlays: Iterable[Path] = (),
    ready_timeout: float = 30.0,
) -> CollectorServer:
    """Start ``config`` (a shipped config, unchanged) with its listening addresses moved to free loopback ports and
    ``extra`` merged over it; ``overlays`` are shipped overlay files (``TLS_RECEIVERS``) between the two. Return it
    ready. Context manager / ``.stop()``."""
    binary = find_binary(BINARY)
    if binary is None:
        raise EngineError(f"{BINARY} not found: build it with `make collector` (needs Go)")
    workdir = Path(tmp_path) / name
    workdir.mkdir(parents=True, exist_ok=True)
    ports = ports or Ports()
    override = loopback_overrides(load(config), ports)
    if extra:
        merge(override, extra)
    override_file = workdir / "override.yaml"
    override_file.write_text(yaml.safe_dump(override, sort_keys=False))
    process_env = {"PATH": "/usr/bin:/bin", "OTELCOL_STORAGE_DIR": str(workdir / "storage"), **(env or {})}
    server = CollectorServer(binary, workdir, [config, *overlays, override_file], ports, process_env)
    server.name = name
    server.log_path = workdir / f"{name}.log"
    _start(server, ready_timeout, attempts=1)
    return server


def static_ring(gateways: Iterable[CollectorServer]) -> dict[str, Any]:
    """An agent override: its metrics load balancer over exactly these gateways by address (static resolver, dns
    off: no DNS name has several loopback gateways on different ports)."""
    resolver = {"dns": {"enabled": False}, "static": {"hostnames": [g.otlp_grpc_address for g in gateways]}}
    return {"exporters": {"load_balancing": {"resolver": resolver}}}


class TraceSink:
    """The trace store of the tests: a Collector whose OTLP receiver writes every span to a JSON-lines file
    (the file exporter). ``env`` points the shipped configs' TRACE_STORE_OTLP_ENDPOINT at it."""

    def __init__(self, tmp_path: Path) -> None:
        self.workdir = Path(tmp_path) / "trace-sink"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.path = self.workdir / "spans.jsonl"
        self.ports = Ports()
        config = {
            "extensions": {"health_check": {"endpoint": f"{_LOOPBACK}:{self.ports.health}"}},
            "receivers": {
                "otlp": {
                    "protocols": {
                        # a store takes what a Collector's batches hold, large captured prompts included
                        "grpc": {"endpoint": f"{_LOOPBACK}:{self.ports.grpc}", "max_recv_msg_size_mib": 1024},
                        "http": {"endpoint": f"{_LOOPBACK}:{self.ports.http}"},
                    }
                }
            },
            "exporters": {"file": {"path": str(self.path), "format": "json", "flush_interval": "100ms"}},
            "service": {
                "extensions": ["health_check"],
                "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}},
                "telemetry": {
                    "metrics": {
                        "readers": [
                            {"pull": {"exporter": {"prometheus": {"host": _LOOPBACK, "port": self.ports.telemetry}}}}
                        ]
                    }
                },
            },
        }
        self.config_file = self.workdir / "trace-sink.yaml"
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        self.server: CollectorServer | None = None

    @property
    def env(self) -> dict[str, str]:
        """The shipped configs' trace store variables: this sink, plain text on loopback."""
        return {"TRACE_STORE_OTLP_ENDPOINT": f"{_LOOPBACK}:{self.ports.grpc}", "TRACE_STORE_INSECURE": "true"}

    @property
    def otlp_http_url(self) -> str:
        return f"http://{_LOOPBACK}:{self.ports.http}"

    def __enter__(self) -> TraceSink:
        binary = find_binary(BINARY)
        if binary is None:
            raise EngineError(f"{BINARY} not found: build it with `make collector` (needs Go)")
        self.server = CollectorServer(binary, self.workdir, [self.config_file], self.ports, {"PATH": "/usr/bin:/bin"})
        self.server.name = "trace-sink"
        self.server.log_path = self.workdir / "trace-sink.log"
        _start(self.server, 30.0, attempts=1)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.stop()

    def spans(self) -> list[dict[str, Any]]:
        """Every span written so far: {"trace_id", "span_id", "name", "duration_s", "scope", "attributes",
        "resource"} (ids in lower-case hex)."""
        if not self.path.exists():
            return []
        found: list[dict[str, Any]] = []
        for line in self.path.read_text().splitlines():
            try:
                doc = json.loads(line)
            except ValueError:  # the line being written right now
                continue
            for rs in doc.get("resourceSpans", []):
                resource = _attributes(rs.get("resource", {}).get("attributes", []))
                for ss in rs.get("scopeSpans", []):
                    scope = ss.get("scope", {}).get("name", "")
                    for span in ss.get("spans", []):
                        found.append(
                            {
                                "trace_id": span["traceId"],
                                "span_id": span["spanId"],
                                "name": span["name"],
                                "duration_s": (int(span["endTimeUnixNano"]) - int(span["startTimeUnixNano"])) / 1e9,
                                "scope": scope,
                                "attributes": _attributes(span.get("attributes", [])),
                                "resource": resource,
                            }
                        )
        return found

    def genai_spans(self) -> list[dict[str, Any]]:
        """Our GenAI spans (one per matched attempt), without the generic httpx instrumentation's HTTP spans."""
        return [s for s in self.spans() if s["scope"] == SCOPE]


def _attributes(items: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        value = item.get("value", {})
        out[item["key"]] = next(iter(value.values()), None) if value else None
    return out


@dataclass(frozen=True)
class Credentials:
    """What the tests' private CA issued: a CA certificate, one server certificate for every Collector (names
    localhost, otel-gateway.internal and 127.0.0.1) with its key, and a bearer token file."""

    ca: Path
    cert: Path
    key: Path
    token_file: Path
    token: str

    def server_env(self) -> dict[str, str]:
        """A gateway's (or a TLS_RECEIVERS Collector's) variables."""
        return {
            "OTELCOL_TLS_CERT_FILE": str(self.cert),
            "OTELCOL_TLS_KEY_FILE": str(self.key),
            "OTELCOL_TOKEN_FILE": str(self.token_file),
        }

    def agent_env(self) -> dict[str, str]:
        """An agent's variables for TLS to the gateways and the token."""
        return {"OTELCOL_GATEWAY_CA_FILE": str(self.ca), "OTELCOL_TOKEN_FILE": str(self.token_file)}

    def app_env(self) -> dict[str, str]:
        """An app's (the OpenTelemetry SDK's) variables for https with this CA and the token."""
        return {
            "OTEL_EXPORTER_OTLP_CERTIFICATE": str(self.ca),
            "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer%20{self.token}",
        }


def make_credentials(tmp_path: Path) -> Credentials:
    """A throwaway CA and server certificate (openssl, EC P-256, valid one day) and a random bearer token."""
    out = Path(tmp_path) / "tls"
    out.mkdir(parents=True, exist_ok=True)
    ca, ca_key = out / "ca.pem", out / "ca.key"
    cert, key, csr = out / "server.pem", out / "server.key", out / "server.csr"
    ext = out / "server.ext"
    ext.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,DNS:otel-gateway.internal,IP:127.0.0.1\n"
    )

    def openssl(*args: str) -> None:
        result = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise EngineError(f"openssl {' '.join(args[:2])} failed: {result.stderr[-1000:]}")

    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    openssl("req", "-x509", *curve, "-keyout", str(ca_key), "-out", str(ca), "-days", "1", "-subj", "/CN=test CA")
    openssl("req", *curve, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=otel-gateway.internal")
    openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(cert), "-days", "1", "-extfile", str(ext),
    )  # fmt: skip
    token = secrets.token_urlsafe(24)
    token_file = out / "token"
    token_file.write_text(token + "\n")
    return Credentials(ca=ca, cert=cert, key=key, token_file=token_file, token=token)
