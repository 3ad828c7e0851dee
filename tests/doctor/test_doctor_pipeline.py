"""The doctor against real processes: instrumented apps under opentelemetry-instrument (a healthy one, one with the
tutorial's problems, one whose base URL setting misses the URL it calls) talking to the gateway simulator, and two
real Prometheus servers: a good scrape config with the shipped rules, and a broken one (a target on a closed port,
a rule file with a missing and a failing rule, alerts without their `for:` delay)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from doctor_helpers import (
    GOOD_EXPORTERS,
    app_env,
    doctor_command,
    every,
    metric_value,
    only,
    run,
    sample_names,
    start_app,
    statuses,
    stop,
    wait_ready,
    wait_until,
)

from engines import PrometheusServer, find_binary, free_port, prometheus_config, shipped_rule_files, start_prometheus
from otel_holysheep.doctor.prometheus import RULES
from otel_holysheep.doctor.result import EXIT_FAIL, EXIT_OK, Status, exit_code
from otel_holysheep.simulator import GatewaySimulator

pytestmark = pytest.mark.slow

OK, WARN, FAIL, SKIP = Status.OK, Status.WARN, Status.FAIL, Status.SKIP
BROKEN_RULE = "model:holysheep_requests:rate5m"
MISSING_RULE = "model:holysheep_error_ratio:rate6h"


@dataclass(frozen=True)
class Apps:
    gateway: str
    healthy: str  # host:port of each app's /metrics
    unhealthy: str
    unmeasured: str  # OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS left at the public gateway: nothing it calls matches
    closed: str  # nothing listens there

    def metrics(self, address: str) -> str:
        return f"http://{address}/metrics"

    @property
    def env(self) -> dict[str, str]:
        """The doctor's environment: the apps' configuration."""
        return {**GOOD_EXPORTERS, "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": self.gateway}


@pytest.fixture(scope="module")
def apps() -> Iterator[Apps]:
    with ExitStack() as stack:
        sim = stack.enter_context(GatewaySimulator())
        ports = [free_port() for _ in range(4)]
        modes = (
            ("healthy", {}),
            # the detail histograms on: the advised wait of the 429s comes from holysheep_retry_after_seconds
            (
                "unhealthy",
                {
                    "OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS": "5",
                    "OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS": "true",
                },
            ),
            ("healthy", {"OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": "<unset>"}),
        )
        procs = [
            start_app(mode, app_env(sim.base_url, port, **extra))
            for (mode, extra), port in zip(modes, ports[:3], strict=True)
        ]
        for proc in procs:
            stack.callback(stop, proc)
        for proc in procs:
            wait_ready(proc)
        found = Apps(sim.base_url, *(f"127.0.0.1:{port}" for port in ports))
        # The unhealthy app's never-answered call is in flight once its gauge shows it.
        wait_until(
            lambda: (
                metric_value(found.metrics(found.unhealthy), "holysheep_active_requests", {"model": "gpt-4.1"}) == 1
            ),
            "the never-answered request",
        )
        yield found


@dataclass(frozen=True)
class Proms:
    good: PrometheusServer
    broken: PrometheusServer
    broken_rule_error: str


def _broken_rules(tmp_path: Path) -> list[Path]:
    """The shipped rules with alerts firing at once, one recording rule missing and one that cannot evaluate."""
    files = shipped_rule_files(tmp_path, for_="0s")
    recording = next(path for path in files if path.name == "holysheep-recording.yml")
    doc = yaml.safe_load(recording.read_text())
    rules = doc["groups"][0]["rules"]
    rules[:] = [rule for rule in rules if rule.get("record") != MISSING_RULE]
    next(rule for rule in rules if rule.get("record") == BROKEN_RULE)["expr"] = (
        "holysheep_requests_total / on (model) holysheep_errors_total"
    )
    recording.write_text(yaml.safe_dump(doc, sort_keys=False))
    return files


@pytest.fixture(scope="module")
def proms(apps: Apps, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proms]:
    if find_binary("prometheus") is None:
        pytest.skip("prometheus not found: `make test` fetches it with scripts/fetch-engines.sh (make engines)")
    good_dir, broken_dir = tmp_path_factory.mktemp("good"), tmp_path_factory.mktemp("broken")
    with ExitStack() as stack:
        good = stack.enter_context(
            start_prometheus(
                prometheus_config({"holysheep-apps": [apps.healthy]}), shipped_rule_files(good_dir), good_dir
            )
        )
        broken = stack.enter_context(
            start_prometheus(
                prometheus_config({"holysheep-apps": [apps.unhealthy, apps.unmeasured, apps.closed]}),
                _broken_rules(broken_dir),
                broken_dir,
            )
        )
        assert isinstance(good, PrometheusServer) and isinstance(broken, PrometheusServer)
        good.wait_for("holysheep_requests_total", timeout=30)
        wait_until(lambda: not good.alerts(), "the good Prometheus to settle (HolySheepMetricsAbsent pending)")
        broken.wait_for("holysheep_requests_total", timeout=30)
        broken.wait_for(f'up{{instance="{apps.closed}"}} == 0', timeout=30)
        # Two 401s warn (HolySheepAuthRejected) but do not page (HolySheepAuthFailures wants them to keep coming); the
        # 429s' x-ratelimit-remaining: 0 is stale (no call to that model since): no HolySheepRateLimitHeadroomLow.
        firing = {"HolySheepAuthRejected", "HolySheepScrapeTargetDown"}
        broken.wait_for(
            'ALERTS{alertstate="firing"}',
            lambda result: {r["metric"]["alertname"] for r in result} == firing,
            timeout=30,
        )

        def broken_rule() -> dict[str, str]:
            return next(r for g in broken.rules() for r in g["rules"] if r["name"] == BROKEN_RULE)

        wait_until(lambda: broken_rule()["health"] == "err", "the failing rule to be evaluated")
        yield Proms(good, broken, broken_rule()["lastError"])


# --- the app side (--metrics) -----------------------------------------------------------------------------------


def test_healthy_app(apps: Apps) -> None:
    findings = run(apps.env, metrics=apps.metrics(apps.healthy), interval=0.3, app_urls=(apps.gateway,))
    url = apps.metrics(apps.healthy)
    assert statuses(findings, "app.") == {
        "app.reachable": [OK],
        "app.series": [OK],
        "app.series_budget": [OK],
        "app.active_requests": [OK],
    }
    assert only(findings, "app.series").message.endswith("holysheep_* series, 2 requests")
    assert only(findings, "app.active_requests").message == "no request in flight"
    assert only(findings, "config.app_url").message == (
        f"calls to {apps.gateway}/chat/completions (--app-url) are measured (base URL {apps.gateway})"
    )
    source = f"since the app started ({url})"
    assert [(f.check, f.status, f.message) for f in findings if f.section == "gateway"] == [
        ("gateway.auth", OK, f"no 401/403 answers {source}"),
        ("gateway.rate_limits", OK, f"no 429 answers {source}"),
        ("gateway.timeouts", OK, f"no timeouts or connection errors {source}"),
        ("gateway.usage", OK, f"every successful response reported its token usage {source}"),
        ("gateway.prices", OK, f"every model with tokens has a price {source}"),
    ]
    assert exit_code(findings) == EXIT_OK


def test_unhealthy_app(apps: Apps) -> None:
    url = apps.metrics(apps.unhealthy)
    findings = run(apps.env, metrics=url, interval=0.5)
    assert statuses(findings, "app.") == {
        "app.reachable": [OK],
        "app.series": [OK],
        "app.series_budget": [WARN],
        "app.active_requests": [WARN],
    }
    assert only(findings, "app.series").message.endswith("holysheep_* series, 14 requests")
    budget = only(findings, "app.series_budget")
    assert 'model="other" means more distinct models than OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS' in budget.message
    assert budget.fix.startswith("raise OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS")
    active = only(findings, "app.active_requests")
    assert active.message == (
        "requests in flight for 0.5 s with none finishing: gpt-4.1 1 (holysheep_active_requests): "
        "stalled connections or streams"
    )
    assert active.fix.startswith("give the client a timeout")
    _assert_unhealthy_gateway(findings, f"since the app started ({url})")
    assert exit_code(findings) == EXIT_FAIL


def _assert_unhealthy_gateway(findings: list, source: str) -> None:
    gateway = {f.check: f for f in findings if f.section == "gateway"}
    assert {check: f.status for check, f in gateway.items()} == {
        "gateway.auth": FAIL,
        "gateway.rate_limits": WARN,
        "gateway.timeouts": WARN,
        "gateway.usage": WARN,
        "gateway.prices": WARN,
    }
    assert gateway["gateway.auth"].message == (
        f"2 requests answered 401/403 (gpt-4.1 2) {source}: the gateway rejects the API key (missing, wrong, "
        "revoked, or not allowed this model)"
    )
    assert "HOLYSHEEP_API_KEY or OPENAI_API_KEY" in gateway["gateway.auth"].fix
    assert gateway["gateway.rate_limits"].message == (
        f"rate limited (429) {source}: gemini-2.5-flash 3 of 4 (75%), advised wait 7.0 s on average"
    )
    assert gateway["gateway.timeouts"].message == f"timeouts: claude-sonnet-4 2 {source}"
    assert gateway["gateway.usage"].message == (
        f"2 responses without usage (deepseek-v3.2 2) {source}, mostly streams without include_usage: their tokens "
        "and cost are not counted"
    )
    assert "OTEL_INSTRUMENTATION_HOLYSHEEP_REQUEST_STREAM_USAGE=true" in gateway["gateway.usage"].fix
    assert gateway["gateway.prices"].message == (
        f"models without a price {source}: my-finetune 120 tokens; their cost is not counted (never guessed)"
    )
    assert gateway["gateway.prices"].fix.endswith("set OTEL_INSTRUMENTATION_HOLYSHEEP_PRICES_FILE to its path")


def test_price_file_the_app_has_not_loaded(apps: Apps, tmp_path: Path) -> None:
    """The doctor's environment prices my-finetune, the running app does not: it needs a restart."""
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  my-finetune: {input: 1.0, output: 3.0}\n")
    env = {**apps.env, "OTEL_INSTRUMENTATION_HOLYSHEEP_PRICES_FILE": str(prices)}
    finding = only(run(env, metrics=apps.metrics(apps.unhealthy), interval=0), "gateway.prices")
    assert (finding.status, finding.fix) == (
        WARN,
        "the price book configured here prices them: restart the app so it loads "
        "OTEL_INSTRUMENTATION_HOLYSHEEP_PRICES_FILE",
    )


