"""The rules `otel-holysheep rules --budgets` writes: promtool (Prometheus 2.53 and 3) accepts them, and its unit
tests (budgets-rules-test.yml, on a synthetic January) show every alert firing when it must and quiet when it must
not; the month-to-date spend starts again on the first of the next month."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_holysheep.budgets import rules
from otel_holysheep.budgets.spec import parse_budgets, read_budgets
from tests.engines import require_binary

HERE = Path(__file__).resolve().parent
BUDGETS = HERE / "budgets.yaml"
RULE_TEST = HERE / "budgets-rules-test.yml"
EXAMPLE = HERE.parents[1] / "prometheus" / "budgets.example.yaml"
PROMTOOLS = ["promtool", "promtool3"]


def promtool(tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = require_binary(tool)
    return subprocess.run([str(binary), *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{result.args}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "FAILED" not in result.stdout + result.stderr


def generated(tmp_path: Path, document: dict[str, Any] | None = None) -> Path:
    path = tmp_path / "budgets-rules.yml"
    if document is None:
        path.write_text(rules.render_rules(read_budgets(BUDGETS)))
    else:
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_the_document_has_every_record_and_both_alerts() -> None:
    document = rules.rule_document(read_budgets(BUDGETS))
    [group] = document["groups"]
    assert group["interval"] == "1m"
    records = {r["record"] for r in group["rules"] if "record" in r}
    assert records == set(rules.RECORDS)
    alerts = {r["alert"]: r for r in group["rules"] if "alert" in r}
    assert set(alerts) == {rules.PAGE_ALERT, rules.WARN_ALERT}
    assert alerts[rules.PAGE_ALERT]["labels"] == {"severity": "page"}
    assert alerts[rules.WARN_ALERT]["labels"] == {"severity": "warning"}
    # three rules per budget, each carrying the budget's labels
    per_budget = [r for r in group["rules"] if "labels" in r and "record" in r]
    assert len(per_budget) == 3 * len(read_budgets(BUDGETS).budgets)
    assert {"budget": "spent", "route": "/batch"} in [r["labels"] for r in per_budget]


@pytest.mark.parametrize("tool", PROMTOOLS)
def test_promtool_checks_the_generated_rules(tool: str, tmp_path: Path) -> None:
    result = promtool(tool, "check", "rules", str(generated(tmp_path)), cwd=tmp_path)
    assert_ok(result)
    assert "SUCCESS: 28 rules found" in result.stdout  # 3 calendar, 3 per budget (6), 5 derived, 2 alerts


@pytest.mark.parametrize("tool", PROMTOOLS)
def test_promtool_checks_the_rules_of_the_shipped_example(tool: str, tmp_path: Path) -> None:
    path = tmp_path / "example-rules.yml"
    path.write_text(rules.render_rules(read_budgets(EXAMPLE), 'job="chatbot"'))
    result = promtool(tool, "check", "rules", str(path), cwd=tmp_path)
    assert_ok(result)
    assert "SUCCESS: 25 rules found" in result.stdout


def test_every_alert_is_tested_both_ways() -> None:
    cases = [c for group in yaml.safe_load(RULE_TEST.read_text())["tests"] for c in group["alert_rule_test"]]
    for alert in (rules.PAGE_ALERT, rules.WARN_ALERT):
        mine = [c for c in cases if c["alertname"] == alert]
        assert any(c.get("exp_alerts") for c in mine), f"{alert}: no test where it fires"
        assert any(not c.get("exp_alerts") for c in mine), f"{alert}: no test where it stays quiet"


@pytest.mark.slow
@pytest.mark.parametrize("tool", PROMTOOLS)
def test_promtool_unit_tests_fire_and_stay_quiet(tool: str, tmp_path: Path) -> None:
    generated(tmp_path)
    shutil.copy(RULE_TEST, tmp_path / RULE_TEST.name)
    assert_ok(promtool(tool, "test", "rules", RULE_TEST.name, cwd=tmp_path))


MONTH_BOUNDARY_TEST = """\
rule_files: [budgets-rules.yml]
evaluation_interval: 1h
tests:
  - interval: 15m
    input_series:
      # 0.6 USD an hour all January and into February (scraped every 15 minutes)
      - series: 'holysheep_cost_usd_total{model="m", team="over"}'
        values: '0+0.15x3000'
    promql_expr_test:
      - expr: round(budget:holysheep_cost_usd:month_to_date{team="over"}, 0.001)
        eval_time: 30d
        exp_samples: [{labels: '{budget="team=over", team="over"}', value: 432}]
      # February 1st, 02:00: only February's two hours count; February 1970 has 28 days
      - expr: round(budget:holysheep_cost_usd:month_to_date{team="over"}, 0.001)
        eval_time: 31d2h
        exp_samples: [{labels: '{budget="team=over", team="over"}', value: 1.2}]
      - expr: holysheep:month_elapsed_seconds
        eval_time: 31d2h
        exp_samples: [{labels: 'holysheep:month_elapsed_seconds', value: 7200}]
      - expr: holysheep:month_remaining_seconds
        eval_time: 31d2h
        exp_samples: [{labels: 'holysheep:month_remaining_seconds', value: 2412000}]
      - expr: holysheep:month_start_timestamp_seconds
        eval_time: 31d2h
        exp_samples: [{labels: 'holysheep:month_start_timestamp_seconds', value: 2678400}]
