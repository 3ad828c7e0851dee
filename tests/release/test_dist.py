"""What `make dist` builds: the wheel carries the whole package, its price book, `py.typed`, both entry points and
the license; the sdist carries what building that wheel needs and none of the repository's caches; both pass
`twine check --strict`."""

from __future__ import annotations

import configparser
import re
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import PurePosixPath

import pytest

from otel_holysheep.version import __version__

from .release_helpers import REPO, Dist, clean_env, run

pytestmark = pytest.mark.slow

PACKAGE = REPO / "src" / "otel_holysheep"
DIST_INFO = f"otel_holysheep-{__version__}.dist-info"
SDIST_ROOT = f"otel_holysheep-{__version__}"
# Written by tools, never shipped: a build run in a working copy that has them must still leave them out.
CACHE_PARTS = {".venv", ".cache", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis", ".git"}
SDIST_MAX_BYTES = 512 * 1024  # today ~110 KiB; a stray virtualenv or data dump would be megabytes


def package_files() -> set[str]:
    """The source package's files as paths inside the wheel (what a build must carry), caches left out."""
    return {
        f"otel_holysheep/{path.relative_to(PACKAGE).as_posix()}"
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc", ".pyo"}
    }


def test_wheel_carries_package_price_book_typing_entry_points_and_license(dist: Dist) -> None:
    assert dist.wheel.name == f"otel_holysheep-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(dist.wheel) as wheel:
        names = set(wheel.namelist())
        assert {n for n in names if not n.startswith(f"{DIST_INFO}/")} == package_files()
        assert {n for n in names if n.startswith(f"{DIST_INFO}/")} == {
            f"{DIST_INFO}/{name}" for name in ("METADATA", "WHEEL", "RECORD", "entry_points.txt", "licenses/LICENSE")
        }
        assert wheel.read("otel_holysheep/prices.json") == (PACKAGE / "prices.json").read_bytes()
        assert wheel.read("otel_holysheep/py.typed") == b""
        # the HTML report's charting library and its licence: package data, so the report needs no network
        for name in ("chart.umd.min.js", "LICENSE.md", "SHA256SUMS"):
            vendored = f"otel_holysheep/report/vendor/{name}"
            assert wheel.read(vendored) == (PACKAGE / "report" / "vendor" / name).read_bytes(), name
        assert wheel.read(f"{DIST_INFO}/licenses/LICENSE") == (REPO / "LICENSE").read_bytes()

        entry_points = configparser.ConfigParser()
        entry_points.read_string(wheel.read(f"{DIST_INFO}/entry_points.txt").decode())
        assert {section: dict(entry_points[section]) for section in entry_points.sections()} == {
            "opentelemetry_instrumentor": {"holysheep": "otel_holysheep:HolySheepInstrumentor"},
            "console_scripts": {"otel-holysheep": "otel_holysheep.cli:main"},
        }

        metadata = Parser().parsestr(wheel.read(f"{DIST_INFO}/METADATA").decode())
    assert metadata["Name"] == "otel-holysheep"
    assert metadata["Version"] == __version__
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata["Requires-Python"] == ">=3.10"
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert "Typing :: Typed" in metadata.get_all("Classifier")
    assert set(metadata.get_all("Provides-Extra")) >= {"prometheus", "otlp", "cli", "demo"}
    requires = metadata.get_all("Requires-Dist")
    unconditional = {re.split("[<>=! ]", r)[0] for r in requires if ";" not in r}
    # the instrumentation needs OpenTelemetry alone; the programs' PyYAML and prometheus-client come with [cli]
    assert unconditional == {"opentelemetry-api", "opentelemetry-instrumentation"}
    cli = sorted(
        re.split("[<>=! ]", r)[0] for r in requires if r.split(";")[-1].strip().replace('"', "'") == "extra == 'cli'"
    )
    assert cli == ["prometheus-client", "pyyaml"]
    assert "Apache License" in (REPO / "LICENSE").read_text()


def test_sdist_carries_what_the_build_needs_and_no_caches(dist: Dist) -> None:
    assert dist.sdist.name == f"{SDIST_ROOT}.tar.gz"
    assert dist.sdist.stat().st_size < SDIST_MAX_BYTES
    with tarfile.open(dist.sdist) as sdist:
        members = [m for m in sdist.getmembers() if m.isfile()]
        names = {PurePosixPath(m.name) for m in members}
        assert all(name.parts[0] == SDIST_ROOT for name in names)
        inside = {PurePosixPath(*name.parts[1:]) for name in names}
        assert not {part for name in inside for part in name.parts} & CACHE_PARTS
        assert {name.parts[0] for name in inside} == {
            "PKG-INFO",
            "pyproject.toml",
            "README.md",
            "LICENSE",
            "CHANGELOG.md",
            ".gitignore",  # hatchling always adds it: it decides what the wheel leaves out
            "src",
        }
        assert {name.relative_to("src").as_posix() for name in inside if name.parts[0] == "src"} == package_files()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            member = sdist.extractfile(f"{SDIST_ROOT}/{name}")
            assert member is not None
            assert member.read() == (REPO / name).read_bytes(), name


def test_twine_check_passes_on_sdist_and_wheel(dist: Dist) -> None:
    env = {**clean_env(), "COLUMNS": "500"}  # twine prints through rich: no line wrapping
    proc = run(
        [sys.executable, "-m", "twine", "--no-color", "check", "--strict", dist.sdist, dist.wheel], timeout=120, env=env
    )
    lines = sorted(line.strip() for line in proc.stdout.splitlines() if line.strip())
    assert lines == sorted([f"Checking {dist.sdist}: PASSED", f"Checking {dist.wheel}: PASSED"]), proc.stdout