def test_series_budget(apps: Apps) -> None:
    findings = run(apps.env, metrics=apps.metrics(apps.healthy), interval=0, max_series_per_model=60)
    budget = only(findings, "app.series_budget")
    assert budget.status is WARN
    assert budget.message.endswith("; above 60 per model: claude-sonnet-4")
    assert "(0 of them gen_ai_*)" in budget.message  # gen_ai.* off by default: the fix is native histograms
    assert budget.fix.startswith("on the push path, export base-2 exponential histograms")
    assert only(findings, "app.active_requests").status is SKIP


def test_app_with_a_wrong_base_url(apps: Apps) -> None:
    """The app calls the simulator but was left with the default base URL: run with the app's own environment, the
    doctor fails on exactly the two lines that show it, and both name the setting."""
    url = apps.metrics(apps.unmeasured)
    findings = run(dict(GOOD_EXPORTERS), metrics=url, interval=0, app_urls=(apps.gateway,))
    assert [(f.check, f.message, f.fix) for f in findings if f.status is FAIL] == [
        (
            "config.app_url",
            f"the app calls {apps.gateway} (--app-url), but OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS covers only "
            "https://api.holysheep.ai/v1 (no base URL for host 127.0.0.1): those requests pass through unmeasured",
            f"set OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS={apps.gateway}",
        ),
        (
            "app.series",
            f"{url} serves {len(sample_names(url))} metric names from the OpenTelemetry Prometheus exporter, none from "
            "otel-holysheep",
            "set OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS to the base URL the app really calls (now "
            "https://api.holysheep.ai/v1; check it with --app-url URL), and make sure otel-holysheep is installed and "
            "enabled in the app's environment (install.* lines); the series appear after the first request",
        ),
    ]
    assert [f.status for f in findings if f.status is WARN] == []
    assert [f.check for f in findings if f.section == "gateway"] == ["gateway"]  # skipped: nothing to judge


