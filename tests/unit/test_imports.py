"""The core's import graph: no circle, type-only imports included (a circle behind ``TYPE_CHECKING`` is still one),
and no core module over about 300 lines. The programs (simulator, demo, report, doctor) are outside the core."""

from __future__ import annotations

import ast
from pathlib import Path

import otel_holysheep

PACKAGE = Path(otel_holysheep.__file__).resolve().parent
PROGRAMS = ("simulator", "demo", "report", "doctor")


def core_modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[0] in PROGRAMS:
            continue
        name = ".".join(("otel_holysheep", *parts)).removesuffix(".__init__")
        found[name] = path
    return found


def imports_of(path: Path, modules: set[str]) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` when there is one, else a name of ``pkg``
            names = [
                f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                for alias in node.names
            ]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        out |= {name for name in names if name in modules}
    return out


def test_no_import_circle_in_the_core() -> None:
    modules = core_modules()
    graph = {name: imports_of(path, set(modules)) - {name} for name, path in modules.items()}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
    assert "otel_holysheep._hook" not in graph["otel_holysheep._call"]


def test_core_modules_are_small() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in core_modules().items()}
    assert {name: size for name, size in sizes.items() if size > 320} == {}
