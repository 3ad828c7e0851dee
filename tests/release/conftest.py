"""Release fixtures: the sdist and wheel as `make dist` builds them, and one clean virtualenv per test session with
the built wheel installed from its file (never the source tree) plus the `[prometheus]` extra."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .release_helpers import APP_REQUIREMENTS, EXTRA, LOCK, REPO, Dist, WheelVenv, clean_env, run


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """`make dist`'s command into a temporary folder: the sdist, then the wheel built from the unpacked sdist, with
    the pinned hatchling of this environment (so a file the sdist lacks is missing from the wheel too)."""
    out = tmp_path_factory.mktemp("dist")
    proc = run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, REPO], timeout=180, env=clean_env())
    assert "Building wheel from sdist" in proc.stdout + proc.stderr, proc.stderr  # not from the working tree
    sdists, wheels = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, sorted(p.name for p in out.iterdir())
    return Dist(sdist=sdists[0], wheel=wheels[0])


@pytest.fixture(scope="session")
def wheel_venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> WheelVenv:
    """A fresh `python -m venv` with `<wheel>[prometheus]` and the app's openai SDK, resolved by pip from the
    machine's configured index (pip's own cache is used), versions held to requirements/dev.txt so the installed set
    is the one the rest of the suite tests."""
    root = tmp_path_factory.mktemp("wheel-venv") / "venv"
    run([sys.executable, "-m", "venv", root], timeout=120, env=clean_env())
    python = root / "bin" / "python"
    run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            "--constraint",
            LOCK,
            f"{dist.wheel}[{EXTRA}]",
            *APP_REQUIREMENTS,
        ],
        timeout=240,
        env=clean_env(),
        cwd=root,
    )
    purelib = run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], timeout=30, env=clean_env()
    ).stdout.strip()
    return WheelVenv(bin=root / "bin", python=python, site_packages=Path(purelib))