def test_app_not_running(apps: Apps) -> None:
    url = apps.metrics(apps.closed)
    findings = run(apps.env, metrics=url)
    reachable = only(findings, "app.reachable")
    assert reachable.status is FAIL
    assert reachable.message == f"cannot reach the metrics endpoint at {url}: connection refused"
    assert "under opentelemetry-instrument with OTEL_METRICS_EXPORTER=prometheus" in reachable.fix
    assert reachable.fix.endswith(
        f"you asked port {apps.closed.split(':')[1]} but OTEL_EXPORTER_PROMETHEUS_PORT defaults to 9464"
    )


# --- the Prometheus side (--prometheus) -------------------------------------------------------------------------


@pytest.mark.engines
def test_good_prometheus(apps: Apps, proms: Proms) -> None:
    findings = run(apps.env, prometheus=proms.good.url, metrics=apps.metrics(apps.healthy), interval=0)
    rule_count = sum(len(names) for names in RULES.values())
    version = proms.good.get_json("/api/v1/status/buildinfo")["data"]["version"]
    assert [(f.check, f.status, f.message) for f in findings if f.section == "prometheus"] == [
        ("prometheus.reachable", OK, f"Prometheus {version} at {proms.good.url}"),
        ("prometheus.target", OK, f"Prometheus scrapes http://{apps.healthy}/metrics (job holysheep-apps): up"),
        (
            "prometheus.rules",
            OK,
            f"{rule_count} otel-holysheep rules loaded (holysheep-alerts, holysheep-recording, holysheep-pipeline)",
        ),
        ("prometheus.rule_health", OK, f"{rule_count} rules in holysheep* groups evaluate"),
        ("prometheus.series", OK, f"holysheep_requests_total arrives from holysheep-apps/{apps.healthy}"),
        ("prometheus.alerts", OK, "no HolySheep alert is firing"),
    ]
    source = "in the last 15m (Prometheus)"
    assert [(f.check, f.status) for f in findings if f.section == "gateway"] == [
        (check, OK) for check in ("gateway.auth", "gateway.rate_limits", "gateway.timeouts", "gateway.usage")
    ] + [("gateway.prices", OK)]
    assert only(findings, "gateway.auth").message == f"no 401/403 answers {source}"
    assert exit_code(findings) == EXIT_OK


