"""Helpers of the release tests: where the repository is, what `make dist` built, the wheel's virtualenv."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements" / "dev.txt"
EXTRA = "prometheus,cli"  # the README's install line's extra, and the programs' (doctor, report)
APP_REQUIREMENTS = ("openai",)  # the user's app's own dependency (openai 3.x brings httpx2), not ours
# A platform team's own OpenTelemetry set-up in an app that installs the bare wheel (none of it comes from us).
APP_OTEL_SETUP = ("opentelemetry-sdk", "opentelemetry-distro", "opentelemetry-exporter-otlp-proto-http")


@dataclass(frozen=True)
class Dist:
    sdist: Path
    wheel: Path


@dataclass(frozen=True)
class WheelVenv:
    bin: Path
    python: Path
    site_packages: Path


def run(
    argv: list[str | Path], *, timeout: float, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; a failure shows its output in the test report."""
    proc = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, check=False, env=env, cwd=cwd
    )
    if proc.returncode != 0:
        pytest.fail(f"{argv} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


def new_venv(root: Path, requirements: list[str | Path]) -> WheelVenv:
    """``python -m venv root`` and pip install ``requirements`` from the machine's configured index (pip's own cache
    is used), versions held to requirements/dev.txt so the installed set is the one the rest of the suite tests."""
    run([sys.executable, "-m", "venv", root], timeout=120, env=clean_env())
    python = root / "bin" / "python"
    venv_pip_install(python, requirements, cwd=root)
    purelib = run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], timeout=30, env=clean_env()
    ).stdout.strip()
    return WheelVenv(bin=root / "bin", python=python, site_packages=Path(purelib))


def venv_pip_install(python: Path, requirements: list[str | Path], cwd: Path) -> None:
    run(
        [python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--constraint", LOCK, *requirements],
        timeout=300,
        env=clean_env(),
        cwd=cwd,
    )


def clean_env() -> dict[str, str]:
    """This process's environment without anything that would point Python at the source tree or the dev venv."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("OTEL_")}
