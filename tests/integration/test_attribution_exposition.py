"""The exposition through the real OTel Prometheus exporter: unchanged when attribution is off (against a golden
written by the code before attribution existed, plus the finishes family added since), and with ``route,baggage.team``
only the attributed counters gain exactly those two labels, their sums unchanged. The golden has the detail
histograms (``OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS=true``, the default before they became opt-in); with
the defaults the exposition is the golden without those three families, every other line the same."""

from __future__ import annotations

from collections import defaultdict

import pytest
from prometheus_client.parser import text_string_to_metric_families

from otel_holysheep._config import ENV_DETAIL_HISTOGRAMS
from otel_holysheep._series import ATTRIBUTED_SERIES, DETAIL_SERIES
from otel_holysheep.simulator import GatewaySimulator
from tests.integration.exposition_workload import GOLDEN, masked, run_workload

ENV = "OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION"
ATTRIBUTED = set(ATTRIBUTED_SERIES)


def _family(line: str) -> str:
    name = line.split("{", 1)[0].split(" ", 1)[0]
    if line.startswith("# "):
        name = line.split(" ")[2]
    return name


@pytest.fixture(autouse=True)
def detail_histograms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_DETAIL_HISTOGRAMS, "true")


def test_without_the_detail_histograms_only_their_families_go(
    gateway: GatewaySimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv(ENV_DETAIL_HISTOGRAMS)  # the defaults
    gateway.reset()
    want = [line for line in GOLDEN.read_text().splitlines() if not _family(line).startswith(DETAIL_SERIES)]
    assert len(want) < len(GOLDEN.read_text().splitlines())  # the golden has them
    assert masked(run_workload(gateway)).splitlines() == want


def test_exposition_without_attribution_is_byte_for_byte_what_it_was(
    gateway: GatewaySimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    gateway.reset()
    assert masked(run_workload(gateway)) == GOLDEN.read_text()


def test_empty_setting_is_the_default(gateway: GatewaySimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, " , ")
    gateway.reset()
    assert masked(run_workload(gateway)) == GOLDEN.read_text()


def test_attribution_adds_two_labels_to_the_attributed_counters_only(
    gateway: GatewaySimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "route,baggage.team")
    gateway.reset()
    text = run_workload(gateway)
    got, want = masked(text).splitlines(), GOLDEN.read_text().splitlines()
    # every other family, HELP and TYPE lines included, is unchanged line for line
    assert [line for line in got if _family(line) not in ATTRIBUTED] == [
        line for line in want if _family(line) not in ATTRIBUTED
    ]
    assert [line for line in got if line.startswith("#")] == [line for line in want if line.startswith("#")]

    def samples(exposition: str) -> dict[str, list[tuple[dict[str, str], float]]]:
        out: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
        counters = "\n".join(line for line in exposition.splitlines() if _family(line) in ATTRIBUTED) + "\n"
        for family in text_string_to_metric_families(counters):
            for sample in family.samples:
                if sample.name in ATTRIBUTED:
                    out[sample.name].append((dict(sample.labels), sample.value))
        return out

    attributed, before = samples(text), samples(GOLDEN.read_text())
    # route and team of each model's calls in the workload: under /chat/{thread_id} with baggage team=search, under
    # /stream without baggage, or outside any server span
    where = {
        "gpt-4.1": ("/chat/{thread_id}", "search"),
        "claude-sonnet-4": ("/stream", ""),
        "deepseek-v3.2": ("/stream", ""),
        "text-embedding-3-small": ("", ""),
        "gemini-2.5-flash": ("", ""),
    }
    for name in ATTRIBUTED:
        assert attributed[name], name
        sums: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)
        for labels, value in attributed[name]:
            assert (labels.pop("route"), labels.pop("team")) == where[labels["model"]], (name, labels)
            labels["otel_scope_version"] = "V"
            sums[tuple(sorted(labels.items()))] += value
        assert dict(sums) == {tuple(sorted(labels.items())): value for labels, value in before[name]}, name
    assert 'route="/chat/{thread_id}",status="success",team="search"} 2.0' in text
    assert 'holysheep_cost_usd_total{model="gpt-4.1",otel_scope_name="otel_holysheep"' in text
