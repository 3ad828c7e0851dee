"""Configuration checks: the OTEL_INSTRUMENTATION_HOLYSHEEP_* values validated by the instrumentor's own
Settings.from_env, the price file, and whether the URL the app calls is measured."""

from __future__ import annotations

from pathlib import Path

import pytest
from doctor_helpers import GOOD_EXPORTERS, every, only, run

from otel_holysheep import _config as config
from otel_holysheep._pricing import PriceBook
from otel_holysheep.doctor import settings
from otel_holysheep.doctor.result import Status

OK, WARN, FAIL, SKIP = Status.OK, Status.WARN, Status.FAIL, Status.SKIP
BOOK = PriceBook.default()


def _config(**env: str) -> list[tuple[str, Status, str, str]]:
    findings = run({**GOOD_EXPORTERS, **env})
    return [(f.check, f.status, f.message, f.fix) for f in findings if f.section == "config"]


def test_defaults() -> None:
    assert _config() == [
        (
            "config.settings",
            OK,
            "settings parse: base URLs https://api.holysheep.ai/v1; gen_ai metrics off; detail histograms off; time to "
            "headers off; stream usage opt-in off; max models 50; message content capture off; attribution off",
            "",
        ),
        ("config.price_file", OK, f"built-in price book {BOOK.version} ({len(BOOK.models)} models)", ""),
        (
            "config.app_url",
            SKIP,
            "not checked: pass --app-url URL (the base_url your client uses) or set OPENAI_BASE_URL",
            "",
        ),
    ]


def test_every_setting_parsed() -> None:
    found = _config(
        OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS="http://127.0.0.1:8080/v1, https://gw.example/api/v1",
        OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS="true",
        OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS="on",
        OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS="all",
        OTEL_INSTRUMENTATION_HOLYSHEEP_REQUEST_STREAM_USAGE="yes",
        OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS="20",
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true",
        OTEL_INSTRUMENTATION_HOLYSHEEP_CONTENT_MAX_CHARS="100",
        OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION="route,baggage.team.name",
        OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_ATTRIBUTION_VALUES="30",
    )
    assert found[0] == (
        "config.settings",
        OK,
        "settings parse: base URLs http://127.0.0.1:8080/v1, https://gw.example/api/v1; gen_ai metrics on; detail "
        "histograms on; time to headers for all; stream usage opt-in on; max models 20; message content capture on; "
        "attribution labels route (http.route), team_name (baggage team.name), at most 30 values each",
        "",
    )
    assert [f for f in run({**GOOD_EXPORTERS, "OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION": "route"}) if f.check ==
            "config.unknown"] == []  # fmt: skip


@pytest.mark.parametrize(
    ("var", "value", "message", "fix"),
    [
        (
            "OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS",
            "maybe",
            "OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS='maybe' is not true/false; using false",
            "set OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS to true or false, or unset it for the default",
        ),
        (
            "OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS",
            "maybe",
            "OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS='maybe' is not true/false; using false",
            "set OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS to true or false, or unset it for the default",
        ),
        (
            "OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS",
            "json",
            "OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS='json' is not one of streams | all; using the default",
            "set OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS to streams or all, or unset it for the default",
        ),
        (
            "OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS",
            "lots",
            "OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS='lots' is not a whole number; using 50",
            "set OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS to a whole number in the range above, or unset it for the "
            "default",
        ),
        (
            "OTEL_INSTRUMENTATION_HOLYSHEEP_CONTENT_MAX_CHARS",
            "3",
            "OTEL_INSTRUMENTATION_HOLYSHEEP_CONTENT_MAX_CHARS=3 is outside 16..1048576; using 4096",
            "set OTEL_INSTRUMENTATION_HOLYSHEEP_CONTENT_MAX_CHARS to a whole number in the range above, or unset it "
            "for the default",
        ),
        (
            "OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION",
            "route,baggage.model",
            "OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION: ignoring 'baggage.model': label 'model' collides with a label "
            "the metrics already carry",
            "set OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION to comma-separated route and baggage.<key> items, e.g. "
            "route,baggage.team, or unset it for the default",
        ),
        (
            "OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_ATTRIBUTION_VALUES",
            "0",
            "OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_ATTRIBUTION_VALUES=0 is outside 1..10000; using 100",
            "set OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_ATTRIBUTION_VALUES to a whole number in the range above, or unset "
            "it for the default",
        ),
        (
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            "si",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT='si' is not true/false; using false",
            "set OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT to true or false, or unset it for the default",
        ),
    ],
)
def test_a_value_the_app_would_ignore(var: str, value: str, message: str, fix: str) -> None:
    found = _config(**{var: value})
    assert found[0] == ("config.value", FAIL, f"{message}: the app would log this warning and ignore the value", fix)
    assert [check for check, *_ in found] == ["config.value", "config.price_file", "config.app_url"]


def test_bad_base_urls() -> None:
    found = [
        f for f in _config(OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS="api.holysheep.ai/v1") if f[0] == "config.value"
    ]
    fix = (
        "set OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS to comma-separated http(s) base URLs, e.g. "
        "https://api.holysheep.ai/v1, or unset it for the default"
    )
    tail = ": the app would log this warning and ignore the value"
    assert found == [
        (
            "config.value",
            FAIL,
            "ignoring a base URL in OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS: 'api.holysheep.ai/v1' is not an http(s) "
            f"URL{tail}",
            fix,
        ),
        (
            "config.value",
            FAIL,
            f"OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS has no usable base URL; using https://api.holysheep.ai/v1{tail}",
            fix,
        ),
    ]


