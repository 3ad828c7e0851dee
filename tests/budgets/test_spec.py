"""The budgets file: what is accepted, and that every mistake is named by file, line and key, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from otel_holysheep.budgets.spec import Budget, BudgetError, parse_budgets, promql_duration, read_budgets

GOOD = """\
budgets:
  - team: search
    monthly_usd: 500
  - name: chat
    route: /chat
    model: gpt-4.1
    monthly_usd: 200.5
    min_spend_usd: 0
warn_at: 75%
page_at: 90
min_elapsed: 12h
"""


def test_a_good_file() -> None:
    budgets = parse_budgets(GOOD, "b.yaml")
    assert budgets.budgets == (
        Budget("team=search", (("team", "search"),), 500.0, 5.0),
        Budget("chat", (("route", "/chat"), ("model", "gpt-4.1")), 200.5, 0.0),
    )
    assert (budgets.warn_at_pct, budgets.page_at_pct, budgets.min_elapsed_s) == (75.0, 90.0, 43200.0)
    assert budgets.budgets[1].labels == {"budget": "chat", "route": "/chat", "model": "gpt-4.1"}
    assert budgets.budgets[1].selector('job="x"') == '{route="/chat", model="gpt-4.1", job="x"}'


def test_defaults() -> None:
    budgets = parse_budgets("budgets: [{model: m, monthly_usd: 100}]", "b.yaml")
    assert (budgets.warn_at_pct, budgets.page_at_pct, budgets.min_elapsed_s) == (80.0, 100.0, 86400.0)
    assert budgets.budgets[0].min_spend_usd == 1.0


def test_label_values_are_escaped_in_selectors() -> None:
    budget = parse_budgets('budgets: [{team: "a\\"b\\\\c", monthly_usd: 1}]', "b.yaml").budgets[0]
    assert budget.selector() == '{team="a\\"b\\\\c"}'


def test_json_and_yaml_read_the_same(tmp_path: Path) -> None:
    data = {"budgets": [{"team": "search", "monthly_usd": 500}], "warn_at": "75%"}
    (tmp_path / "b.json").write_text(json.dumps(data))
    (tmp_path / "b.yaml").write_text(GOOD)
    from_json = read_budgets(tmp_path / "b.json")
    assert from_json.budgets == parse_budgets(GOOD, "x").budgets[:1]
    assert from_json.source == str(tmp_path / "b.json")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("budgets:\n  - team: a\n    monthly_usd: -3\n", "b.yaml, line 3, budgets[0].monthly_usd: must be above zero"),
        ("budgets:\n  - team: a\n    monthly_usd: lots\n", "b.yaml, line 3, budgets[0].monthly_usd: must be a number"),
        ("budgets:\n  - team: a\n    monthly_usd: true\n", "line 3, budgets[0].monthly_usd: must be a number"),
        ("budgets:\n  - team: a\n    monthly_usd: .nan\n", "line 3, budgets[0].monthly_usd: must be a number"),
        ("budgets:\n  - team: a\n", "b.yaml, line 2, budgets[0]: missing monthly_usd"),
        ("budgets:\n  - monthly_usd: 5\n", "line 2, budgets[0]: a budget needs at least one of team, route, model"),
        ("budgets:\n  - team: ''\n    monthly_usd: 5\n", "line 2, budgets[0].team: must be a non-empty string"),
        ("budgets:\n  - team: [a]\n    monthly_usd: 5\n", "line 2, budgets[0].team: must be a non-empty string"),
        ("budgets:\n  - team: a\n    monthly: 5\n", "line 3, budgets[0].monthly: unknown key"),
        ("budgets:\n  - team: a\n    monthly_usd: 5\nwarn: 80%\n", "b.yaml, line 4, warn: unknown key"),
        ("budgets: []\n", "b.yaml, line 1, budgets: must be a non-empty list"),
        ("budgets: {team: a}\n", "line 1, budgets: must be a non-empty list"),
        ("- team: a\n", "b.yaml, line 1: the top level must be a mapping with a 'budgets' list"),
        ("", "b.yaml: the top level must be a mapping"),
        ("budgets:\n  - team: a\n  monthly_usd: 5\n", "b.yaml, line 3: not valid YAML"),
        (
            "budgets: [{team: a, monthly_usd: 5}]\nwarn_at: 120%\npage_at: 100%\n",
            "line 2, warn_at: warn_at (120%) must",
        ),
        ("budgets: [{team: a, monthly_usd: 5}]\nwarn_at: lots\n", "line 2, warn_at: must be a percentage"),
        ("budgets: [{team: a, monthly_usd: 5}]\npage_at: 0%\n", "line 2, page_at: must be a percentage"),
        ("budgets: [{team: a, monthly_usd: 5}]\nmin_elapsed: 3\n", "line 2, min_elapsed: must be a duration"),
        ("budgets: [{team: a, monthly_usd: 5}]\nmin_elapsed: 30d\n", "line 2, min_elapsed: must be at most 28d"),
        (
            "budgets:\n  - team: a\n    monthly_usd: 5\n  - team: a\n    monthly_usd: 6\n",
            "line 4, budgets[1]: budget 'team=a' is defined twice (also budgets[0])",
        ),
        (
            "budgets:\n  - team: a\n    monthly_usd: 5\n    min_spend_usd: -1\n",
            "line 4, budgets[0].min_spend_usd: must be at",
        ),
        ("budgets:\n  - team: a\n    name: 3\n    monthly_usd: 5\n", "line 3, budgets[0].name: must be a non-empty"),
    ],
)
def test_bad_yaml_is_named_by_line_and_key(text: str, message: str) -> None:
    with pytest.raises(BudgetError) as raised:
        parse_budgets(text, "b.yaml")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_bad_json_names_the_line_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{\n  "budgets": [\n    {"team": "a", "monthly_usd": 5},\n  ]\n}\n')
    with pytest.raises(BudgetError, match=r"b\.json, line 4: not valid JSON"):
        read_budgets(path)
    path.write_text('{"budgets": [{"team": "a", "monthly_usd": "5"}]}')
    with pytest.raises(BudgetError, match=r"b\.json, budgets\[0\]\.monthly_usd: must be a number of USD, got '5'"):
        read_budgets(path)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(BudgetError, match="cannot read the budgets file"):
        read_budgets(tmp_path / "missing.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(BudgetError, match="cannot read the budgets file"):
        read_budgets(tmp_path / "bin.yaml")


@pytest.mark.parametrize(("seconds", "text"), [(86400, "1d"), (43200, "12h"), (5400, "90m"), (90.5, "90s")])
def test_promql_duration(seconds: float, text: str) -> None:
    assert promql_duration(seconds) == text
