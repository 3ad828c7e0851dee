"""Start and stop real metric engines (Prometheus, VictoriaMetrics) on loopback for end-to-end tests.

The binaries come from ``scripts/fetch-engines.sh`` (``.cache/engines/bin``), else from PATH. Each server listens on
127.0.0.1 on a free port, keeps its data in a temporary directory, writes its log to a file there (shown in errors),
and is stopped (terminate, then kill) by ``stop()`` / leaving the ``with`` block. Typical use::

    from engines import (prometheus_config, require_binary, shipped_rule_files, start_prometheus,
                         start_victoria_metrics)
    # (tests/deploy/conftest.py puts tests/ on sys.path; elsewhere do the same in a conftest.py)

    require_binary("prometheus")                       # pytest.skip with a how-to when missing
    config = prometheus_config({"holysheep-apps": ["127.0.0.1:9464"]})   # shipped prometheus.yml, test targets
    with start_prometheus(config, shipped_rule_files(tmp_path, for_="0s"), tmp_path) as prom:
        prom.wait_for("up == 1")
        prom.query('sum by (model) (rate(holysheep_requests_total[1m]))')

    with start_victoria_metrics(tmp_path) as vm:
        exporter = OTLPMetricExporter(endpoint=vm.otlp_metrics_url)
        ...
        vm.wait_for("holysheep_requests_total")

    # every dashboard panel's query, variables filled in (grafana/generate.py's dashboard_queries):
    for pq in dashboard_queries(rate_interval="1m", range_="5m"):   # PanelQuery(panel, ref_id, expr, instant)
        assert prom.query(pq.expr), pq.panel

Timing: Prometheus scrapes a new target about 5 s after start (its service discovery is throttled), so share one
server per module where possible; VictoriaMetrics makes OTLP data queryable within ~1 s (``wait_for`` polls for it).
Only the standard library (plus PyYAML and, for the skip helper, pytest) is used.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
ENGINES_BIN = REPO / ".cache" / "engines" / "bin"
SHIPPED_PROMETHEUS_CONFIG = REPO / "prometheus.yml"
SHIPPED_RULE_FILES: tuple[Path, ...] = tuple(sorted((REPO / "prometheus" / "rules").glob("*.yml")))
FETCH_HINT = "run scripts/fetch-engines.sh (make engines) to fetch prometheus, promtool and victoria-metrics"
GO_BUILD_HINT = (
    "it is built from Go modules by `make engines` (scripts/build-go-engines.sh) when Go 1.26+ is on PATH: install Go"
    " (https://go.dev/doc/install) and run `make engines`"
)
# Engines built from Go modules (scripts/build-go-engines.sh) and what each is for, for skip messages.
GO_ENGINES = {
    "otelcol-holysheep": (
        f"our OpenTelemetry Collector distribution: {GO_BUILD_HINT} (or `make collector`); or link an otelcol-contrib"
        f" binary of release 0.158 or newer there: ln -s $(command -v otelcol-contrib) {ENGINES_BIN}/otelcol-holysheep"
    ),
    "prometheus3": f"Prometheus 3: {GO_BUILD_HINT}",
    "promtool3": f"Prometheus 3's promtool: {GO_BUILD_HINT}",
}

DEFAULT_READY_TIMEOUT = 20.0
_LOOPBACK = "127.0.0.1"


class EngineError(RuntimeError):
    """A server did not start, died, or answered an API call with an error."""


# --- binaries ---------------------------------------------------------------------------------------------------------
def find_binary(name: str) -> Path | None:
    """``.cache/engines/bin/NAME`` if present (what fetch-engines.sh installs), else NAME on PATH, else None."""
    local = ENGINES_BIN / name
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which(name)
    return Path(found) if found else None


def require_binary(name: str) -> Path:
    """Like find_binary, but skips the calling test (pytest.skip) with a how-to-get-it reason when missing."""
    path = find_binary(name)
    if path is None:
        import pytest

        pytest.skip(f"{name} not found in {ENGINES_BIN} nor on PATH: {GO_ENGINES.get(name, FETCH_HINT)}")
    return path


# A port handed to a server by number (a Collector cannot report the port it bound) is picked below the kernel's
# ephemeral range, so no outgoing connection's source port and no bind(0) listener can take it before the server
# binds it, and it is held by an flock so no other picker (another copy of this module, another pytest process of
# the compatibility matrix) hands it out again while it is in use. A port picked with bind(0) and released (the old
# way) lost that race now and then in CI: "bind: address already in use".
_PORT_LOCK_DIR = Path(tempfile.gettempdir()) / "otel-holysheep-test-ports"
_PORT_LOCKS_KEPT = 512  # a port picked this many picks ago was bound long since (or never will be): its lock goes
_port_locks: collections.deque[Any] = collections.deque()
_port_cursor: list[int] = []


def _reservable_ports() -> range:
    """Ports below the ephemeral range (``ip_local_port_range``), from 10000; empty if that range starts too low."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(10000, low)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((_LOOPBACK, port))
        except OSError:
            return False
        return True