def test_unknown_settings() -> None:
    found = [f for f in _config(OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URL="x", OTEL_INSTRUMENTATION_HOLYSHEEP_COLOR="1")]
    assert [f for f in found if f[0] == "config.unknown"] == [
        (
            "config.unknown",
            WARN,
            "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URL is not a setting otel-holysheep reads",
            "rename it to OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS",
        ),
        (
            "config.unknown",
            WARN,
            "OTEL_INSTRUMENTATION_HOLYSHEEP_COLOR is not a setting otel-holysheep reads",
            "remove it (the README's Configuration table lists them)",
        ),
    ]


# --- the price file ---------------------------------------------------------------------------------------------


def test_price_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("version: my-gateway\nmodels:\n  my-finetune: {input: 1.0, output: 3.0}\n")
    price = only(run({**GOOD_EXPORTERS, "OTEL_INSTRUMENTATION_HOLYSHEEP_PRICES_FILE": str(path)}), "config.price_file")
    assert (price.status, price.message) == (
        OK,
        f"price file {path} loads: 1 models over the built-in book ({len(BOOK.models) + 1} priced, version "
        f"{BOOK.version}+my-gateway)",
    )


def test_price_file_invalid(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("models:\n  gpt-4.1: {input: -1, output: 8}\n")
    price = only(run({**GOOD_EXPORTERS, "OTEL_INSTRUMENTATION_HOLYSHEEP_PRICES_FILE": str(path)}), "config.price_file")
    assert (price.status, price.message, price.fix) == (
        FAIL,
        f"{path}: models.gpt-4.1.input must be a non-negative number, not -1: the app would ignore the file and use "
        "the built-in prices",
        f"fix the file, or unset OTEL_INSTRUMENTATION_HOLYSHEEP_PRICES_FILE to use the built-in price book "
        f"{BOOK.version}",
    )


def test_price_file_missing_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    price = only(
        run({**GOOD_EXPORTERS, "OTEL_INSTRUMENTATION_HOLYSHEEP_PRICES_FILE": "prices.yaml"}), "config.price_file"
    )
    assert price.status is FAIL
    assert price.message.startswith("prices.yaml: cannot read it (")
    assert price.message.endswith(
        f"(relative to the app's working directory; doctor looked in {tmp_path}): the app would ignore the file and "
        "use the built-in prices"
    )


# --- the URL the app calls ----------------------------------------------------------------------------------------


def test_app_url_from_the_client_environment() -> None:
    finding = only(run({**GOOD_EXPORTERS, "OPENAI_BASE_URL": "https://api.holysheep.ai/v1/"}), "config.app_url")
    assert (finding.status, finding.message) == (
        OK,
        "calls to https://api.holysheep.ai/v1/chat/completions (OPENAI_BASE_URL) are measured (base URL "
        "https://api.holysheep.ai/v1)",
    )


@pytest.mark.parametrize(
    ("app_url", "why"),
    [
        ("http://api.holysheep.ai/v1", "(http vs https)"),
        ("https://api.holysheep.ai:8443/v1", "(port 8443 vs 443)"),
        ("https://api.holysheep.ai/api/v1", "(path /api/v1 vs /v1)"),
        ("https://holysheep.ai/v1", "(no base URL for host holysheep.ai)"),
    ],
)
def test_app_url_not_measured(app_url: str, why: str) -> None:
    finding = only(run({**GOOD_EXPORTERS, "HOLYSHEEP_BASE_URL": app_url}), "config.app_url")
    assert (finding.status, finding.message, finding.fix) == (
        FAIL,
        f"the app calls {app_url} (HOLYSHEEP_BASE_URL), but OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS covers only "
        f"https://api.holysheep.ai/v1 {why}: those requests pass through unmeasured",
        f"set OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS={app_url}",
    )


def test_app_url_fix_keeps_the_configured_ones() -> None:
    env = {**GOOD_EXPORTERS, "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": "https://api.holysheep.ai/v1"}
    findings = run(env, app_urls=("https://api.holysheep.ai/v1", "http://127.0.0.1:8080/v1"))
    assert [(f.status, f.fix) for f in every(findings, "config.app_url")] == [
        (OK, ""),
        (FAIL, "set OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS=https://api.holysheep.ai/v1,http://127.0.0.1:8080/v1"),
    ]


def test_app_url_invalid_and_option_wins_over_environment() -> None:
    env = {**GOOD_EXPORTERS, "OPENAI_BASE_URL": "https://api.holysheep.ai/v1"}
    finding = only(run(env, app_urls=("api.holysheep.ai/v1",)), "config.app_url")
    assert (finding.status, finding.message, finding.fix) == (
        FAIL,
        "--app-url: 'api.holysheep.ai/v1' is not an http(s) URL",
        "set --app-url to the gateway's base URL, e.g. https://api.holysheep.ai/v1",
    )


def test_every_setting_has_its_accepted_values_and_a_readme_row() -> None:
    """The doctor's fix for a bad value names what the setting accepts; the README's Configuration table has it."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in config.ENV_VARS:
        assert f"| `{name}` |" in readme, name
        if name != config.ENV_PRICES_FILE:  # a path: any value is tried, a bad file has its own check
            assert name in settings._VALUES, name
