"""The Grafana dashboard: generated JSON is current, uses only current panel types, provisions cleanly, and every
metric and label it (or a Prometheus rule) references is one otel-holysheep emits."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector_checks import recording_rules
from engines import (
    REPO,
    SHIPPED_RULE_FILES,
    dashboard_queries,
    load_grafana_generate,
    prometheus_config,
    require_binary,
    shipped_rule_files,
    start_prometheus,
    start_victoria_metrics,
    static_exposition_server,
)
from otel_holysheep._series import ATTRIBUTED_SERIES, DETAIL_SERIES, PROMETHEUS_SERIES

GRAFANA = REPO / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDER = GRAFANA / "provisioning" / "dashboards" / "holysheep.yml"

# GenAI semantic-convention histograms the instrumentation also emits (name -> labels).
GEN_AI_SERIES = {
    "gen_ai_client_operation_duration_seconds": (
        "gen_ai_operation_name",
        "gen_ai_provider_name",
        "gen_ai_request_model",
        "gen_ai_response_model",
        "server_address",
        "server_port",
        "error_type",
    ),
    "gen_ai_client_token_usage": (
        "gen_ai_operation_name",
        "gen_ai_provider_name",
        "gen_ai_request_model",
        "gen_ai_response_model",
        "server_address",
        "server_port",
        "gen_ai_token_type",
    ),
}
HISTOGRAMS = {s.name for s in PROMETHEUS_SERIES if s.type == "histogram"} | set(GEN_AI_SERIES)
KNOWN_LABELS: dict[str, set[str]] = {s.name: set(s.labels) for s in PROMETHEUS_SERIES}
KNOWN_LABELS.update({name: set(labels) for name, labels in GEN_AI_SERIES.items()})
COMMON_LABELS = {"job", "instance", "otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}
# The attribution labels the shipped rules and the dashboard's default assume
# (OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION=route,baggage.team), on the counters that carry attribution labels.
for _name in ATTRIBUTED_SERIES:
    KNOWN_LABELS[_name] |= {"route", "team"}
METRIC_RE = re.compile(r"(?<![\w:.-])(holysheep_\w+|gen_ai_\w+)(?![\w:])")
SELECTOR_RE = re.compile(r"(?<![\w:])(holysheep_\w+|gen_ai_\w+)\{([^}]*)\}")


generate = load_grafana_generate()


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels") or [])


def base_metric(name: str) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in HISTOGRAMS:
            return name[: -len(suffix)]
    return name


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads((GRAFANA / "dashboards" / "holysheep-overview.json").read_text())


def test_committed_dashboard_is_what_generate_produces() -> None:
    assert generate.render() == generate.DASHBOARD_FILE.read_text(), "stale: run python grafana/generate.py"
    assert [p.name for p in DASHBOARDS] == ["holysheep-overview.json"]


def test_uid_and_variables(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "holysheep-overview"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert list(variables) == ["datasource", "job", "instance", "model", "attribution"]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("job", "instance", "model"):
        var = variables[name]
        assert var["type"] == "query"
        assert var["multi"] is True and var["includeAll"] is True and var["allValue"] == ".*"
        assert var["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert var["query"]["query"].startswith("label_values(") and var["query"]["query"].endswith(f", {name})")
    attribution = variables["attribution"]
    assert attribution["type"] == "query" and not attribution.get("multi") and not attribution.get("includeAll")
    assert attribution["query"]["query"] == "label_names(holysheep_cost_usd_total)"
    assert attribution["query"]["qryType"] == 0 and attribution["query"]["match"] == "holysheep_cost_usd_total"
    assert attribution["current"]["value"] == "route"


def test_attribution_variable_regex_keeps_only_attribution_labels(dashboard: dict[str, Any]) -> None:
    """Grafana applies the variable's regex (a JavaScript one) to the label names: Python's re agrees on this one."""
    regex = next(v for v in dashboard["templating"]["list"] if v["name"] == "attribution")["regex"]
    assert regex.startswith("/") and regex.endswith("/")
    pattern = re.compile(regex[1:-1])
    names = [
        "__name__", "job", "instance", "model", "otel_scope_name", "otel_scope_version", "service_name",
        "service_instance_id", "telemetry_sdk_language", "host_name", "route", "team", "feature", "tenant_id",
    ]  # fmt: skip
    assert [n for n in names if pattern.fullmatch(n)] == ["route", "team", "feature", "tenant_id"]


def test_attribution_row(dashboard: dict[str, Any]) -> None:
    panels = dashboard["panels"]
    titles = [p["title"] for p in panels]
    start = titles.index("Spend by route / team")
    row = titles[start + 1 : start + 6]
    assert row == [
        "Cost per hour by $attribution",
        "Spend by $attribution over the range",
        "Unattributed spend",
        "Requests / s by $attribution",
        "Tokens by $attribution over the range",
    ]
    assert set(row) - {"Unattributed spend"} == generate.ATTRIBUTION_PANELS
    for panel in panels[start + 1 : start + 6]:
        (target,) = panel["targets"]
        assert "sum by (${attribution})" in target["expr"]
        if panel["title"] in generate.ATTRIBUTION_PANELS:  # the series without the label are removed
            assert "\n  unless sum(" in target["expr"]
    assert len(dashboard_queries(attribution=True)) == len(dashboard_queries()) + 4


def test_budget_row_reads_only_the_budget_rules(dashboard: dict[str, Any]) -> None:
    """The "Budgets" row shows the series `otel-holysheep rules --budgets` records, and dashboard_queries leaves it
    out unless asked (those rules are the user's file, not loaded by default)."""
    from otel_holysheep.budgets import rules

    panels = [p for p in all_panels(dashboard["panels"]) if p["title"] in generate.BUDGET_PANELS]
    assert {p["title"] for p in panels} == generate.BUDGET_PANELS
    exprs = {t["expr"] for p in panels for t in p["targets"]}
    assert exprs == {rules.RATIO, rules.MTD, rules.PROJECTED, rules.BUDGET_USD, rules.REMAINING}
    share = next(p for p in panels if p["title"] == "Projected month-end share of budget")
    steps = [(s["value"], s["color"]) for s in share["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert steps == [(None, "green"), (0.8, "yellow"), (1.0, "red")]
    assert len(dashboard_queries(budgets=True)) == len(dashboard_queries()) + 5
    assert not {pq.panel for pq in dashboard_queries()} & generate.BUDGET_PANELS


def test_only_current_panel_types(dashboard: dict[str, Any]) -> None:
    types = {p["type"] for p in all_panels(dashboard["panels"])}
    assert types <= {"timeseries", "stat", "gauge", "bargauge", "table", "row"}, types
    assert {"timeseries", "stat", "gauge", "bargauge", "table"} <= types


def test_no_import_placeholders_anywhere() -> None:
    for path in [*DASHBOARDS, DATASOURCES, DASHBOARD_PROVIDER]:
        text = path.read_text()
        assert "${DS_" not in text, path
        assert "__inputs" not in text, path


def test_every_query_uses_the_datasource_variable_and_filters(dashboard: dict[str, Any]) -> None:
    targets = 0
    for panel in all_panels(dashboard["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel.get("targets"), panel["title"]
        for target in panel["targets"]:
            targets += 1
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            if panel["title"] in generate.PIPELINE_PANELS:
                # the Collectors' own metrics: every selector names their scrape job, and no app series is read
                assert not METRIC_RE.findall(target["expr"]), target["expr"]
                assert target["expr"].count("{") == target["expr"].count(generate.PIPELINE_JOB), target["expr"]
                continue
            if panel["title"] in generate.BUDGET_PANELS:
                # the budget rules' own series (labelled by budget, not job/instance/model): no raw series is read
                assert not METRIC_RE.findall(target["expr"]), target["expr"]
                continue
            selectors = SELECTOR_RE.findall(target["expr"])
            assert selectors, target["expr"]
            assert len(selectors) == len(METRIC_RE.findall(target["expr"])), f"unfiltered metric in {target['expr']}"
            for _, matchers in selectors:
                assert matchers.startswith('job=~"$job", instance=~"$instance", model=~"$model"'), target["expr"]
    assert targets >= 25


def test_required_panels_present(dashboard: dict[str, Any]) -> None:
    exprs = "\n".join(t["expr"] for p in all_panels(dashboard["panels"]) for t in p.get("targets") or [])
    for needle in (
        "sum by (model, status) (rate(holysheep_requests_total",
        "holysheep_errors_total",
        "histogram_quantile(0.99, sum by (model, le) (rate(holysheep_request_duration_seconds_bucket",
        "histogram_quantile(0.50, sum by (model, le) (rate(holysheep_time_to_first_token_seconds_bucket",
        "histogram_quantile(0.95, sum by (model, le) (rate(holysheep_time_to_headers_seconds_bucket",
        "sum by (model, token_type) (rate(holysheep_tokens_total",
        "increase(holysheep_cost_usd_total",
        "holysheep_active_requests",
        "holysheep_ratelimit_remaining",
        "sum by (model, reason) (rate(holysheep_retries_total",
        "holysheep_stream_outcomes_total",
        'sum by (model) (rate(holysheep_finishes_total{job=~"$job", instance=~"$instance", model=~"$model", '
        'finish_reason="length"}',
        "sum by (model, finish_reason) (increase(holysheep_finishes_total",
        "sum by (model) (rate(holysheep_tool_calls_total",
    ):
        assert needle in exprs, needle


def test_panels_of_the_detail_histograms_say_they_need_the_setting(dashboard: dict[str, Any]) -> None:
    """The opt-in histograms have no series with the defaults: each panel reading one says which setting fills it."""
    reading = {
        p["title"]: p
        for p in all_panels(dashboard["panels"])
        if any(base_metric(m) in DETAIL_SERIES for t in p.get("targets") or [] for m in METRIC_RE.findall(t["expr"]))
    }
    assert set(reading) == generate.DETAIL_PANELS
    for title, panel in reading.items():
        assert "OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS=true" in panel["description"], title


def test_latency_panels_show_exemplars(dashboard: dict[str, Any]) -> None:
    """The P95 series of the request-latency and time-to-first-token panels carry exemplars (the dots that open the
    trace of a slow request), and only range queries of those panels do."""
    with_exemplars = {
        p["title"]: [t["expr"] for t in p.get("targets") or [] if t.get("exemplar")]
        for p in all_panels(dashboard["panels"])
        if any(t.get("exemplar") for t in p.get("targets") or [])
    }
    assert set(with_exemplars) == {"Request latency P50 / P95 / P99", "Time to first token P50 / P95"}
    for exprs in with_exemplars.values():
        assert len(exprs) == 1 and exprs[0].startswith("histogram_quantile(0.95"), exprs


def test_comparison_table_merges_instant_queries_by_model(dashboard: dict[str, Any]) -> None:
    (panel,) = [p for p in all_panels(dashboard["panels"]) if p["type"] == "table"]
    assert [t["id"] for t in panel["transformations"]][:1] == ["merge"]
    assert all(t["instant"] and t["format"] == "table" for t in panel["targets"])
    renamed = panel["transformations"][1]["options"]["renameByName"]
    assert {"Avg latency", "P95 latency", "Success rate", "Cost per 1M tokens"} <= set(renamed.values())
    for target in panel["targets"]:
        assert target["expr"].lstrip("(").startswith(("sum by (model)", "histogram_quantile(0.95, sum by (model, le)"))


def test_provisioning_matches_the_dashboard(dashboard: dict[str, Any]) -> None:
    datasources = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    (ds,) = datasources
    assert ds["type"] == "prometheus"
    default = next(v for v in dashboard["templating"]["list"] if v["name"] == "datasource")["current"]["value"]
    assert ds["uid"] == default == generate.DATASOURCE_UID
    providers = yaml.safe_load(DASHBOARD_PROVIDER.read_text())["providers"]
    assert providers[0]["type"] == "file" and providers[0]["options"]["path"]


def referenced_metrics(text: str) -> set[str]:
    return {base_metric(m) for m in METRIC_RE.findall(text)}


# holysheep-pipeline.yml reads the Collectors' own metrics (otelcol_*), which the fault tests fire on live data
APP_RULE_FILES = [p for p in SHIPPED_RULE_FILES if p.name != "holysheep-pipeline.yml"]


@pytest.mark.parametrize("path", [*DASHBOARDS, *APP_RULE_FILES], ids=lambda p: p.name)
def test_every_referenced_metric_is_emitted(path: Path) -> None:
    if path.suffix == ".json":
        doc = json.loads(path.read_text())
        text = "\n".join(t["expr"] for p in all_panels(doc["panels"]) for t in p.get("targets") or [])
        text += "\n" + "\n".join(str(v.get("query")) for v in doc["templating"]["list"])
    else:
        doc = yaml.safe_load(path.read_text())
        text = "\n".join(
            r["expr"] + "\n" + "\n".join((r.get("annotations") or {}).values())
            for g in doc["groups"]
            for r in g["rules"]
        )
    names = referenced_metrics(text)
    assert names, path
    unknown = names - set(KNOWN_LABELS)
    assert not unknown, f"{path.name} references metrics otel-holysheep does not emit: {sorted(unknown)}"


@pytest.mark.parametrize("path", [*DASHBOARDS, *SHIPPED_RULE_FILES], ids=lambda p: p.name)
def test_every_selector_label_exists(path: Path) -> None:
    for metric, matchers in SELECTOR_RE.findall(path.read_text().replace('\\"', '"')):
        labels = {m.split("=")[0].strip().rstrip("!~") for m in matchers.split(",") if m.strip()}
        allowed = KNOWN_LABELS[base_metric(metric)] | COMMON_LABELS | {"le"}
        assert labels <= allowed, f"{metric}{{{matchers}}}: {labels - allowed}"


def test_dashboard_queries_substitutes_everything() -> None:
    queries = generate.dashboard_queries()
    assert len(queries) >= 25
    for pq in queries:
        assert "$" not in pq.expr, pq
        assert 'job=~".*", instance=~".*", model=~".*"' in pq.expr
    assert any(pq.instant for pq in queries) and any(not pq.instant for pq in queries)
    picked = generate.dashboard_queries(values={"model": "gpt-4o"}, rate_interval="30s", range_="10m")
    assert all('model=~"gpt-4o"' in pq.expr for pq in picked)
    assert any("[30s]" in pq.expr for pq in picked) and any("[10m]" in pq.expr for pq in picked)


@pytest.mark.engines
def test_every_dashboard_query_parses_in_prometheus_and_victoria_metrics(tmp_path: Path) -> None:
    """Syntax and type check of every query (no data needed: an empty result is fine, an error is not)."""
    require_binary("prometheus")
    require_binary("victoria-metrics")
    queries = dashboard_queries()
    with (
        start_prometheus(prometheus_config({"holysheep-apps": ["127.0.0.1:9"]}), [], tmp_path) as prom,
        start_victoria_metrics(tmp_path) as vm,
    ):
        for pq in queries:
            prom.query(pq.expr)  # raises EngineError on a bad query
            vm.query(pq.expr)


def _growing(text: str) -> Callable[[], str]:
    """``text`` (an exposition) with every holysheep_* counter value times the number of scrapes so far."""
    scrapes = [0]

    def render() -> str:
        scrapes[0] += 1
        return re.sub(
            r"^(holysheep_\w+_total\{.*\}) (\S+)$",
            lambda m: f"{m.group(1)} {float(m.group(2)) * scrapes[0]!r}",
            text,
            flags=re.MULTILINE,
        )

    return render


ATTRIBUTED_EXPOSITION = (REPO / "tests" / "report" / "fixtures" / "metrics-attributed.txt").read_text()
DEFAULT_EXPOSITION = (REPO / "tests" / "report" / "fixtures" / "metrics.txt").read_text()


@pytest.mark.engines
def test_attribution_row_with_and_without_labels(tmp_path: Path) -> None:
    """On Prometheus: the attribution row splits spend by route and by team where the labels exist (exporter output
    with route and team), and shows no split and 100% unattributed spend where they do not."""
    require_binary("prometheus")
    with (
        static_exposition_server(_growing(ATTRIBUTED_EXPOSITION)) as with_labels,
        static_exposition_server(_growing(DEFAULT_EXPOSITION)) as without_labels,
        start_prometheus(
            prometheus_config({"holysheep-apps": [with_labels, without_labels]}),
            shipped_rule_files(tmp_path),
            tmp_path,
        ) as prom,
    ):
        prom.wait_for("count(count_over_time(holysheep_cost_usd_total[1m]) >= 4)", timeout=30)
        for label, values in (("route", {"/summarize", "/chat/{thread_id}"}), ("team", {"search", "ads"})):
            queries = {
                pq.panel: pq.expr
                for pq in dashboard_queries(values={"attribution": label}, attribution=True, rate_interval="30s")
                if pq.panel in generate.ATTRIBUTION_PANELS or pq.panel == "Unattributed spend"
            }
            assert len(queries) == 5
            for panel, expr in queries.items():
                if panel == "Unattributed spend":
                    continue
                result = prom.query(expr)
                assert {r["metric"].get(label) for r in result} == values, (panel, result)
            # only the spend of the fixture's requests without the label is unattributed: per instance (one with
            # labels, one without), the share is exact whatever the extrapolation of increase()
            share = {}
            for target in (with_labels, without_labels):
                narrowed = queries["Unattributed spend"].replace('instance=~".*"', f'instance="{target}"')
                (sample,) = prom.query(narrowed)
                share[target] = float(sample["value"][1])
            unattributed = {"route": 5 * 0.00007, "team": 10 * 0.0018 + 5 * 0.00007}[label]
            total = 20 * 0.0036 + 10 * 0.0018 + 30 * 0.00077 + 5 * 0.00007
            assert share[with_labels] == pytest.approx(unattributed / total, rel=1e-6)
            assert share[without_labels] == 1.0
        # the per-team spend recording rule (HolySheepTeamSpendAboveBudget's input) has one series per team
        attributed_only = set(recording_rules(attributed=True)) - set(recording_rules())
        assert attributed_only == {"team:holysheep_cost_usd:increase5m"}  # left out of the default-settings checks
        for record in attributed_only:
            result = prom.wait_for(record, lambda r: len(r) == 2, timeout=30)
            assert {r["metric"]["team"] for r in result} == {"search", "ads"}, result
        # without any attribution label in the data, the split panels show nothing at all
        for pq in dashboard_queries(values={"attribution": "route", "instance": without_labels}, attribution=True):
            if pq.panel in generate.ATTRIBUTION_PANELS:
                assert prom.query(pq.expr) == [], pq
