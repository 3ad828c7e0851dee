"""The instrument table (``_instruments.Telemetry``): the one spec of every metric, and what is derived from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from otel_holysheep import _instruments as i
from otel_holysheep._series import ATTRIBUTED_SERIES, GENAI_SERIES, PROMETHEUS_SERIES, series_of
from otel_holysheep.doctor import symptoms
from otel_holysheep.report import queries

README = Path(__file__).resolve().parents[2] / "README.md"
# A README row: | `series` | type | labels | meaning |
_ROW = re.compile(r"^\| `(?P<name>[a-z_]+)` \| (?P<type>\w+) \| (?P<labels>[^|]*) \|")


def _readme_metrics() -> dict[str, tuple[str, frozenset[str], bool, bool]]:
    """series -> (type, own labels, attributed, genai) from the README's "## Metrics" table."""
    text = README.read_text().split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in text.splitlines():
        match = _ROW.match(line)
        if match is None:
            continue
        labels = match["labels"]
        rows[match["name"]] = (
            match["type"],
            frozenset(re.findall(r"`([a-z_]+)`", labels)),
            "(+ attribution labels)" in labels,
            labels.startswith("GenAI attributes"),
        )
    return rows


def test_the_readme_metrics_table_is_the_instrument_table() -> None:
    from_table = {
        series_of(spec).name: (series_of(spec).type, frozenset(series_of(spec).labels), spec.attributed, spec.genai)
        for spec in i.TABLE
    }
    assert _readme_metrics() == from_table


def test_derived_series_lists() -> None:
    assert len(i.TABLE) == len(PROMETHEUS_SERIES) + len(GENAI_SERIES) == 26
    assert ATTRIBUTED_SERIES == (
        "holysheep_requests_total",
        "holysheep_errors_total",
        "holysheep_tokens_total",
        "holysheep_finishes_total",
        "holysheep_cost_usd_total",
    )
    assert {s.name for s in GENAI_SERIES} == {
        "gen_ai_client_operation_duration_seconds",
        "gen_ai_client_token_usage",
        "gen_ai_client_operation_time_to_first_chunk_seconds",
        "gen_ai_client_operation_time_per_output_chunk_seconds",
    }
    # the report and the doctor query names from the table, never typed out again
    assert queries.REQUESTS == symptoms.REQUESTS == "holysheep_requests_total"
    assert queries.DURATION == "holysheep_request_duration_seconds"
    assert queries.TTFT == "holysheep_time_to_first_token_seconds"
    assert (queries.TOKENS, queries.COST, queries.UNPRICED) == (
        "holysheep_tokens_total",
        "holysheep_cost_usd_total",
        "holysheep_unpriced_tokens_total",
    )
    assert symptoms.RETRY_AFTER_SUM == "holysheep_retry_after_seconds_sum"
    assert symptoms.USAGE_MISSING == "holysheep_usage_missing_total"


@pytest.mark.parametrize(
    ("name", "unit", "kind", "series"),
    [
        ("holysheep.request.duration", "s", "histogram", "holysheep_request_duration_seconds"),
        ("holysheep.requests", "{request}", "counter", "holysheep_requests_total"),
        ("holysheep.cost.usd", "{USD}", "counter", "holysheep_cost_usd_total"),
        ("holysheep.output_tokens", "{token}/s", "histogram", "holysheep_output_tokens_per_second"),
        ("holysheep.active_requests", "{request}", "up_down_counter", "holysheep_active_requests"),
        ("holysheep.ratelimit.limit", "{1}", "gauge", "holysheep_ratelimit_limit"),
    ],
)
def test_prometheus_name(name: str, unit: str, kind: str, series: str) -> None:
    assert i.prometheus_name(name, unit, kind) == series


def test_an_unknown_unit_fails_at_import_not_at_run_time() -> None:
    with pytest.raises(ValueError, match="unit 'ms'"):
        i.prometheus_name("holysheep.x", "ms", "histogram")
    with pytest.raises(ValueError, match="buckets are for histograms"):
        i.Spec("counter", "holysheep.x", "{x}", "x", ("model",), buckets=(1.0,))


