"""Pure: read and validate a budgets file (YAML or JSON). Every error names the file, the line (YAML, or a JSON
syntax error) and the key, and says what is wrong; nothing here raises anything but :class:`BudgetError`."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

SCOPES: Final = ("team", "route", "model")  # label names on holysheep_cost_usd_total a budget can select on
DEFAULT_WARN_AT: Final = 80.0
DEFAULT_PAGE_AT: Final = 100.0
DEFAULT_MIN_ELAPSED_S: Final = 86400.0
DEFAULT_MIN_SPEND_SHARE: Final = 0.01  # of monthly_usd
_ENTRY_KEYS: Final = frozenset({"name", "monthly_usd", "min_spend_usd", *SCOPES})
_TOP_KEYS: Final = frozenset({"budgets", "warn_at", "page_at", "min_elapsed"})
_DURATION: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*")
_UNIT_S: Final = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PERCENT: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%?\s*")


class BudgetError(ValueError):
    """A budgets file that cannot be used; the message is for the user, one line."""


@dataclass(frozen=True)
class Budget:
    """One monthly budget: the label matchers it covers (``team``/``route``/``model``) and its amount."""

    name: str
    matchers: tuple[tuple[str, str], ...]
    monthly_usd: float
    min_spend_usd: float

    @property
    def labels(self) -> dict[str, str]:
        """The labels every recorded series of this budget carries."""
        return {"budget": self.name, **dict(self.matchers)}

    def selector(self, extra: str | None = None) -> str:
        """PromQL matchers for this budget's cost series, e.g. ``{team="search"}``."""
        parts = [f'{key}="{_escape(value)}"' for key, value in self.matchers]
        if extra:
            parts.append(extra)
        return "{" + ", ".join(parts) + "}"


@dataclass(frozen=True)
class Budgets:
    budgets: tuple[Budget, ...]
    warn_at_pct: float = DEFAULT_WARN_AT
    page_at_pct: float = DEFAULT_PAGE_AT
    min_elapsed_s: float = DEFAULT_MIN_ELAPSED_S
    source: str = "budgets"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# --- locating keys in the YAML text -----------------------------------------------------------------------------------
Path_ = tuple[str | int, ...]


def _yaml_lines(node: yaml.Node | None, path: Path_, out: dict[Path_, int]) -> None:
    if node is None:
        return
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _yaml_lines(value, (*path, str(key.value)), out)
            out[(*path, str(key.value))] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _yaml_lines(item, (*path, index), out)


class _Where:
    """Turns a key path into ``file, line N, key budgets[1].monthly_usd`` for messages."""

    def __init__(self, source: str, lines: dict[Path_, int]) -> None:
        self.source = source
        self.lines = lines

    def __call__(self, path: Path_) -> str:
        key = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))
        line = self.lines.get(path)
        at = f", line {line}" if line is not None else ""
        return f"{self.source}{at}, {key}" if key else f"{self.source}{at}"


