"""Helpers for the doctor tests: run the doctor in-process or as a command, run the test app under
opentelemetry-instrument, and build a Python environment with some distributions left out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from otel_holysheep.demo.run import stop
from otel_holysheep.doctor.cli import Options, collect
from otel_holysheep.doctor.result import Finding, Status
from otel_holysheep.report.sources import parse_exposition

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
APP = Path(__file__).parent / "apps" / "doctor_app.py"
INSTRUMENT = Path(sys.executable).with_name("opentelemetry-instrument")
# What a correctly set-up pull app runs with (the README's "Use it in your app").
GOOD_EXPORTERS = {"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_TRACES_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}
_CLEARED = ("OTEL_", "OPENAI_", "HOLYSHEEP_")


def clean_environ() -> dict[str, str]:
    """This process's environment without any OTEL_* / OPENAI_* / HOLYSHEEP_* variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED)}


def run(env: Mapping[str, str], **options: Any) -> list[Finding]:
    """The doctor's findings, in-process, for ``env`` and ``Options(**options)``."""
    return collect(Options(**options), env)


def only(findings: Sequence[Finding], check: str) -> Finding:
    matching = [f for f in findings if f.check == check]
    assert len(matching) == 1, (check, matching)
    return matching[0]


def every(findings: Sequence[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check == check]


def statuses(findings: Sequence[Finding], prefix: str) -> dict[str, list[Status]]:
    """{check: [status, ...]} for the checks under ``prefix`` (e.g. "gateway.")."""
    found: dict[str, list[Status]] = {}
    for finding in findings:
        if finding.check.startswith(prefix):
            found.setdefault(finding.check, []).append(finding.status)
    return found


def doctor_command(
    argv: Sequence[str], env: Mapping[str, str], *, python: Sequence[str] | None = None
) -> tuple[int, dict[str, Any], str]:
    """Run ``otel-holysheep doctor ARGV --format json`` as a process: (exit status, the JSON document, stderr)."""
    command = [
        *(python or [str(Path(sys.executable).with_name("otel-holysheep"))]),
        "doctor",
        *argv,
        "--format",
        "json",
    ]
    done = subprocess.run(command, env=dict(env), capture_output=True, text=True, timeout=60, check=False)
    try:
        document = json.loads(done.stdout)
    except ValueError as error:
        raise AssertionError(f"no JSON from {command}: {done.stdout!r} {done.stderr!r}") from error
    return done.returncode, document, done.stderr


def checks_of(document: Mapping[str, Any], check: str) -> list[dict[str, Any]]:
    return [c for c in document["checks"] if c["check"] == check]


def restricted_site(tmp_path: Path, without: Sequence[str]) -> Path:
    """A copy (symlinks) of this virtualenv's site-packages without the entries whose names start with ``without``
    (e.g. a distribution's ``*.dist-info``) and without .pth files: what importlib.metadata sees when those
    distributions are not installed."""
    site = Path(sysconfig.get_paths()["purelib"])
    out = tmp_path / "site-packages"
    out.mkdir()
    for entry in site.iterdir():
        if entry.suffix == ".pth" or entry.name.startswith(tuple(without)):
            continue
        (out / entry.name).symlink_to(entry)
    return out


def python_with_site(site: Path) -> list[str]:
    """argv prefix that runs the otel-holysheep command on ``site`` only (no site module, src on the path)."""
    boot = f"import sys; sys.path[1:1] = [{str(site)!r}, {str(SRC)!r}]; from otel_holysheep.cli import main; "
    return [sys.executable, "-S", "-c", boot + "sys.exit(main())"]


def app_env(gateway_url: str, port: int, **extra: str) -> dict[str, str]:
    env = clean_environ()
    env.update(
        {
            "GATEWAY_URL": gateway_url,
            "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": gateway_url,
            "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
            "OTEL_EXPORTER_PROMETHEUS_PORT": str(port),
            "OTEL_SERVICE_NAME": "doctor-app",
            **GOOD_EXPORTERS,
            **extra,
        }
    )
    return {k: v for k, v in env.items() if v != "<unset>"}


def start_app(mode: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(INSTRUMENT), sys.executable, str(APP), mode],
        env=dict(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "READY":
        stop(proc)
        raise AssertionError(f"the doctor test app did not start: {line!r}")


@contextmanager
def running_app(mode: str, env: Mapping[str, str]) -> Iterator[subprocess.Popen[str]]:
    proc = start_app(mode, env)
    try:
        wait_ready(proc)
        yield proc
    finally:
        stop(proc)


def stderr_of(proc: subprocess.Popen[str]) -> str:
    """Everything the (stopped) app wrote on stderr."""
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.close()
    proc.wait(timeout=10)
    return proc.stderr.read()


def samples(url: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a /metrics page, read with plain urllib."""
    with urllib.request.urlopen(url, timeout=5) as answer:
        return parse_exposition(answer.read().decode(), url=url)


def sample_names(url: str) -> set[str]:
    return {name for name, _, _ in samples(url)}


def metric_value(url: str, name: str, labels: Mapping[str, str]) -> float | None:
    for sample, sample_labels, value in samples(url):
        if sample == name and all(sample_labels.get(k) == v for k, v in labels.items()):
            return value
    return None


def wait_until(predicate: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
