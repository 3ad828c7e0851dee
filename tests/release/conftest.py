"""Release fixtures: the sdist and wheel as `make dist` builds them, and clean virtualenvs with the built wheel
installed from its file (never the source tree): bare, and with the `[prometheus,cli]` extras."""

from __future__ import annotations

import sys

import pytest

from .release_helpers import APP_REQUIREMENTS, EXTRA, REPO, Dist, WheelVenv, clean_env, new_venv, run


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
    """A fresh virtualenv with `<wheel>[prometheus,cli]` (the README's install line plus the programs' extra) and
    the app's openai SDK."""
    return new_venv(tmp_path_factory.mktemp("wheel-venv") / "venv", [f"{dist.wheel}[{EXTRA}]", *APP_REQUIREMENTS])


@pytest.fixture(scope="session")
def bare_venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> WheelVenv:
    """A fresh virtualenv with the bare wheel and nothing else (what the bare-install test inspects first)."""
    return new_venv(tmp_path_factory.mktemp("bare-venv") / "venv", [dist.wheel])
