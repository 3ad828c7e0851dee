"""Declared ranges are tested ranges: pyproject.toml, package.py's `_instruments_any`, the README's Supported clients
and Supported versions tables and the compatibility matrix's pinned files (requirements/compat/, plus the main
suite's requirements/dev.txt and requirements/openai2.txt) say the same floors and the same newest versions."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from otel_holysheep import package

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
README = (REPO / "README.md").read_text()
LIBRARIES = ("httpx", "httpx2", "requests", "aiohttp")
MAIN_CELL = "py3.11-main"
DASH = "\u2013"  # the README's ranges and empty cells


def load_matrix() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compat_matrix", REPO / "scripts" / "compat_matrix.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["compat_matrix"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


MATRIX = load_matrix()


def pins(path: Path) -> dict[str, str]:
    found = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#")[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            found[canonicalize_name(req.name)] = spec.version
    return found


def cell_sets() -> dict[str, tuple[str, list[dict[str, str]]]]:
    """Cell name -> (Python major.minor, the pinned sets it runs), the main suite included."""
    cells = {c.name: (c.python, [pins(REPO / "requirements" / "compat" / f"{c.lock}.txt")]) for c in MATRIX.CELLS}
    main = pins(REPO / "requirements" / "dev.txt")
    second = {**main, **pins(REPO / "requirements" / "openai2.txt")}  # installed over dev.txt
    cells[MAIN_CELL] = ("3.11", [main, second])
    return cells


def table(heading: str, first_column: str) -> list[dict[str, str]]:
    """The Markdown table under ``heading`` whose first header cell is ``first_column``, as rows of dicts."""
    section = README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_column} |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)))
    return rows


def declared() -> dict[str, str]:
    """Package -> the specifier pyproject.toml declares for it (Python's from requires-python)."""
    project = PYPROJECT["project"]
    found = {"python": project["requires-python"]}
    extras = project["optional-dependencies"]
    for line in [*project["dependencies"], *extras["instruments-any"], *extras["demo"]]:
        req = Requirement(line)
        found.setdefault(canonicalize_name(req.name), str(req.specifier))
    return found


def versions_tested() -> dict[str, list[Version]]:
    """Package -> every version some cell runs (Python as major.minor)."""
    found: dict[str, list[Version]] = {"python": []}
    for python, sets in cell_sets().values():
        found["python"].append(Version(python))
        for pinned in sets:
            for name, version in pinned.items():
                found.setdefault(name, []).append(Version(version))
    return found


SUPPORTED = {row["Package"]: row for row in table("Supported versions", "Package")}


def test_package_py_declares_what_pyproject_declares() -> None:
    extra = sorted(Requirement(r).name + str(Requirement(r).specifier) for r in declared_instruments_any())
    ours = sorted(Requirement(r).name + str(Requirement(r).specifier) for r in package._instruments_any)
    assert ours == extra
    assert package._instruments == ()  # any one library is enough: none is required


def declared_instruments_any() -> list[str]:
    return list(PYPROJECT["project"]["optional-dependencies"]["instruments-any"])


@pytest.mark.parametrize("name", ["Python", "opentelemetry-api", "opentelemetry-instrumentation", *LIBRARIES, "openai"])
def test_supported_versions_row_is_the_declared_and_the_tested_range(name: str) -> None:
    key = canonicalize_name(name) if name != "Python" else "python"
    row = SUPPORTED[name]
    spec = SpecifierSet(declared()[key])
    versions = versions_tested()[key]
    oldest, newest = min(versions), max(versions)
    assert SpecifierSet(row["Declared"]) == spec, (name, row["Declared"], str(spec))
    # the floor is a release some cell runs: the lower bound of the declared range is the oldest version tested
    floors = [Version(s.version) for s in spec if s.operator == ">="]
    assert floors == [oldest], (name, floors, oldest)
    assert all(v in spec for v in versions), (name, versions)
    assert (Version(row["Oldest tested"]), Version(row["Newest tested"])) == (oldest, newest)


def test_classifiers_name_every_tested_python() -> None:
    classifiers = PYPROJECT["project"]["classifiers"]
    named = {
        c.rsplit(" :: ", 1)[1] for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert named == {python for python, _ in cell_sets().values()}


def test_supported_clients_table_shows_the_tested_range() -> None:
    rows = {row["Library"].strip("`"): row["Versions tested"] for row in table("Supported clients", "Library")}
    for name in [*LIBRARIES, "openai SDK"]:
        versions = versions_tested()[canonicalize_name(name.split()[0])]
        assert rows[name].startswith(f"{min(versions)} {DASH} {max(versions)}"), (name, rows[name])


def test_matrix_table_is_the_cells_and_their_pins() -> None:
    rows = table("Supported versions", "Cell")
    cells = cell_sets()
    assert [row["Cell"] for row in rows] == sorted(cells, key=lambda n: (n.split("-")[0], n))
    for row in rows:
        python, sets = cells[row["Cell"]]
        assert row["Python"] == python

        def shown(name: str, sets: list[dict[str, str]] = sets) -> str:
            got = sorted({s[name] for s in sets if name in s}, key=Version, reverse=True)
            return ", ".join(got) if got else DASH

        otel = f"{shown('opentelemetry-api')} / {shown('opentelemetry-instrumentation')}"
        assert row["opentelemetry-api / -instrumentation"] == otel, row
        for name in (*LIBRARIES, "openai"):
            assert row[name] == shown(name), (row["Cell"], name, row[name], shown(name))


def test_every_cell_installs_its_own_otel_release_set() -> None:
    """Contrib packages pin their opentelemetry-instrumentation exactly: one release per cell, or pip check fails."""
    for name, (_, sets) in cell_sets().items():
        for pinned in sets:
            instrumentation = pinned["opentelemetry-instrumentation"]
            contrib = {n: v for n, v in pinned.items() if n.startswith("opentelemetry-instrumentation-")}
            assert set(contrib.values()) <= {instrumentation}, (name, contrib)


@pytest.mark.parametrize("extra", ["prometheus", "otlp", "cli"])
def test_every_floor_of_an_extra_is_a_tested_version(extra: str) -> None:
    """The SDK, distro, exporters and the programs' PyYAML / prometheus-client: each declared floor runs in a cell."""
    tested = versions_tested()
    for line in PYPROJECT["project"]["optional-dependencies"][extra]:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        if name == "otel-holysheep":
            continue
        floors = [Version(s.version) for s in req.specifier if s.operator == ">="]
        assert floors == [min(tested[name])], (extra, line, min(tested[name]))
        assert all(v in req.specifier for v in tested[name]), (extra, line)
