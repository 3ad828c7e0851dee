"""Helpers of the release tests: where the repository is, what `make dist` built, the wheel's virtualenv."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements" / "dev.txt"
EXTRA = "prometheus"  # the extra the README's install line names
APP_REQUIREMENTS = ("openai",)  # the user's app's own dependency (openai 3.x brings httpx2), not ours


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


def clean_env() -> dict[str, str]:
    """This process's environment without anything that would point Python at the source tree or the dev venv."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("OTEL_")}
