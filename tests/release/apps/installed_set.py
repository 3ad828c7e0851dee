"""Run by the bare-install test with the wheel virtualenv's python: prints JSON with every installed distribution,
otel-holysheep's unconditional requirements, and the closure of those requirements (what they pull in turn).
Uses `packaging`, which opentelemetry-instrumentation requires (so it is there in a bare install)."""

from __future__ import annotations

import json
from importlib.metadata import distribution, distributions

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def requires(name: str) -> list[str]:
    """Names of ``name``'s requirements that apply here (markers evaluated, extras left out)."""
    found = []
    for line in distribution(name).requires or []:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            found.append(canonicalize_name(req.name))
    return found


def main() -> None:
    direct = requires("otel-holysheep")
    closure: set[str] = set()
    todo = list(direct)
    while todo:
        name = todo.pop()
        if name not in closure:
            closure.add(name)
            todo.extend(requires(name))
    installed = sorted({canonicalize_name(d.metadata["Name"]) for d in distributions()})
    print(json.dumps({"installed": installed, "direct": sorted(direct), "closure": sorted(closure)}))


if __name__ == "__main__":
    main()
