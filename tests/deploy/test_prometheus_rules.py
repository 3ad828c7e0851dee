"""promtool over the shipped Prometheus configuration, rules and rule unit tests: Prometheus 2.53's (Debian, from
scripts/fetch-engines.sh) and Prometheus 3's (built from its Go module by scripts/build-go-engines.sh)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from engines import REPO, SHIPPED_RULE_FILES, require_binary

RULE_TESTS = sorted((REPO / "prometheus" / "tests").glob("*.yml"))
ALERTS_FILE = REPO / "prometheus" / "rules" / "holysheep-alerts.yml"
RECORDING_FILE = REPO / "prometheus" / "rules" / "holysheep-recording.yml"


PROMTOOLS = ["promtool", "promtool3"]


def promtool(*args: str, tool: str = "promtool") -> subprocess.CompletedProcess[str]:
    binary = require_binary(tool)
    return subprocess.run([str(binary), *args], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{result.args}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


@pytest.mark.parametrize("tool", PROMTOOLS)
def test_check_config(tool: str) -> None:
    result = promtool("check", "config", "prometheus.yml", tool=tool)
    assert_ok(result)
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("tool", PROMTOOLS)
def test_check_rules(tool: str) -> None:
    assert SHIPPED_RULE_FILES, "no rule files in prometheus/rules"
    result = promtool("check", "rules", *(str(p.relative_to(REPO)) for p in SHIPPED_RULE_FILES), tool=tool)
    assert_ok(result)


@pytest.mark.parametrize("tool", PROMTOOLS)
def test_rule_unit_tests(tool: str) -> None:
    assert RULE_TESTS, "no promtool tests in prometheus/tests"
    result = promtool("test", "rules", *(str(p.relative_to(REPO)) for p in RULE_TESTS), tool=tool)
    assert_ok(result)
    assert "FAILED" not in result.stdout + result.stderr


def _alert_tests() -> list[dict[str, object]]:
    cases = []
    for path in RULE_TESTS:
        for group in yaml.safe_load(path.read_text())["tests"]:
            cases.extend(group.get("alert_rule_test", []))
    return cases


def test_every_alert_has_firing_and_not_firing_cases() -> None:
    alerts = [r["alert"] for g in yaml.safe_load(ALERTS_FILE.read_text())["groups"] for r in g["rules"] if "alert" in r]
    cases = _alert_tests()
    for alert in alerts:
        mine = [c for c in cases if c["alertname"] == alert]
        assert any(c.get("exp_alerts") for c in mine), f"{alert}: no test where it fires"
        assert any(not c.get("exp_alerts") for c in mine), f"{alert}: no test where it does not fire"


def test_every_recording_rule_has_an_expression_test() -> None:
    records = [r["record"] for g in yaml.safe_load(RECORDING_FILE.read_text())["groups"] for r in g["rules"]]
    tested = {
        case["expr"]
        for path in RULE_TESTS
        for group in yaml.safe_load(path.read_text())["tests"]
        for case in group.get("promql_expr_test", [])
    }
    missing = [r for r in records if r not in tested and not r.endswith(("rate6h", "rate1h"))]
    assert not missing, f"recording rules without a promql_expr_test: {missing}"


def test_alerts_are_documented() -> None:
    for group in yaml.safe_load(ALERTS_FILE.read_text())["groups"]:
        for rule in group["rules"]:
            ann = rule.get("annotations", {})
            assert {"summary", "description", "runbook"} <= set(ann), rule["alert"]
            assert rule.get("labels", {}).get("severity") in {"page", "ticket", "warning"}, rule["alert"]


def test_error_ratios_aggregate_both_sides_by_model() -> None:
    """rate(errors) / rate(requests) without aggregation matches nothing (different label sets) and never fires."""
    text = ALERTS_FILE.read_text() + RECORDING_FILE.read_text()
    matches = list(re.finditer(r"rate\(holysheep_errors_total[^)]*\)[^/\n]*\)\s*/\s*(?P<rhs>[^\n]+)", text))
    assert len(matches) >= 6, "expected the error ratios of both rule files"
    for match in matches:
        assert match.group("rhs").lstrip().startswith("sum by (model)"), match.group(0)
    assert "/ rate(holysheep_requests_total" not in text


def test_auth_alert_tells_to_check_the_api_key() -> None:
    rules = {r["alert"]: r for g in yaml.safe_load(ALERTS_FILE.read_text())["groups"] for r in g["rules"]}
    auth = rules["HolySheepAuthFailures"]
    assert "http_401" in auth["expr"] and "http_403" in auth["expr"]
    assert "check your API key" in auth["annotations"]["summary"]


@pytest.mark.parametrize("path", [*SHIPPED_RULE_FILES, *RULE_TESTS], ids=lambda p: Path(p).name)
def test_yaml_parses(path: Path) -> None:
    assert yaml.safe_load(path.read_text())
