"""``make lint`` covers every Python file of the repository (none added outside its paths goes unlinted)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_every_python_file_is_under_the_lint_paths() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an unpacked sdist): the tracked files cannot be listed")
    match = re.search(r"^LINT_PATHS := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match is not None
    paths = match[1].split()
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert listed
    assert [name for name in listed if name.split("/", 1)[0] not in paths] == []
