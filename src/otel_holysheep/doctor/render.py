"""The doctor's findings as text (one line per check, grouped by section) or JSON. Pure functions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

from .result import Finding, Status, counts, exit_code

FORMATS: Final = ("text", "json")
SECTIONS: Final = {
    "install": "Installation",
    "config": "Configuration",
    "app": "App (/metrics)",
    "prometheus": "Prometheus",
    "gateway": "Gateway symptoms",
    "collector": "Collector",
    "live": "Live request",
}
_TAGS: Final = {Status.OK: "ok  ", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.SKIP: "skip"}


def render(findings: Sequence[Finding], fmt: str, header: str) -> str:
    if fmt == "json":
        return render_json(findings, header)
    return render_text(findings, header)


def render_text(findings: Sequence[Finding], header: str) -> str:
    lines = [header]
    section = None
    for finding in findings:
        if finding.section != section:
            section = finding.section
            lines += ["", SECTIONS.get(section, section)]
        line = f"  {_TAGS[finding.status]}  {finding.check:<26} {finding.message}"
        if finding.fix:
            line += f" -> fix: {finding.fix}"
        lines.append(line)
    tally = counts(findings)
    verdict = {0: "healthy", 1: "warnings", 2: "failures"}[exit_code(findings)]
    lines += [
        "",
        f"{verdict}: {tally['fail']} failed, {tally['warn']} warnings, {tally['ok']} ok, {tally['skip']} skipped",
    ]
    return "\n".join(lines) + "\n"


def render_json(findings: Sequence[Finding], header: str) -> str:
    document = {
        "doctor": header,
        "exit_code": exit_code(findings),
        "counts": counts(findings),
        "checks": [
            {"check": f.check, "status": f.status.value, "message": f.message, "fix": f.fix or None} for f in findings
        ],
    }
    return json.dumps(document, indent=2) + "\n"