"""


@pytest.mark.parametrize("tool", PROMTOOLS)
def test_month_to_date_starts_again_each_month(tool: str, tmp_path: Path) -> None:
    """The same rules evaluated hourly (a month of one-minute evaluations is too slow for a unit test); the hourly
    increase at each whole hour is what the one-minute group records there too."""
    document = rules.rule_document(read_budgets(BUDGETS))
    document["groups"][0]["interval"] = "1h"
    generated(tmp_path, document)
    (tmp_path / "boundary-test.yml").write_text(MONTH_BOUNDARY_TEST)
    assert_ok(promtool(tool, "test", "rules", "boundary-test.yml", cwd=tmp_path))


def test_the_readme_documents_the_runbook_anchor_and_every_series() -> None:
    readme = (HERE.parents[1] / "README.md").read_text()
    assert rules.RUNBOOK == "README.md#budgets-and-forecasts"
    assert "\n## Budgets and forecasts\n" in readme
    section = readme[readme.index("\n## Budgets and forecasts\n") :]
    section = section[: section.index("\n## ", 1)]
    for name in (*rules.RECORDS, rules.PAGE_ALERT, rules.WARN_ALERT):
        if name not in (rules.START, rules.INCREASE):  # internal steps of the month-to-date sum
            assert f"`{name}`" in section, name


def test_thresholds_and_floor_come_from_the_file() -> None:
    text = "budgets: [{team: a, monthly_usd: 50, min_spend_usd: 2.5}]\nwarn_at: 50%\npage_at: 90%\nmin_elapsed: 12h\n"
    document = rules.rule_document(parse_budgets(text, "b.yaml"), 'job="x"')
    by_name = {r.get("alert") or r["record"]: r for r in document["groups"][0]["rules"]}
    assert by_name[rules.WARN_ALERT]["expr"].startswith(f"{rules.RATIO} >= 0.5 < 0.9\n")
    assert by_name[rules.PAGE_ALERT]["expr"].startswith(f"{rules.RATIO} >= 0.9\n")
    for alert in (rules.WARN_ALERT, rules.PAGE_ALERT):
        assert f"on () {rules.ELAPSED} >= 43200)" in by_name[alert]["expr"]
    assert "month is 12h old" in by_name[rules.PAGE_ALERT]["annotations"]["description"]
    assert by_name[rules.PAGE_ALERT]["annotations"]["summary"].endswith("to reach 90% this month")
    assert by_name[rules.MIN_SPEND]["expr"] == "vector(2.5)"
    assert by_name[rules.BUDGET_USD]["expr"] == "vector(50)"
    assert by_name[rules.INCREASE]["expr"] == (
        'sum(increase(holysheep_cost_usd_total{team="a", job="x"}[1h])) or vector(0)'
    )
