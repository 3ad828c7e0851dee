"""``python -m benchmarks.instructions``: every workload it counts runs (valgrind itself is not run here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks import instructions

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("scenario", "variant"),
    [(scenario, variant) for scenario, variants in instructions.SCENARIOS.items() for variant in variants],
)
def test_each_counted_workload_runs(scenario: str, variant: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.instructions", "--count-one", scenario, variant, "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_an_unknown_scenario_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        instructions.main(["attribution"])
    assert "unknown scenario attribution; known: attribution-server" in capsys.readouterr().err
