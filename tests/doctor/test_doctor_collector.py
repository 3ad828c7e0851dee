"""``--collector``: a real OpenTelemetry Collector (the project's otelcol-holysheep build, or otelcol-contrib) on
loopback: one whose pipeline exports to the debug exporter, one whose exporter points at a closed port (no retry,
no queue, so the failure comes back to the receiver as refused data). Data is pushed as an app's OTLP/HTTP
exporter pushes it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from doctor_helpers import GOOD_EXPORTERS, only, run
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from engines import ENGINES_BIN, EngineServer, find_binary, free_port, http_request
from otel_holysheep.doctor.collector import health_url, telemetry_url
from otel_holysheep.doctor.result import Status

pytestmark = [pytest.mark.engines, pytest.mark.slow]

OK, WARN, FAIL = Status.OK, Status.WARN, Status.FAIL
BINARIES = ("otelcol-holysheep", "otelcol-contrib")


def _binary() -> Path:
    for name in BINARIES:
        path = find_binary(name)
        if path is not None:
            return path
    pytest.skip(
        f"no Collector: otelcol-holysheep not in {ENGINES_BIN} nor on PATH; build it with `make collector` (or put "
        "an otelcol-contrib binary on PATH)"
    )


def _http_exporter(binary: Path) -> str:
    """The OTLP/HTTP exporter's type name in this build (otlp_http, or otlphttp before the rename)."""
    listed = yaml.safe_load(
        subprocess.run([str(binary), "components"], capture_output=True, text=True, check=True).stdout
    )
    names = {entry["name"] if isinstance(entry, dict) else str(entry) for entry in listed.get("exporters") or []}
    for name in ("otlp_http", "otlphttp"):
        if name in names:
            return name
    pytest.skip(f"{binary} has no OTLP/HTTP exporter (exporters: {sorted(names)}): rebuild it with `make collector`")


class CollectorServer(EngineServer):
    """One Collector; ``port`` is its health_check port (the readiness endpoint)."""

    name = "otelcol"
    ready_path = "/"

    def __init__(self, binary: Path, workdir: Path, exporter: dict[str, object]) -> None:
        super().__init__(binary, workdir)
        self.otlp_port, self.telemetry_port = free_port(), free_port()
        config = {
            "extensions": {"health_check": {"endpoint": self.address}},
            "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{self.otlp_port}"}}}},
            "exporters": exporter,
            "service": {
                "extensions": ["health_check"],
                "pipelines": {"metrics": {"receivers": ["otlp"], "exporters": list(exporter)}},
                "telemetry": {
                    "logs": {"level": "warn"},
                    "metrics": {
                        "level": "normal",
                        "readers": [
                            {"pull": {"exporter": {"prometheus": {"host": "127.0.0.1", "port": self.telemetry_port}}}}
                        ],
                    },
                },
            },
        }
        self.config_file = self.workdir / "collector.yaml"
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))

    def argv(self) -> list[str]:
        return [str(self.binary), "--config", str(self.config_file)]

    @property
    def telemetry_url(self) -> str:
        return f"http://127.0.0.1:{self.telemetry_port}/metrics"

    def push(self) -> int:
        """POST one OTLP/HTTP metrics request with one data point (what an app's OTLP exporter sends, without its
        retries, so the counts are exact); the Collector's HTTP status."""
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader])
        provider.get_meter("doctor-test").create_counter("doctor.pushed").add(3, {"model": "gpt-4.1"})
        data = reader.get_metrics_data()
        provider.shutdown()
        assert data is not None
        status, _ = http_request(
            f"http://127.0.0.1:{self.otlp_port}/v1/metrics",
            data=encode_metrics(data).SerializeToString(),
            method="POST",
            headers={"Content-Type": "application/x-protobuf"},
        )
        return status


@dataclass(frozen=True)
class Collectors:
    good: CollectorServer
    broken: CollectorServer