def read_budgets(path: Path) -> Budgets:
    """Read ``path`` (``.json`` as JSON, anything else as YAML, which JSON also is)."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BudgetError(f"{source}: cannot read the budgets file: {error}") from None
    return parse_budgets(text, source, as_json=path.suffix.lower() == ".json")


def parse_budgets(text: str, source: str, *, as_json: bool = False) -> Budgets:
    lines: dict[Path_, int] = {}
    if as_json:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise BudgetError(f"{source}, line {error.lineno}: not valid JSON: {error.msg}") from None
    else:
        try:
            data = yaml.safe_load(text)
            _yaml_lines(yaml.compose(text, Loader=yaml.SafeLoader), (), lines)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = f", line {mark.line + 1}" if mark is not None else ""
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise BudgetError(f"{source}{line}: not valid YAML: {problem}") from None
    return from_mapping(data, _Where(source, lines))


def from_mapping(data: Any, where: _Where) -> Budgets:
    if not isinstance(data, Mapping) or "budgets" not in data:
        raise BudgetError(f"{where(())}: the top level must be a mapping with a 'budgets' list")
    for key in data:
        if key not in _TOP_KEYS:
            raise BudgetError(f"{where((str(key),))}: unknown key (expected one of {', '.join(sorted(_TOP_KEYS))})")
    entries = data["budgets"]
    if not isinstance(entries, list) or not entries:
        raise BudgetError(f"{where(('budgets',))}: must be a non-empty list of budgets")
    budgets = tuple(_budget(entry, ("budgets", i), where) for i, entry in enumerate(entries))
    seen: dict[str, int] = {}
    for index, budget in enumerate(budgets):
        if budget.name in seen:
            first = seen[budget.name]
            raise BudgetError(
                f"{where(('budgets', index))}: budget {budget.name!r} is defined twice (also budgets[{first}]);"
                " give one a different name"
            )
        seen[budget.name] = index
    warn = _percent(data.get("warn_at", DEFAULT_WARN_AT), ("warn_at",), where)
    page = _percent(data.get("page_at", DEFAULT_PAGE_AT), ("page_at",), where)
    if not warn < page:
        raise BudgetError(f"{where(('warn_at',))}: warn_at ({warn:g}%) must be below page_at ({page:g}%)")
    elapsed = _duration(data.get("min_elapsed", "1d"), ("min_elapsed",), where)
    if elapsed > 28 * 86400:
        raise BudgetError(f"{where(('min_elapsed',))}: must be at most 28d (the shortest month)")
    return Budgets(budgets, warn, page, elapsed, where.source)


def _budget(entry: Any, path: Path_, where: _Where) -> Budget:
    if not isinstance(entry, Mapping):
        raise BudgetError(f"{where(path)}: each budget must be a mapping such as {{team: search, monthly_usd: 500}}")
    for key in entry:
        if key not in _ENTRY_KEYS:
            raise BudgetError(f"{where((*path, str(key)))}: unknown key (expected {', '.join(sorted(_ENTRY_KEYS))})")
    matchers = []
    for scope in SCOPES:
        if scope in entry:
            value = entry[scope]
            if not isinstance(value, str) or not value.strip():
                raise BudgetError(f"{where((*path, scope))}: must be a non-empty string (the {scope} label's value)")
            matchers.append((scope, value.strip()))
    if not matchers:
        raise BudgetError(f"{where(path)}: a budget needs at least one of {', '.join(SCOPES)}")
    if "monthly_usd" not in entry:
        raise BudgetError(f"{where(path)}: missing monthly_usd (the budget in USD per calendar month)")
    monthly = _usd(entry["monthly_usd"], (*path, "monthly_usd"), where, positive=True)
    floor = monthly * DEFAULT_MIN_SPEND_SHARE
    if "min_spend_usd" in entry:
        floor = _usd(entry["min_spend_usd"], (*path, "min_spend_usd"), where, positive=False)
    name = entry.get("name", ",".join(f"{key}={value}" for key, value in matchers))
    if not isinstance(name, str) or not name.strip():
        raise BudgetError(f"{where((*path, 'name'))}: must be a non-empty string")
    return Budget(name.strip(), tuple(matchers), monthly, floor)


def _usd(value: Any, path: Path_, where: _Where, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BudgetError(f"{where(path)}: must be a number of USD, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise BudgetError(f"{where(path)}: must be {'above' if positive else 'at least'} zero, got {value!r}")
    return float(value)


def _percent(value: Any, path: Path_, where: _Where) -> float:
    text = str(value) if isinstance(value, int | float | str) and not isinstance(value, bool) else None
    match = _PERCENT.fullmatch(text) if text is not None else None
    if match is None or not 0 < float(match.group(1)) <= 1000:
        raise BudgetError(f"{where(path)}: must be a percentage of the budget such as 80% (got {value!r})")
    return float(match.group(1))


def _duration(value: Any, path: Path_, where: _Where) -> float:
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise BudgetError(f"{where(path)}: must be a duration such as 12h or 1d (got {value!r})")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def promql_duration(seconds: float) -> str:
    """``86400`` -> ``1d``; whole seconds otherwise."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
