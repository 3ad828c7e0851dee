"""The finding model, text and JSON output, exit status, the command line, and what the doctor must stay in step
with (the shipped rule files) or away from (the instrumentation core)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from engines import SHIPPED_RULE_FILES
from otel_holysheep import cli
from otel_holysheep.doctor import cli as doctor_cli
from otel_holysheep.doctor.prometheus import RULES, scrape_error_fix
from otel_holysheep.doctor.render import render_json, render_text
from otel_holysheep.doctor.result import EXIT_FAIL, EXIT_OK, EXIT_WARN, Finding, Status, exit_code, fail, ok, skip, warn

FINDINGS = [
    ok("install.entry_point", "loads"),
    warn("config.unknown", "X is not a setting", "rename it to Y"),
    skip("app", "not checked: pass --metrics URL"),
    fail("gateway.auth", "2 requests answered 401", "set HOLYSHEEP_API_KEY"),
]


def test_rule_names_match_the_shipped_rule_files() -> None:
    shipped = {
        group["name"]: tuple(rule.get("alert") or rule.get("record") for rule in group["rules"])
        for path in SHIPPED_RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
    }
    assert shipped == dict(RULES)


def test_warn_and_fail_need_a_fix() -> None:
    with pytest.raises(ValueError, match=r"gateway\.auth: a fail finding must say how to fix it"):
        Finding("gateway.auth", Status.FAIL, "401s")
    with pytest.raises(ValueError, match=r"config\.unknown: a warn finding must say how to fix it"):
        Finding("config.unknown", Status.WARN, "unknown")


def test_exit_status() -> None:
    assert exit_code([]) == EXIT_OK == 0
    assert exit_code(FINDINGS[:1] + FINDINGS[2:3]) == EXIT_OK  # skipped checks do not count
    assert exit_code(FINDINGS[:3]) == EXIT_WARN == 1
    assert exit_code(FINDINGS) == EXIT_FAIL == 2


def test_text() -> None:
    assert render_text(FINDINGS, "otel-holysheep doctor 1.0") == (
        "otel-holysheep doctor 1.0\n"
        "\n"
        "Installation\n"
        "  ok    install.entry_point        loads\n"
        "\n"
        "Configuration\n"
        "  WARN  config.unknown             X is not a setting -> fix: rename it to Y\n"
        "\n"
        "App (/metrics)\n"
        "  skip  app                        not checked: pass --metrics URL\n"
        "\n"
        "Gateway symptoms\n"
        "  FAIL  gateway.auth               2 requests answered 401 -> fix: set HOLYSHEEP_API_KEY\n"
        "\n"
        "failures: 1 failed, 1 warnings, 1 ok, 1 skipped\n"
    )


def test_json() -> None:
    assert json.loads(render_json(FINDINGS, "otel-holysheep doctor 1.0")) == {
        "doctor": "otel-holysheep doctor 1.0",
        "exit_code": 2,
        "counts": {"ok": 1, "warn": 1, "fail": 1, "skip": 1},
        "checks": [
            {"check": "install.entry_point", "status": "ok", "message": "loads", "fix": None},
            {"check": "config.unknown", "status": "warn", "message": "X is not a setting", "fix": "rename it to Y"},
            {"check": "app", "status": "skip", "message": "not checked: pass --metrics URL", "fix": None},
            {
                "check": "gateway.auth",
                "status": "fail",
                "message": "2 requests answered 401",
                "fix": "set HOLYSHEEP_API_KEY",
            },
        ],
    }


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--selector", '{job="x"}'], "--selector and --window apply to --prometheus only"),
        (["--collector-metrics", "http://c:8888/metrics"], "--collector-metrics needs --collector"),
        (["--prometheus", "http://p:9090", "--window", "soon"], "invalid --window 'soon'"),
        (["--timeout", "0"], "--timeout must be a positive number of seconds"),
        (["--format", "yaml"], "invalid choice: 'yaml'"),
    ],
)
def test_bad_arguments(argv: list[str], error: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        doctor_cli.main(argv, env={})
    assert exited.value.code == 2
    assert error in capsys.readouterr().err


def test_listed_by_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    assert "  doctor    read-only diagnosis:" in capsys.readouterr().out


def test_main_prints_and_returns_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_TRACES_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}
    assert doctor_cli.main([], env=env) == 0
    out = capsys.readouterr().out
    assert out.startswith("otel-holysheep doctor ") and f"({sys.executable})\n" in out.splitlines(keepends=True)[0]
    assert out.endswith("healthy: 0 failed, 0 warnings, 9 ok, 6 skipped\n")
    assert doctor_cli.main([], env={**env, "OTEL_METRICS_EXPORTER": "none"}) == 2


def test_the_instrumentation_core_never_imports_the_doctor() -> None:
    code = (
        "import sys, otel_holysheep._instrumentor, otel_holysheep._hook;"
        "print(sorted(m for m in sys.modules if m.startswith(('otel_holysheep.doctor', 'otel_holysheep.report'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("scrape_url", "error", "expected"),
    [
        # The lastError texts below are what Prometheus 2.53 reported for these targets.
        (
            "http://localhost:9464/metrics",
            'Get "http://localhost:9464/metrics": dial tcp 127.0.0.1:9464: connect: connection refused',
            "scrape host.docker.internal:9464",
        ),
        (
            "http://app:9464/metrics",
            'Get "http://app:9464/metrics": dial tcp 10.0.0.7:9464: connect: connection refused',
            "an app in a container must listen on 0.0.0.0 (OTEL_EXPORTER_PROMETHEUS_HOST=0.0.0.0)",
        ),
        (
            "http://host.docker.internal:9464/metrics",
            'Get "http://host.docker.internal:9464/metrics": dial tcp: lookup host.docker.internal on 127.0.0.11:53: '
            "no such host",
            "Prometheus cannot resolve host.docker.internal: host.docker.internal exists by default only on Docker "
            'Desktop; on Linux add extra_hosts: ["host.docker.internal:host-gateway"]',
        ),
        (
            "http://10.0.0.7:9464/metrics",
            'Get "http://10.0.0.7:9464/metrics": context deadline exceeded',
            "nothing answers at 10.0.0.7:9464 in time",
        ),
        ("http://app:9464/prom", "server returned HTTP status 404 Not Found", "set metrics_path: /metrics"),
    ],
)
def test_scrape_error_hints(scrape_url: str, error: str, expected: str) -> None:
    assert expected in scrape_error_fix(scrape_url, error)