@pytest.fixture(scope="module")
def collectors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collectors]:
    binary = _binary()
    http_exporter = _http_exporter(binary)
    broken_exporter = {
        f"{http_exporter}/broken": {
            "endpoint": f"http://127.0.0.1:{free_port()}",
            "retry_on_failure": {"enabled": False},
            "sending_queue": {"enabled": False},
        }
    }
    with ExitStack() as stack:
        good = CollectorServer(binary, tmp_path_factory.mktemp("good"), {"debug": {"verbosity": "basic"}})
        broken = CollectorServer(binary, tmp_path_factory.mktemp("broken"), broken_exporter)
        for server in (good, broken):
            stack.callback(server.stop)
            server.start()
        for server in (good, broken):
            server.wait_ready()
        yield Collectors(good, broken)


def _collector(server: CollectorServer, **options: object) -> dict[str, tuple[Status, str, str]]:
    findings = run(dict(GOOD_EXPORTERS), collector=server.url, collector_metrics=server.telemetry_url, **options)
    return {f.check: (f.status, f.message, f.fix) for f in findings if f.section == "collector"}


def test_healthy_collector(collectors: Collectors) -> None:
    good = collectors.good
    before = _collector(good)
    assert before["collector.health"] == (OK, f"the Collector is healthy ({good.url}/ answered 200)", "")
    assert before["collector.received"] == (
        WARN,
        "the Collector has received no metric points since it started",
        "point the apps at it: OTEL_METRICS_EXPORTER=otlp, OTEL_EXPORTER_OTLP_ENDPOINT=http://<collector>:4318, "
        "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf, and check its otlp receiver's endpoints",
    )
    assert good.push() == 200
    after = _collector(good)
    assert after == {
        "collector.health": (OK, f"the Collector is healthy ({good.url}/ answered 200)", ""),
        "collector.received": (OK, "the Collector received 1 metric points since it started (1 accepted)", ""),
        "collector.refused": (OK, "no data refused by a receiver", ""),
        "collector.exports": (OK, "no failed exports", ""),
    }


def test_failing_exports(collectors: Collectors) -> None:
    broken = collectors.broken
    assert broken.push() == 503  # the exporter behind the receiver failed: retry later
    found = _collector(broken)
    assert found["collector.health"][0] is OK
    assert found["collector.received"] == (
        OK,
        "the Collector received 1 metric points since it started (0 accepted)",
        "",
    )
    status, message, fix = found["collector.refused"]
    assert (status, message) == (
        FAIL,
        "data refused since the Collector started: receiver otlp refused metric_points 1",
    )
    assert fix.startswith("the pipeline behind the receiver failed (see collector.exports)")
    status, message, fix = found["collector.exports"]
    exporter = next(iter(yaml.safe_load(broken.config_file.read_text())["exporters"]))
    assert (status, message) == (
        FAIL,
        f"exports failed since the Collector started: exporter {exporter} send failed metric_points 1",
    )
    assert fix.startswith("check each failing exporter's endpoint in the Collector config")


def test_collector_not_running() -> None:
    health_port, telemetry_port = free_port(), free_port()
    telemetry_url = f"http://127.0.0.1:{telemetry_port}/metrics"
    findings = run(dict(GOOD_EXPORTERS), collector=f"http://127.0.0.1:{health_port}", collector_metrics=telemetry_url)
    health = only(findings, "collector.health")
    assert (health.status, health.message) == (
        FAIL,
        f"cannot reach the Collector's health_check endpoint at http://127.0.0.1:{health_port}/: connection refused",
    )
    assert health.fix.startswith("start the Collector with the health_check extension")
    telemetry = only(findings, "collector.telemetry")
    assert (telemetry.status, telemetry.message) == (
        WARN,
        f"cannot read the Collector's own metrics: cannot reach the metrics endpoint at {telemetry_url}: "
        "connection refused",
    )
    assert telemetry.fix.startswith("expose them (service: telemetry: metrics: readers:")


def test_default_ports() -> None:
    assert health_url("collector") == "http://collector:13133/"
    assert health_url("http://collector:9999/health") == "http://collector:9999/health"
    assert telemetry_url("http://collector:13133") == "http://collector:8888/metrics"
