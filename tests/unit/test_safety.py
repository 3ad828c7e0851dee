"""The safety rule (STYLE.md "Never break the caller"): a broad ``except`` that swallows lives only in ``_safety``.

Read from the source (AST), so a broad handler that logs with ``exc_info`` or has a comment cannot slip past the way
it slips past ruff's BLE rule. A handler of ``BaseException`` that ends in a bare ``raise`` is allowed anywhere: that
is the application's own exception passing through unchanged after telemetry noted it.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

from otel_holysheep import _safety

PACKAGE = Path(_safety.__file__).resolve().parent
BROAD = frozenset({"Exception", "BaseException"})


def _is_broad(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(kind, ast.Name) and kind.id in BROAD for kind in kinds)


def _reraises(handler: ast.ExceptHandler) -> bool:
    last = handler.body[-1]
    return isinstance(last, ast.Raise) and last.exc is None


def broad_handlers(source: str) -> list[int]:
    """Line numbers of the broad handlers in ``source`` that do not re-raise."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ExceptHandler) and _is_broad(node) and not _reraises(node)
    ]


def test_broad_excepts_only_in_safety() -> None:
    found = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "_safety.py" and (lines := broad_handlers(path.read_text()))
    }
    assert found == {}
    assert broad_handlers((PACKAGE / "_safety.py").read_text())  # the guard itself is seen by this check


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        ("try:\n    f()\nexcept Exception:\n    log(exc_info=True)\n", [3]),
        ("try:\n    f()\nexcept:\n    pass\n", [3]),
        ("try:\n    f()\nexcept (ValueError, BaseException) as e:\n    g(e)\n", [3]),
        ("try:\n    f()\nexcept BaseException as e:\n    note(e)\n    raise\n", []),
        ("try:\n    f()\nexcept BaseException as e:\n    raise Other from e\n", [3]),
        ("try:\n    f()\nexcept (ValueError, KeyError):\n    pass\n", []),
    ],
)
def test_the_check_itself(source: str, lines: list[int]) -> None:
    assert broad_handlers(source) == lines


def test_the_failure_message_is_written_once() -> None:
    message = "failed; the application is unaffected"
    assert [p.name for p in sorted(PACKAGE.rglob("*.py")) if message in p.read_text()] == ["_safety.py"]
    assert (PACKAGE / "_safety.py").read_text().count(message) == 1


def test_guard_logs_at_debug_and_swallows_only_exception(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise ValueError("boom")

    def interrupted() -> None:
        raise KeyboardInterrupt

    with caplog.at_level(logging.DEBUG, logger="otel_holysheep"):
        assert _safety.call_safely(broken, default="fallback") == "fallback"
        with pytest.raises(KeyboardInterrupt):
            _safety.call_safely(interrupted)
    (record,) = caplog.records
    assert record.levelno == logging.DEBUG and record.exc_info is not None
    assert "telemetry step test_guard_logs_at_debug_and_swallows_only_exception.<locals>.broken failed" in (
        record.getMessage()
    )

    fallbacks: list[str] = []
    _safety.call_or_else(lambda _: broken(), b"chunk", lambda: fallbacks.append("off"))
    assert fallbacks == ["off"]
