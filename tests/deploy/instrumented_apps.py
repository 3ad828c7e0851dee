"""Instrumented app processes for the push-path end-to-end tests: the traffic app and a gunicorn web app, each under
``opentelemetry-instrument`` with no OpenTelemetry code of their own, pushing OTLP/HTTP (metrics every second,
spans every half second) to a Collector or straight to a store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from engines import free_port, wait_until_serving
from otel_holysheep.demo.run import stop

APPS = Path(__file__).parent / "apps"
BIN = Path(sys.executable).parent


def otlp_env(
    gateway_url: str,
    otlp_url: str | None,
    *,
    service: str,
    tag: str = "",
    resource: Mapping[str, str] | None = None,
    traces: bool = True,
    metrics_url: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of an instrumented app pushing to ``otlp_url`` (OTEL_EXPORTER_OTLP_ENDPOINT), or with
    ``metrics_url`` its metrics to that full URL (a store's OTLP endpoint) and spans to ``otlp_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        {
            "GATEWAY_URL": gateway_url,
            "APP_TAG": tag,
            "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": gateway_url,
            # every dashboard panel and rule is checked on this data: the opt-in detail histograms too
            "OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS": "true",
            "OTEL_SERVICE_NAME": service,
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_TRACES_EXPORTER": "otlp" if traces else "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "cumulative",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "OTEL_BSP_SCHEDULE_DELAY": "500",
        }
    )
    if otlp_url:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp_url
    if metrics_url:
        env["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] = metrics_url
    if resource:
        env["OTEL_RESOURCE_ATTRIBUTES"] = ",".join(f"{k}={v}" for k, v in resource.items())
    env.update(extra or {})
    return env


@dataclass
class TrafficApp:
    """A running traffic app; ``finish()`` ends it and returns the tokens it was told about."""

    proc: subprocess.Popen[str]
    tokens: Counter[str] = field(default_factory=Counter)

    def finish(self, timeout: float = 60.0) -> Counter[str]:
        """Close stdin (the app finishes its round, prints TOTALS and exits, flushing its telemetry)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.stdin = None  # communicate() would flush the closed pipe
        out, err = self.proc.communicate(timeout=timeout)
        totals = [line for line in out.splitlines() if line.startswith("TOTALS ")]
        assert self.proc.returncode == 0 and totals, f"traffic app failed ({self.proc.returncode}): {err[-2000:]}"
        self.tokens = Counter(json.loads(totals[-1].removeprefix("TOTALS ")))
        return self.tokens


@contextmanager
def traffic_app(env: Mapping[str, str], pause_s: float = 0.2) -> Iterator[TrafficApp]:
    """tests/deploy/apps/traffic_app.py under opentelemetry-instrument; READY once its first round is done."""
    command = [str(BIN / "opentelemetry-instrument"), sys.executable, str(APPS / "traffic_app.py")]
    proc = subprocess.Popen(
        command,
        env={**env, "PAUSE_S": str(pause_s)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    app = TrafficApp(proc)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "READY":
            proc.kill()
            raise AssertionError(f"the traffic app did not start: {line!r} {proc.communicate(timeout=10)[1][-3000:]}")
        yield app
    finally:
        if proc.returncode is None:
            stop(proc)


@dataclass
class WebApp:
    url: str
    proc: subprocess.Popen[str]

    def round(self, n: int) -> dict[str, object]:
        with urllib.request.urlopen(f"{self.url}/round?n={n}", timeout=60) as response:
            return dict(json.loads(response.read()))


@contextmanager
def gunicorn_app(env: Mapping[str, str], log: Path, workers: int = 2) -> Iterator[WebApp]:
    """tests/deploy/apps/web_app.py served by gunicorn with ``workers`` pre-forked worker processes, all under one
    ``opentelemetry-instrument``; stopped (SIGTERM to the arbiter, which stops its workers) on exit."""
    port = free_port()
    command = [
        str(BIN / "opentelemetry-instrument"),
        str(BIN / "gunicorn"),
        f"--workers={workers}",
        f"--bind=127.0.0.1:{port}",
        f"--chdir={APPS}",
        "--graceful-timeout=10",
        "web_app:app",
    ]
    with log.open("w") as log_file:
        proc = subprocess.Popen(command, env=dict(env), stdout=log_file, stderr=subprocess.STDOUT, text=True)
    app = WebApp(f"http://127.0.0.1:{port}", proc)
    try:
        wait_until_serving(f"{app.url}/health", proc, log, "gunicorn")
        yield app
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
