"""promtool over the shipped Prometheus configuration, rules and rule unit tests: Prometheus 2.53's (Debian, from
scripts/fetch-engines.sh) and Prometheus 3's (built from its Go module by scripts/build-go-engines.sh)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from engines import REPO, SHIPPED_RULE_FILES, require_binary

RULE_TESTS = sorted((REPO / "prometheus" / "tests").glob("*.yml"))
ALERTS_FILE = REPO / "prometheus" / "rules" / "holysheep-alerts.yml"
RECORDING_FILE = REPO / "prometheus" / "rules" / "holysheep-recording.yml"
README = REPO / "README.md"
POLICY = REPO / "prometheus" / "README.md"


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


def _alert_rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(ALERTS_FILE.read_text())["groups"] for r in g["rules"] if "alert" in r]


def test_alerts_are_documented() -> None:
    for rule in _alert_rules():
        ann = rule.get("annotations", {})
        assert {"summary", "description", "runbook_url"} <= set(ann), rule["alert"]
        assert all(str(ann[key]).strip() for key in ("summary", "description", "runbook_url")), rule["alert"]
        assert "runbook" not in ann, f"{rule['alert']}: the runbook lives in README.md, linked by runbook_url"
        assert rule.get("labels", {}).get("severity") in {"page", "ticket", "warning"}, rule["alert"]


def _troubleshooting_section() -> str:
    text = README.read_text()
    start = text.index("\n## Troubleshooting\n")
    return text[start : text.index("\n## ", start + 1)]


def _anchors(section: str) -> set[str]:
    """Explicit ``<a id="...">`` anchors and heading anchors (GitHub's slugs) of a Markdown section."""
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', section))
    for heading in re.findall(r"^#{2,6} (.+)$", section, flags=re.MULTILINE):
        anchors.add(re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-"))
    return anchors


def test_every_runbook_url_points_at_a_troubleshooting_anchor() -> None:
    section = _troubleshooting_section()
    anchors = _anchors(section)
    assert "alert-runbooks" in anchors
    for rule in _alert_rules():
        url = rule["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page == "README.md" and anchor, f"{rule['alert']}: runbook_url {url!r} is not README.md#<anchor>"
        assert anchor in anchors, f"{rule['alert']}: no anchor {anchor!r} in README.md's Troubleshooting section"
        # the heading right under the anchor names the alert
        heading = section[section.index(f'<a id="{anchor}"></a>') :].split("\n", 2)[1]
        assert heading.startswith("#### ") and rule["alert"] in heading, f"{rule['alert']}: #{anchor} is {heading!r}"


def test_anchor_check_sees_a_missing_anchor() -> None:
    """The anchor check is not vacuous: an anchor that is not there is not found."""
    anchors = _anchors('<a id="alert-x"></a>\n#### HolySheepX (page)\n')
    assert anchors == {"alert-x", "holysheepx-page"}
    assert "alert-holysheepnosuchalert" not in _anchors(_troubleshooting_section())


PIPELINE_FILE = REPO / "prometheus" / "rules" / "holysheep-pipeline.yml"
COLLECTOR_README = REPO / "collector" / "README.md"


def _pipeline_alerts() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(PIPELINE_FILE.read_text())["groups"] for r in g["rules"] if "alert" in r]


def test_pipeline_alerts_are_documented_and_link_to_collector_runbooks() -> None:
    text = COLLECTOR_README.read_text()
    section = text[text.index("\n### Runbooks\n") :]
    anchors = _anchors(section)
    alerts = _pipeline_alerts()
    assert len(alerts) == 5
    for rule in alerts:
        ann = rule.get("annotations", {})
        assert all(str(ann.get(key, "")).strip() for key in ("summary", "description", "runbook_url")), rule["alert"]
        assert rule.get("labels", {}).get("severity") in {"page", "ticket", "warning"}, rule["alert"]
        page, _, anchor = ann["runbook_url"].partition("#")
        assert page == "collector/README.md" and anchor in anchors, (rule["alert"], ann["runbook_url"])
        heading = section[section.index(f'<a id="{anchor}"></a>') :].split("\n", 2)[1]
        assert heading.startswith("#### ") and rule["alert"] in heading, f"{rule['alert']}: #{anchor} is {heading!r}"


def test_the_alert_policy_lists_every_alert() -> None:
    policy = POLICY.read_text()
    for rule in [*_alert_rules(), *_pipeline_alerts()]:
        assert f"`{rule['alert']}`" in policy, f"{rule['alert']} is missing from prometheus/README.md's policy"


def test_error_ratios_aggregate_both_sides_by_model() -> None:
    """rate(errors) / rate(requests) without aggregation matches nothing (different label sets) and never fires: every
    division over errors has a right-hand side summed by model (directly, or a model: recording rule)."""
    rules = [r for path in SHIPPED_RULE_FILES for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]
    divisions = [
        (rule.get("alert") or rule.get("record"), rhs.strip())
        for rule in rules
        if "holysheep_errors_total" in rule["expr"] or "holysheep_gateway_errors" in rule["expr"]
        for rhs in re.findall(r"/\s*([^\n]+)", rule["expr"])
    ]
    assert len(divisions) >= 5, "expected the four error ratio rules and the 429 ratio"
    for name, rhs in divisions:
        assert rhs.startswith(("sum by (model)", "model:holysheep_")), f"{name}: / {rhs}"
    text = ALERTS_FILE.read_text() + RECORDING_FILE.read_text()
    assert "/ rate(holysheep_requests_total" not in text


def test_auth_alerts_tell_to_check_the_api_key() -> None:
    rules = {r["alert"]: r for r in _alert_rules()}
    for name in ("HolySheepAuthFailures", "HolySheepAuthRejected"):
        auth = rules[name]
        assert "http_401" in auth["expr"] and "http_403" in auth["expr"]
        assert "check your API key" in auth["annotations"]["summary"]
    assert rules["HolySheepAuthFailures"]["labels"]["severity"] == "page"
    assert rules["HolySheepAuthRejected"]["labels"]["severity"] == "warning"


@pytest.mark.parametrize("path", [*SHIPPED_RULE_FILES, *RULE_TESTS], ids=lambda p: Path(p).name)
def test_yaml_parses(path: Path) -> None:
    assert yaml.safe_load(path.read_text())