def _exposition(telemetry_type: type[i.Telemetry], attribution: tuple[str, ...], record: object) -> str:
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    try:
        telemetry = telemetry_type(provider.get_meter("otel_holysheep"), attribution)
        record(telemetry)  # type: ignore[operator]
        return generate_latest(registry).decode()
    finally:
        provider.shutdown()


def test_every_row_is_exposed_under_its_series_name_and_labels() -> None:
    """The derived names and labels are what the real Prometheus exporter exposes (attribution on)."""

    def record_all(t: i.Telemetry) -> None:
        for spec in i.TABLE:
            values = tuple(f"v{k}" for k in range(len(spec.label_names(("team",)))))
            instrument = getattr(t, spec.attr)
            if spec.kind == "histogram":
                attributes = dict(zip(spec.labels, values, strict=True))
                if spec.genai:  # recorded with the GenAI attributes too
                    attributes["gen_ai.operation.name"] = "chat"
                instrument.record(1.0, attributes)
            else:
                instrument.add(values)

    families = {f.name: f for f in text_string_to_metric_families(_exposition(i.Telemetry, ("team",), record_all))}
    for spec in i.TABLE:
        series = series_of(spec)
        family = families[series.name.removesuffix("_total")]
        assert family.type == series.type, series.name
        sample = family.samples[0]
        labels = set(sample.labels) - {"otel_scope_name", "otel_scope_version", "otel_scope_schema_url", "le"}
        expected = set(series.labels) | ({"team"} if spec.attributed else set())
        expected |= {"gen_ai_operation_name"} if spec.genai else set()
        assert labels == expected, series.name


def test_a_new_counter_is_one_row_plus_its_recording_line() -> None:
    """What adding a metric takes: the row (here in a throwaway subclass; in the package, in ``Telemetry``'s body)
    and the line that records it. Creation, the series name, the attribution labels and relabelling follow."""

    class WithRefusals(i.Telemetry):
        refusals = i.Spec("counter", "holysheep.refusals", "{refusal}", "Refusals", ("model", "tool"), True)

    def record(t: WithRefusals) -> None:
        t.refusals.add(("gpt-4.1", "search", "checkout"))  # the recording line

    text = _exposition(WithRefusals, ("team",), record)
    assert series_of(WithRefusals.refusals).name == "holysheep_refusals_total"
    assert "# HELP holysheep_refusals_total Refusals" in text
    assert 'model="gpt-4.1",otel_scope_name="otel_holysheep"' in text
    samples = [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "holysheep_refusals_total"
    ]
    assert [(s.labels["model"], s.labels["tool"], s.labels["team"], s.value) for s in samples] == [
        ("gpt-4.1", "search", "checkout", 1.0)
    ]
    # the table's own rows come first, in order; the new row after them
    assert i.table_of(WithRefusals) == (*i.TABLE, WithRefusals.refusals)

    reader = InMemoryMetricReader()
    telemetry = WithRefusals(MeterProvider(metric_readers=[reader]).get_meter("m"), ("team",))
    telemetry.set_attribution(("route",))  # re-instrumented with other labels: relabelled like the others
    assert telemetry.refusals.labels == ("model", "tool", "route")
    assert telemetry.requests.labels == ("model", "endpoint", "status", "route")
    assert telemetry.usage_missing.labels == ("model",)


def test_class_access_is_the_row_instance_access_the_instrument() -> None:
    reader = InMemoryMetricReader()
    telemetry = i.Telemetry(MeterProvider(metric_readers=[reader]).get_meter("m"))
    assert isinstance(i.Telemetry.requests, i.Spec)
    assert i.Telemetry.requests.series == "holysheep_requests_total"
    assert telemetry.requests.labels == ("model", "endpoint", "status")
    assert {spec.attr for spec in i.TABLE} <= set(vars(telemetry))