def _lock_port(port: int) -> bool:
    """Hold ``port``'s lock file for this process (until ``_PORT_LOCKS_KEPT`` more are picked); False if held."""
    _PORT_LOCK_DIR.mkdir(parents=True, exist_ok=True)
    handle = open(_PORT_LOCK_DIR / str(port), "a")  # noqa: SIM115 - kept open: the lock lives as long as the handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return False
    _port_locks.append(handle)
    while len(_port_locks) > _PORT_LOCKS_KEPT:
        _port_locks.popleft().close()
    return True


def free_port() -> int:
    """A TCP port free on 127.0.0.1 that no other test picks while it is in use (see ``_PORT_LOCK_DIR``)."""
    ports = _reservable_ports()
    if len(ports) < 1000:  # an unusual kernel setting: fall back to bind(0), read, close
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((_LOOPBACK, 0))
            return int(s.getsockname()[1])
    if not _port_cursor:
        _port_cursor.append(ports.start + (os.getpid() * 7919) % len(ports))
    for _ in range(len(ports)):
        port = _port_cursor[0]
        _port_cursor[0] = port + 1 if port + 1 < ports.stop else ports.start
        if _lock_port(port) and _bindable(port):
            return port
    raise EngineError(f"no free port in {ports.start}-{ports.stop - 1} on {_LOOPBACK}")