@pytest.mark.engines
def test_broken_prometheus(apps: Apps, proms: Proms) -> None:
    findings = run(apps.env, prometheus=proms.broken.url, window="5m")
    last_error = next(t["lastError"] for t in proms.broken.targets() if t["labels"]["instance"] == apps.closed)
    assert "connection refused" in last_error
    targets = every(findings, "prometheus.target")
    up = ", ".join(sorted(f"http://{address}/metrics" for address in (apps.unmeasured, apps.unhealthy)))
    assert [(f.status, f.message) for f in targets] == [
        (OK, f"Prometheus scrapes {up} (job holysheep-apps): up"),
        (FAIL, f"Prometheus cannot scrape http://{apps.closed}/metrics (job holysheep-apps): {last_error}"),
    ]
    down = next(f for f in targets if f.status is FAIL)
    port = apps.closed.split(":")[1]
    assert "OTEL_EXPORTER_PROMETHEUS_PORT, default 9464" in down.fix
    assert f"scrape host.docker.internal:{port}" in down.fix
    assert 'extra_hosts: ["host.docker.internal:host-gateway"]' in down.fix
    assert "OTEL_EXPORTER_PROMETHEUS_HOST=0.0.0.0" in down.fix

    rules = only(findings, "prometheus.rules")
    assert (rules.status, rules.message) == (
        FAIL,
        f"otel-holysheep rules not loaded: {MISSING_RULE} (holysheep-recording)",
    )
    assert rules.fix.startswith("add prometheus/rules/*.yml (both files) to rule_files in prometheus.yml")
    health = only(findings, "prometheus.rule_health")
    assert (health.status, health.message) == (
        FAIL,
        f"rule {BROKEN_RULE} (holysheep-recording) fails to evaluate: {proms.broken_rule_error}",
    )
    assert "matching" in proms.broken_rule_error

    series = only(findings, "prometheus.series")
    assert (series.status, series.message) == (
        WARN,
        f"holysheep_requests_total arrives from holysheep-apps/{apps.unhealthy}, but not from "
        f"http://{apps.unmeasured}/metrics (up, scraped, without otel-holysheep series)",
    )

    alerts = every(findings, "prometheus.alerts")
    assert [(f.status, f.message.split(" firing")[0]) for f in alerts] == [
        (WARN, "alert HolySheepAuthRejected"),
        (WARN, "alert HolySheepScrapeTargetDown"),
    ]
    assert alerts[0].message == (
        "alert HolySheepAuthRejected firing (error_type=http_401, model=gpt-4.1): HolySheep rejected requests for "
        "model gpt-4.1 with http_401: check your API key"
    )
    assert alerts[0].fix.startswith("The HolySheep gateway answered http_401 to requests for model gpt-4.1")
    assert alerts[0].fix.endswith("Runbook: README.md#alert-holysheepauthfailures")
    assert alerts[1].message == (
        f"alert HolySheepScrapeTargetDown firing (instance={apps.closed}, job=holysheep-apps): Prometheus cannot "
        f"scrape holysheep-apps target {apps.closed}"
    )

    _assert_unhealthy_gateway(findings, "in the last 5m (Prometheus)")
    assert exit_code(findings) == EXIT_FAIL


