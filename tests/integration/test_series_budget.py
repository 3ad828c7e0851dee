"""The README's Series budget figures are what ``make bench``'s case ``series`` measures: its workload (4 chat models,
the openai SDK and raw httpx, JSON and streams, a 429, a 500, a 401, a retried 503) against the gateway simulator on
loopback, the OpenTelemetry Prometheus exporter's page counted. With the defaults at most 100 series per chat model;
what does not fit is one documented setting away, with the series it adds in the README's table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from benchmarks import series

from otel_holysheep._config import ENV_DETAIL_HISTOGRAMS, ENV_GENAI_METRICS, ENV_TIME_TO_HEADERS
from otel_holysheep._series import DETAIL_SERIES
from otel_holysheep.simulator import GatewaySimulator

README = Path(__file__).resolve().parents[2] / "README.md"
BUDGET = series.SERIES_BUDGET


def budget_section() -> str:
    text = README.read_text()
    start = text.index("## Series budget")
    return text[start : text.index("\n## ", start + 1)]


def row(section: str, first_cell: str) -> list[str]:
    """The cells of the table row whose first cell is ``first_cell``."""
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no README Series budget row {first_cell!r}")


def number(cell: str) -> float:
    found = re.search(r"\d+(?:\.\d+)?", cell.replace(",", ""))
    assert found, cell
    return float(found.group())


@pytest.fixture(scope="module")
def measured() -> dict[str, dict[str, object]]:
    with GatewaySimulator() as sim:
        return {
            name: series.tabulate(series.pull_series(sim.base_url, env))
            for name, env in {
                "defaults": {},
                "detail": {ENV_DETAIL_HISTOGRAMS: "true"},
                "headers_all": {ENV_TIME_TO_HEADERS: "all"},
                "genai": {ENV_GENAI_METRICS: "true"},
                "genai_latest": series.SETTINGS[
                    f"GENAI_METRICS=true, {series.SEMCONV_OPT_IN}=gen_ai_latest_experimental"
                ],
            }.items()
        }


def test_defaults_fit_the_budget_and_the_readme_says_so(measured: dict[str, dict[str, object]]) -> None:
    defaults = measured["defaults"]
    per_model = defaults["per_model"]
    assert defaults["models"] == sorted(series.MODELS)
    assert per_model <= BUDGET
    section = budget_section()
    assert number(row(section, "defaults")[1]) == per_model
    assert number(row(section, "**total**")[1]) == per_model
    families = defaults["families"]
    assert isinstance(families, dict)
    assert not set(DETAIL_SERIES) & set(families)  # opt-in: no series by default
    for name in ("holysheep_request_duration_seconds", "holysheep_time_to_first_token_seconds"):
        assert number(row(section, f"`{name}`")[1]) == families[name]["mean_per_model"]


def test_the_detail_histograms_setting_adds_what_the_readme_says(measured: dict[str, dict[str, object]]) -> None:
    section = budget_section()
    detail = measured["detail"]
    families = detail["families"]
    assert isinstance(families, dict)
    added = detail["per_model"] - measured["defaults"]["per_model"]  # type: ignore[operator]
    cells = row(section, f"`{ENV_DETAIL_HISTOGRAMS}=true`")
    assert cells[1] == f"+ {added:g} (= {detail['per_model']:g})"
    assert added == sum(families[name]["mean_per_model"] for name in DETAIL_SERIES)
    for name in DETAIL_SERIES:  # each family's own row (in the opt-in table)
        assert number(row(section, f"`{name}`")[1]) == families[name]["mean_per_model"], name
    opt_in = section.index(f"`{ENV_DETAIL_HISTOGRAMS}=true` adds")
    assert all(section.index(f"`{name}`") > opt_in for name in DETAIL_SERIES)


def test_time_to_headers_all_adds_what_the_readme_says(measured: dict[str, dict[str, object]]) -> None:
    headers_all = measured["headers_all"]
    added = headers_all["per_model"] - measured["defaults"]["per_model"]  # type: ignore[operator]
    cells = row(budget_section(), f"`{ENV_TIME_TO_HEADERS}=all`")
    assert cells[1].startswith(f"+ {added:g} (= {headers_all['per_model']:g})")


def test_the_gen_ai_settings_add_what_the_readme_says(measured: dict[str, dict[str, object]]) -> None:
    section, defaults = budget_section(), measured["defaults"]["per_model"]
    v141, latest = measured["genai"]["per_model"], measured["genai_latest"]["per_model"]
    cells = row(section, f"`{ENV_GENAI_METRICS}=true`")
    assert cells[1] == f"+ {v141 - defaults:g} (= {v141:g})"  # type: ignore[operator]
    cells = row(section, f"... and `{series.SEMCONV_OPT_IN}=gen_ai_latest_experimental`")
    assert cells[1] == f"+ {latest - defaults:g} instead of + {v141 - defaults:g} (= {latest:g})"  # type: ignore[operator]