# --- HTTP -------------------------------------------------------------------------------------------------------------
def http_request(
    url: str,
    *,
    data: bytes | None = None,
    method: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """(status, body) of one HTTP request; HTTP error statuses are returned, not raised."""
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def wait_until_serving(url: str, proc: subprocess.Popen[Any], log: Path, what: str, timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers 200; fail with the tail of ``log`` if ``proc`` exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{what} did not start (exit status {proc.poll()}): {log.read_text()[-3000:]}")
        time.sleep(0.1)


# --- servers ----------------------------------------------------------------------------------------------------------
class EngineServer:
    """One server process on 127.0.0.1:port. Subclasses give the argv, the readiness path and the API extras."""

    name = "engine"
    ready_path = "/"

    def __init__(self, binary: Path, workdir: Path, port: int | None = None) -> None:
        self.binary = Path(binary)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.log_path = self.workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] | None = None  # the process environment; None: inherit this one

    # subclasses
    def argv(self) -> list[str]:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://{_LOOPBACK}:{self.port}"

    @property
    def address(self) -> str:
        """host:port, as a scrape target."""
        return f"{_LOOPBACK}:{self.port}"

    # lifecycle
    def start(self) -> EngineServer:
        if self.proc is not None:
            raise EngineError(f"{self.name} already started")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                env=self.env,
            )
        return self

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = DEFAULT_READY_TIMEOUT) -> EngineServer:
        """Poll the readiness endpoint until it answers 200; raise EngineError (with the log) on exit or timeout."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not self.running():
                code = self.proc.returncode if self.proc else None
                raise EngineError(f"{self.name} exited ({code}) before it was ready; log:\n{self.log_tail()}")
            try:
                status, body = http_request(self.url + self.ready_path, timeout=2)
                if status == 200:
                    return self
                last = f"HTTP {status} {body[:200]!r}"
            except (OSError, urllib.error.URLError) as err:
                last = repr(err)
            time.sleep(0.1)
        raise EngineError(f"{self.name} not ready after {timeout:.0f}s at {self.url} ({last}); log:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate, wait, kill if still alive. Safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def __enter__(self) -> EngineServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # API
    def get_json(self, path: str, params: Mapping[str, Any] | None = None, timeout: float = 10.0) -> Any:
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        status, body = http_request(url, timeout=timeout)
        try:
            doc = json.loads(body)
        except ValueError as err:
            raise EngineError(f"{self.name} {path}: HTTP {status}, not JSON: {body[:300]!r}") from err
        if status != 200 or (isinstance(doc, dict) and doc.get("status") == "error"):
            raise EngineError(f"{self.name} {path} {dict(params or {})}: HTTP {status}: {body[:500]!r}")
        return doc

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query: the ``data.result`` list (vector: [{"metric": {...}, "value": [ts, "v"]}, ...]).

        A scalar/string result is returned as a one-element list ``[{"metric": {}, "value": [ts, "v"]}]``.
        """
        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.get_json("/api/v1/query", params)["data"]
        if data.get("resultType") in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def query_values(self, promql: str) -> dict[tuple[tuple[str, str], ...], float]:
        """Instant query as {sorted label items: float value}."""
        return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in self.query(promql)}

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return list(self.get_json("/api/v1/query_range", params)["data"]["result"])

    def wait_for(
        self,
        promql: str,
        predicate: Callable[[list[dict[str, Any]]], bool] = bool,
        timeout: float = 20.0,
        interval: float = 0.25,
    ) -> list[dict[str, Any]]:
        """Re-run an instant query until predicate(result) holds (default: non-empty); return that result."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while True:
            result = self.query(promql)
            if predicate(result):
                return result
            if time.monotonic() >= deadline:
                raise EngineError(
                    f"{self.name}: {promql!r} did not satisfy the condition in {timeout:.0f}s; last result: {result!r}"
                )
            if not self.running():
                raise EngineError(f"{self.name} died; log:\n{self.log_tail()}")
            time.sleep(interval)


class PrometheusServer(EngineServer):
    name = "prometheus"
    ready_path = "/-/ready"

    def __init__(
        self,
        binary: Path,
        workdir: Path,
        config_file: Path,
        *,
        enable_lifecycle: bool = True,
        extra_args: Sequence[str] = (),
        port: int | None = None,
    ) -> None:
        super().__init__(binary, workdir, port)
        self.config_file = Path(config_file)
        self.enable_lifecycle = enable_lifecycle
        self.extra_args = list(extra_args)

    def argv(self) -> list[str]:
        args = [
            str(self.binary),
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={self.address}",
            "--log.level=info",
        ]
        if self.enable_lifecycle:
            args.append("--web.enable-lifecycle")
        return args + self.extra_args

    def rules(self) -> list[dict[str, Any]]:
        """``/api/v1/rules`` groups (each with ``rules``: name, health, lastError, state for alerts...)."""
        return list(self.get_json("/api/v1/rules")["data"]["groups"])

    def alerts(self) -> list[dict[str, Any]]:
        """Active (pending or firing) alerts from ``/api/v1/alerts``."""
        return list(self.get_json("/api/v1/alerts")["data"]["alerts"])

    def firing_alerts(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts() if a.get("state") == "firing"]

    def targets(self) -> list[dict[str, Any]]:
        return list(self.get_json("/api/v1/targets", {"state": "active"})["data"]["activeTargets"])

    def reload(self) -> None:
        """POST /-/reload (needs enable_lifecycle)."""
        status, body = http_request(self.url + "/-/reload", data=b"", method="POST")
        if status != 200:
            raise EngineError(f"prometheus reload failed: HTTP {status} {body[:300]!r}")


class Prometheus3Server(PrometheusServer):
    """Prometheus 3 (built from its Go module) with its OTLP receiver and exemplar storage switched on.

    OTLP/HTTP metrics go to ``otlp_metrics_url``; Prometheus 3 names them as the Prometheus exporter does
    (``holysheep_requests_total``...), sets ``job`` / ``instance`` from ``service.name`` / ``service.instance.id``,
    and stores exponential histograms as native histograms. Exemplars arriving with OTLP are kept
    (``query_exemplars``)."""

    name = "prometheus3"

    def __init__(self, *args: Any, otlp: bool = True, exemplars: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.otlp = otlp
        self.exemplars = exemplars

    def argv(self) -> list[str]:
        args = super().argv()
        if self.otlp:
            args.append("--web.enable-otlp-receiver")
        if self.exemplars:
            args.append("--enable-feature=exemplar-storage")
        return args

    @property
    def otlp_metrics_url(self) -> str:
        """Full OTLP/HTTP metrics endpoint (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, or a Collector's otlp_http
        ``metrics_endpoint``)."""
        return self.url + "/api/v1/otlp/v1/metrics"

    @property
    def otlp_base_url(self) -> str:
        """Base for OTEL_EXPORTER_OTLP_ENDPOINT or a Collector's otlp_http ``endpoint`` (``/v1/metrics`` appended)."""
        return self.url + "/api/v1/otlp"

    def query_exemplars(self, promql: str, start: float, end: float) -> list[dict[str, Any]]:
        """``/api/v1/query_exemplars``: [{"seriesLabels": {...}, "exemplars": [{"labels": {...}, "value", ...}]}]."""
        params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}"}
        return list(self.get_json("/api/v1/query_exemplars", params)["data"])

    def wait_for_exemplars(self, promql: str, start: float, end: float, timeout: float = 20.0) -> list[dict[str, Any]]:
        """query_exemplars until it returns at least one exemplar."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query_exemplars(promql, start, end)
            if any(series.get("exemplars") for series in result):
                return result
            if time.monotonic() >= deadline:
                raise EngineError(f"{self.name}: no exemplars for {promql!r} in {timeout:.0f}s")
            time.sleep(0.25)


class VictoriaMetricsServer(EngineServer):
    name = "victoria-metrics"
    ready_path = "/health"

    def __init__(
        self,
        binary: Path,
        workdir: Path,
        *,
        prometheus_naming: bool = True,
        extra_args: Sequence[str] = (),
        port: int | None = None,
    ) -> None:
        super().__init__(binary, workdir, port)
        self.prometheus_naming = prometheus_naming
        self.extra_args = list(extra_args)

    def argv(self) -> list[str]:
        args = [
            str(self.binary),
            f"-httpListenAddr={self.address}",
            f"-storageDataPath={self.workdir / 'data'}",
            "-retentionPeriod=1d",
            "-search.latencyOffset=0s",
            "-search.disableCache",
        ]
        if self.prometheus_naming:
            args.append("-opentelemetry.usePrometheusNaming")
        return args + self.extra_args

    @property
    def otlp_metrics_url(self) -> str:
        """Full OTLP/HTTP metrics endpoint, for OTLPMetricExporter(endpoint=...) or a Collector's otlp_http exporter."""
        return self.url + "/opentelemetry/v1/metrics"

    @property
    def otlp_base_url(self) -> str:
        """Base for OTEL_EXPORTER_OTLP_ENDPOINT (the SDK appends /v1/metrics)."""
        return self.url + "/opentelemetry"

    def flush(self) -> None:
        """Ask VictoriaMetrics to make what it ingested searchable (``/internal/force_flush``). The newest samples can
        still take up to ~1 s to show in queries: poll with ``wait_for`` (which flushes on every round)."""
        status, body = http_request(self.url + "/internal/force_flush")
        if status != 200:
            raise EngineError(f"victoria-metrics force_flush: HTTP {status} {body[:300]!r}")

    def metric_names(self) -> list[str]:
        return list(self.get_json("/api/v1/label/__name__/values")["data"])

    def series(self, match: str) -> list[dict[str, str]]:
        return list(self.get_json("/api/v1/series", {"match[]": match})["data"])

    def wait_for(
        self,
        promql: str,
        predicate: Callable[[list[dict[str, Any]]], bool] = bool,
        timeout: float = 20.0,
        interval: float = 0.25,
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            self.flush()
            try:
                return super().wait_for(promql, predicate, timeout=min(interval * 2, 1.0), interval=interval)
            except EngineError:
                if time.monotonic() >= deadline or not self.running():
                    raise


def _start(server: EngineServer, ready_timeout: float, attempts: int = 3) -> EngineServer:
    """Start and wait until ready; on a lost port race (address in use) retry on another free port."""
    for attempt in range(attempts):
        server.start()
        try:
            return server.wait_ready(ready_timeout)
        except EngineError:
            log = server.log_tail(50).lower()
            server.stop()
            if "address already in use" in log and attempt + 1 < attempts:
                server.port = free_port()
                continue
            raise
    raise EngineError("unreachable")  # pragma: no cover


# --- the Grafana dashboard's queries ----------------------------------------------------------------------------
def load_grafana_generate() -> Any:
    """grafana/generate.py as a module (it is a script, not a package)."""
    import importlib.util
    import sys

    name = "holysheep_grafana_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "grafana" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def dashboard_queries(**kwargs: Any) -> list[Any]:
    """Every panel query of the HolySheep dashboard with $job/$instance/$model = .* and the interval variables filled
    (keyword arguments: values, rate_interval, range_, interval; see grafana/generate.py dashboard_queries)."""
    return list(load_grafana_generate().dashboard_queries(**kwargs))


# --- Prometheus configuration helpers -----------------------------------------------------------------------------
def prometheus_config(
    targets: Mapping[str, Iterable[str]],
    *,
    base: str | Path = SHIPPED_PROMETHEUS_CONFIG,
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
    drop_other_jobs: bool = True,
) -> str:
    """The shipped prometheus.yml with each named job's targets replaced (``{"holysheep-apps": ["127.0.0.1:1234"]}``).

    Jobs not named are dropped (``drop_other_jobs``) so no target is reported down; intervals are shortened for tests.
    ``rule_files`` entries are made absolute (against the base file's directory), so the text works from anywhere.
    """
    config = yaml.safe_load(Path(base).read_text())
    config.setdefault("global", {}).update(scrape_interval=scrape_interval, evaluation_interval=evaluation_interval)
    jobs = []
    for job in config.get("scrape_configs", []):
        name = job["job_name"]
        if name in targets:
            job.pop("file_sd_configs", None)
            job["static_configs"] = [{"targets": list(targets[name])}]
            job["scrape_interval"] = scrape_interval
            jobs.append(job)
        elif not drop_other_jobs:
            jobs.append(job)
    unknown = set(targets) - {j["job_name"] for j in config.get("scrape_configs", [])}
    if unknown:
        raise ValueError(f"no such job(s) in {base}: {sorted(unknown)}")
    config["scrape_configs"] = jobs
    base_dir = Path(base).resolve().parent
    config["rule_files"] = [str(base_dir / p) for p in config.get("rule_files") or []]
    return yaml.safe_dump(config, sort_keys=False)


_FOR_RE = re.compile(r"^(\s*for:\s*)\S+\s*$", re.MULTILINE)


def shipped_rule_files(tmp_path: Path, *, for_: str | None = None) -> list[Path]:
    """Copies of prometheus/rules/*.yml in tmp_path; with ``for_`` (e.g. "0s") every alert's ``for:`` is replaced,
    so an end-to-end test need not wait 5-15 minutes for alerts to fire."""
    out_dir = Path(tmp_path) / "rules"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for src in SHIPPED_RULE_FILES:
        text = src.read_text()
        if for_ is not None:
            text = _FOR_RE.sub(lambda m: m.group(1) + for_, text)
        dst = out_dir / src.name
        dst.write_text(text)
        out.append(dst)
    return out


def _load_config(config_text_or_path: str | Path) -> tuple[dict[str, Any], Path | None]:
    if isinstance(config_text_or_path, Path) or (
        "\n" not in config_text_or_path and Path(config_text_or_path).is_file()
    ):
        path = Path(config_text_or_path).resolve()
        return yaml.safe_load(path.read_text()) or {}, path.parent
    return yaml.safe_load(config_text_or_path) or {}, None


def _write_prometheus_config(
    config_text_or_path: str | Path, rule_files: Iterable[str | Path] | None, workdir: Path
) -> Path:
    """workdir/prometheus.yml from YAML text or a path, with rule_files replaced (or resolved against the path)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config, base_dir = _load_config(config_text_or_path)
    if rule_files is not None:
        config["rule_files"] = [str(Path(p).resolve()) for p in rule_files]
    elif base_dir is not None:
        config["rule_files"] = [str((base_dir / p).resolve()) for p in config.get("rule_files") or []]
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    return config_file


def start_prometheus(
    config_text_or_path: str | Path,
    rule_files: Iterable[str | Path] | None,
    tmp_path: Path,
    *,
    enable_lifecycle: bool = True,
    extra_args: Sequence[str] = (),
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
    binary: Path | None = None,
) -> PrometheusServer:
    """Start Prometheus on 127.0.0.1:<free port> with data and log under tmp_path/prometheus; return it ready.

    ``config_text_or_path``: YAML text (e.g. from prometheus_config) or a path. ``rule_files``: paths (globs allowed)
    replacing the config's own; None keeps the config's, resolved against its directory. Use as a context manager
    (or call .stop()).
    """
    binary = binary or find_binary("prometheus")
    if binary is None:
        raise EngineError(f"prometheus binary not found: {FETCH_HINT}")
    workdir = Path(tmp_path) / "prometheus"
    config_file = _write_prometheus_config(config_text_or_path, rule_files, workdir)
    server = PrometheusServer(binary, workdir, config_file, enable_lifecycle=enable_lifecycle, extra_args=extra_args)
    _start(server, ready_timeout)
    return server


def start_prometheus3(
    config_text_or_path: str | Path,
    rule_files: Iterable[str | Path] | None,
    tmp_path: Path,
    *,
    otlp: bool = True,
    exemplars: bool = True,
    extra_args: Sequence[str] = (),
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
) -> Prometheus3Server:
    """Like start_prometheus, with the Go-built Prometheus 3 (``prometheus3``), its OTLP receiver and exemplar storage
    on. Raises EngineError when the binary is missing (tests call ``require_binary("prometheus3")`` first)."""
    binary = find_binary("prometheus3")
    if binary is None:
        raise EngineError(f"prometheus3 binary not found: {GO_ENGINES['prometheus3']}")
    workdir = Path(tmp_path) / "prometheus3"
    config_file = _write_prometheus_config(config_text_or_path, rule_files, workdir)
    server = Prometheus3Server(binary, workdir, config_file, otlp=otlp, exemplars=exemplars, extra_args=extra_args)
    _start(server, ready_timeout)
    return server


def start_victoria_metrics(
    tmp_path: Path,
    *,
    prometheus_naming: bool = True,
    extra_args: Sequence[str] = (),
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
    binary: Path | None = None,
) -> VictoriaMetricsServer:
    """Start single-node VictoriaMetrics on 127.0.0.1:<free port> (OTLP/HTTP ingestion at .otlp_metrics_url, PromQL
    at /api/v1/query), data and log under tmp_path/victoria-metrics; return it ready. Context manager / .stop()."""
    binary = binary or find_binary("victoria-metrics")
    if binary is None:
        raise EngineError(f"victoria-metrics binary not found: {FETCH_HINT}")
    server = VictoriaMetricsServer(
        binary, Path(tmp_path) / "victoria-metrics", prometheus_naming=prometheus_naming, extra_args=extra_args
    )
    _start(server, ready_timeout)
    return server


@contextlib.contextmanager
def static_exposition_server(text: str | Callable[[], str]) -> Any:
    """A stdlib HTTP server on 127.0.0.1:<free port> serving Prometheus exposition text at any path; yields its
    host:port. ``text`` may be a callable, re-evaluated on every scrape."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = (text() if callable(text) else text).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer((_LOOPBACK, 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"{_LOOPBACK}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
