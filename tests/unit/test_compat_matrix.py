"""scripts/compat_matrix.py's own logic: a cell without its interpreter is skipped and says how to get it, JUnit
counts, the printed matrix. (Building and running the real cells is `make test`'s last step.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def matrix() -> Any:
    spec = importlib.util.spec_from_file_location("compat_matrix", REPO / "scripts" / "compat_matrix.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["compat_matrix"] = module
    spec.loader.exec_module(module)
    return module


def test_a_missing_interpreter_skips_the_cell_and_says_how_to_get_it(
    matrix: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cell = matrix.Cell("py3.99-future", "3.99", "newest", ("tests/unit",))
    assert matrix.find_python("3.99") is None
    row = matrix.run_cell(cell, tmp_path / "unused.whl")
    assert (row.cell, row.status, row.counts) == ("py3.99-future", "skipped", "-")
    assert "pyenv install 3.99" in row.note
    assert "no Python 3.99 interpreter found" in capsys.readouterr().out


def test_this_interpreter_is_found(matrix: Any) -> None:
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    found = matrix.find_python(minor)
    assert found is not None and found.exists()


def test_counts_and_the_printed_matrix(matrix: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    xml = tmp_path / "r.xml"
    xml.write_text(
        '<testsuites><testsuite name="pytest" tests="10" failures="1" errors="1" skipped="3"></testsuite></testsuites>'
    )
    assert matrix.counts([xml]) == (5, 2, 3)
    failed = matrix.row_for("a", "python 3.10", [xml], [1], 12.0)
    passed = matrix.Row("b", "python 3.12", "passed", "7 passed, 0 failed, 1 skipped")
    skipped = matrix.Row("c", "python 3.99", "skipped", "-", "no Python 3.99")
    assert (failed.status, failed.counts) == ("failed", "5 passed, 2 failed, 3 skipped")
    matrix.print_matrix([failed, passed, skipped])
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == "cells: 1 passed, 1 failed, 1 skipped"
    assert out[-1] == "matrix: 12 passed, 2 failed, 4 skipped"
    assert any(line.startswith("c ") and "skipped" in line and "[no Python 3.99]" in line for line in out)
