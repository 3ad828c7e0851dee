"""What one check found: a status, one line for the user, and (for warn / fail) the exact fix."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

EXIT_OK: Final = 0  # everything checked is healthy (skipped checks do not count)
EXIT_WARN: Final = 1  # at least one warning, no failure
EXIT_FAIL: Final = 2  # at least one failure (argparse also exits 2 on bad arguments)


class Status(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"  # not checked: the option that enables it was not given, or an earlier check failed


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's output. ``check`` is a stable id (``install.entry_point``, ``app.series``...)."""

    check: str
    status: Status
    message: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.status in (Status.WARN, Status.FAIL) and not self.fix:
            raise ValueError(f"{self.check}: a {self.status.value} finding must say how to fix it")

    @property
    def section(self) -> str:
        return self.check.split(".", 1)[0]


def ok(check: str, message: str) -> Finding:
    return Finding(check, Status.OK, message)


def warn(check: str, message: str, fix: str) -> Finding:
    return Finding(check, Status.WARN, message, fix)


def fail(check: str, message: str, fix: str) -> Finding:
    return Finding(check, Status.FAIL, message, fix)


def skip(check: str, message: str) -> Finding:
    return Finding(check, Status.SKIP, message)


def exit_code(findings: Iterable[Finding]) -> int:
    """0 when every check that ran is ok, 1 with warnings only, 2 with any failure."""
    statuses = {finding.status for finding in findings}
    if Status.FAIL in statuses:
        return EXIT_FAIL
    if Status.WARN in statuses:
        return EXIT_WARN
    return EXIT_OK


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    tally = {status.value: 0 for status in Status}
    for finding in findings:
        tally[finding.status.value] += 1
    return tally