@pytest.mark.engines
def test_no_target_for_the_app(apps: Apps, proms: Proms) -> None:
    findings = run(apps.env, prometheus=proms.good.url, metrics=apps.metrics(apps.closed))
    target = only(findings, "prometheus.target")
    port = apps.closed.split(":")[1]
    assert (target.status, target.message) == (
        FAIL,
        f"no Prometheus target scrapes port {port} (the app's --metrics {apps.metrics(apps.closed)})",
    )
    assert target.fix.startswith(
        f'add the app to a scrape job in prometheus.yml (static_configs: targets: ["<app host>:{port}"]'
    )


@pytest.mark.engines
def test_series_missing(apps: Apps, proms: Proms) -> None:
    selector = f'{{instance="{apps.closed}"}}'
    findings = run(apps.env, prometheus=proms.broken.url, selector=selector)
    series = only(findings, "prometheus.series")
    assert (series.status, series.message) == (
        FAIL,
        f"no holysheep_requests_total series matching {selector} in Prometheus now",
    )
    assert series.fix.startswith("fix the prometheus.target lines first")


@pytest.mark.engines
def test_prometheus_unreachable_or_not_prometheus(apps: Apps, proms: Proms) -> None:
    closed = apps.metrics(apps.closed).removesuffix("/metrics")
    reachable = only(run(apps.env, prometheus=closed), "prometheus.reachable")
    assert (reachable.status, reachable.message) == (
        FAIL,
        f"cannot reach Prometheus at {closed}/api/v1/status/buildinfo: connection refused",
    )
    not_prometheus = only(run(apps.env, prometheus=f"http://{apps.healthy}"), "prometheus.reachable")
    assert not_prometheus.status is FAIL
    assert not_prometheus.message.endswith("not a Prometheus API answer: is this the Prometheus server's base URL?")


@pytest.mark.engines
def test_metrics_pointing_at_prometheus_itself(apps: Apps, proms: Proms) -> None:
    """The tutorial serves the app's metrics on 9090, Prometheus's own port: --metrics then reads Prometheus."""
    series = only(run(apps.env, metrics=proms.good.url + "/metrics", interval=0), "app.series")
    assert (series.status, series.message) == (
        FAIL,
        f"{proms.good.url}/metrics serves a Prometheus server's own metrics, not the app's",
    )
    assert "do not give the app port 9090" in series.fix


@pytest.mark.engines
def test_command_exit_status(apps: Apps, proms: Proms) -> None:
    env = {**app_env(apps.gateway, 9464), "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": apps.gateway}
    good = ["--metrics", apps.metrics(apps.healthy), "--prometheus", proms.good.url, "--interval", "0"]
    code, document, _ = doctor_command(good, env)
    assert (code, document["exit_code"], document["counts"]["fail"], document["counts"]["warn"]) == (0, 0, 0, 0)
    code, document, _ = doctor_command(["--prometheus", proms.broken.url], env)
    assert (code, document["exit_code"]) == (2, 2)
    assert {c["check"] for c in document["checks"] if c["status"] == "fail"} == {
        "prometheus.target",
        "prometheus.rules",
        "prometheus.rule_health",
        "gateway.auth",
    }
    # two 401s warn; they would page (fail) only if they kept coming
    assert "prometheus.alerts" in {c["check"] for c in document["checks"] if c["status"] == "warn"}
