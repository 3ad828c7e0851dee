#!/usr/bin/env python3
"""Generate the HolySheep Grafana dashboard with the Grafana Foundation SDK (grafana_foundation_sdk).

    python grafana/generate.py            # (re)writes grafana/dashboards/holysheep-overview.json
    python grafana/generate.py --check    # exit 1 if the committed JSON differs from what this produces

The JSON is committed so Grafana can provision it without Python; tests/deploy/test_grafana.py checks it is current.
``dashboard_queries()`` lists every panel's PromQL with the template variables filled in, for end-to-end tests that
run each query against a live Prometheus or VictoriaMetrics.

Metric names: src/otel_holysheep/_series.py PROMETHEUS_SERIES (from the instrument table). Every query filters by
``{job=~"$job", instance=~"$instance", model=~"$model"}``.

The "Spend by route / team" row splits spend by the attribution label chosen in ``$attribution`` (the labels the apps
add with OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION). Without such labels its split panels show no data, never a
total posing as a split: each removes the series without the label (``unless`` the overall sum).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from grafana_foundation_sdk.builders import bargauge, common, gauge, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as dash_models
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

HERE = Path(__file__).resolve().parent
DASHBOARD_FILE = HERE / "dashboards" / "holysheep-overview.json"
DASHBOARD_UID = "holysheep-overview"
# The uid of the datasource grafana/provisioning/datasources/prometheus.yml creates: the datasource variable's default.
DATASOURCE_UID = "holysheep-prometheus"
DATASOURCE_NAME = "Prometheus (HolySheep)"

SEL = 'job=~"$job", instance=~"$instance", model=~"$model"'
RATE = "$__rate_interval"
RANGE = "$__range"
# The opt-in histograms (src/otel_holysheep/_config.py ENV_DETAIL_HISTOGRAMS): the panels reading them say so.
DETAIL_SETTING = "OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS=true"
DETAIL_PANELS = frozenset({"Time to headers P95", "Output tokens / s P50", "Retry-after advised P95"})
DS = dash_models.DataSourceRef(type_val="prometheus", uid="${datasource}")

# panel types Grafana 11+ still ships (graph / singlestat were Angular and are gone)
ALLOWED_PANEL_TYPES = frozenset({"timeseries", "stat", "gauge", "bargauge", "table", "row"})


def sel(extra: str = "") -> str:
    """The standard label filter, optionally with more matchers: sel('status="success"')."""
    return "{" + SEL + (", " + extra if extra else "") + "}"


def q(
    expr: str,
    legend: str = "",
    ref: str = "A",
    *,
    instant: bool = False,
    fmt_table: bool = False,
    exemplar: bool = False,
) -> Any:
    """A Prometheus query; ``exemplar`` shows the exemplars stored with the series (dots linking to the trace of that
    very request, where metrics arrive over OTLP in a store that keeps exemplars, e.g. Prometheus 3)."""
    query = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DS)
    if exemplar:
        query = query.exemplar(True)
    query = query.legend_format(legend) if legend else query.legend_format("__auto")
    query = query.instant() if instant else query.range()
    if fmt_table:
        query = query.format(PromQueryFormat.TABLE)
    return query


def thresholds(*steps: tuple[float | None, str]) -> Any:
    return (
        dash.ThresholdsConfig()
        .mode(dash_models.ThresholdsMode.ABSOLUTE)
        .steps([dash_models.Threshold(value=v, color=c) for v, c in steps])
    )


GREEN = ((None, "green"),)


def legend_table(*calcs: str) -> Any:
    return (
        common.VizLegendOptions()
        .display_mode(common_models.LegendDisplayMode.TABLE)
        .placement(common_models.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(list(calcs))
    )


def ts(title: str, description: str, unit: str, *targets: Any, w: int = 12, h: int = 8, stack: bool = False) -> Any:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit(unit)
        .span(w)
        .height(h)
        .fill_opacity(10)
        .line_width(1)
        .show_points(common_models.VisibilityMode.NEVER)
        .legend(legend_table("mean", "max", "lastNotNull"))
        .tooltip(
            common.VizTooltipOptions()
            .mode(common_models.TooltipDisplayMode.MULTI)
            .sort(common_models.SortOrder.DESCENDING)
        )
        .thresholds(thresholds(*GREEN))
    )
    if stack:
        panel = panel.stacking(common.StackingConfig().mode(common_models.StackingMode.NORMAL))
    for target in targets:
        panel = panel.with_target(target)
    return panel


def stat_panel(
    title: str,
    description: str,
    unit: str,
    target: Any,
    steps: tuple[tuple[float | None, str], ...] = GREEN,
    *,
    w: int = 4,
    h: int = 4,
    decimals: int | None = None,
    graph: bool = True,
) -> Any:
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit(unit)
        .span(w)
        .height(h)
        .graph_mode(common_models.BigValueGraphMode.AREA if graph else common_models.BigValueGraphMode.NONE)
        .color_mode(common_models.BigValueColorMode.VALUE)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(thresholds(*steps))
        .with_target(target)
    )
    if decimals is not None:
        panel = panel.decimals(decimals)
    return panel


def bar_panel(
    title: str,
    description: str,
    unit: str,
    target: Any,
    *,
    w: int = 8,
    h: int = 8,
    colors: dash_models.FieldColorModeId = dash_models.FieldColorModeId.CONTINUOUS_BL_PU,
    steps: tuple[tuple[float | None, str], ...] = GREEN,
) -> Any:
    """Horizontal bars per series; costs use green-yellow-red, other quantities a neutral palette."""
    return (
        bargauge.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit(unit)
        .span(w)
        .height(h)
        .display_mode(common_models.BarGaugeDisplayMode.GRADIENT)
        .orientation(common_models.VizOrientation.HORIZONTAL)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .color_scheme(dash.FieldColor().mode(colors))
        .thresholds(thresholds(*steps))
        .with_target(target)
    )


# --- queries ---------------------------------------------------------------------------------------------------------
def quantile(phi: str, metric: str, window: str = RATE, by: str = "model") -> str:
    """histogram_quantile over the standard selector, per ``by`` label(s) ("" for one overall value).

    One form for classic and native histograms (the form Prometheus documents for migrating): classic buckets are
    the ``_bucket`` series with ``le``; a native histogram (Prometheus 3 storing OTLP exponential histograms) is the
    bare name. Each side is empty where the other kind is stored, so the same panel works on either, and on engines
    without native histograms (Prometheus 2, VictoriaMetrics).
    """
    classic = f"sum by ({by}, le)" if by else "sum by (le)"
    native = f"sum by ({by})" if by else "sum"
    return (
        f"histogram_quantile({phi}, {classic} (rate({metric}_bucket{sel()}[{window}]))"
        f" or {native} (rate({metric}{sel()}[{window}])))"
    )


def average(metric: str, window: str, by: str = "model") -> str:
    """Mean of a histogram's samples: ``_sum`` / ``_count`` of classic series, ``histogram_avg`` of a native one."""
    return (
        f"sum by ({by}) (rate({metric}_sum{sel()}[{window}]))\n"
        f"  / sum by ({by}) (rate({metric}_count{sel()}[{window}]))\n"
        f"  or histogram_avg(sum by ({by}) (rate({metric}{sel()}[{window}])))"
    )


ATTR = "${attribution}"
ATTRIBUTION_VAR_REGEX = (
    r"/^(?!(__name__|job|instance|model|le|otel_scope_\w+|service_\w+|telemetry_\w+|host_\w+|process_\w+|"
    r"os_\w+|k8s_\w+|container_\w+|cloud_\w+|deployment_\w+)$)\w+$/"
)
# Panels of the attribution row that need the label to exist: on data without attribution labels they show nothing.
ATTRIBUTION_PANELS = frozenset(
    {
        "Cost per hour by $attribution",
        "Spend by $attribution over the range",
        "Requests / s by $attribution",
        "Tokens by $attribution over the range",
    }
)


def split(expr_by: str, expr_all: str) -> str:
    """``expr_by`` (a ``sum by ($attribution)``) without its series that lack the label: those have the empty label
    set of ``expr_all`` (the overall sum). With no attribution label in the data (or none chosen) nothing is left."""
    return f"{expr_by}\n  unless {expr_all}"


ERROR_RATIO = (
    f"sum by (model) (rate(holysheep_errors_total{sel()}[{RATE}]))\n"
    f"  / sum by (model) (rate(holysheep_requests_total{sel()}[{RATE}]))"
)
# Provider token counts: cached is part of prompt, reasoning part of completion; prompt + completion = all tokens.
BILLED_TOKENS = 'token_type=~"prompt|completion"'


def variables() -> list[Any]:
    ds_var = (
        dash.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .current(dash_models.VariableOption(selected=True, text=DATASOURCE_NAME, value=DATASOURCE_UID))
    )

    def query_var(name: str, label: str, query: str) -> Any:
        return (
            dash.QueryVariable(name)
            .label(label)
            .datasource(DS)
            .query({"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"})
            .refresh(dash_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dash_models.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
            .current(dash_models.VariableOption(selected=True, text=["All"], value=["$__all"]))
        )

    # The labels of the cost counter other than the standard ones (and resource labels a Collector may promote): the
    # attribution labels the apps add (route, team, ...). Empty when there are none.
    attribution_var = (
        dash.QueryVariable("attribution")
        .label("Attribution label")
        .description("Label to split spend by: an OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION label of the apps")
        .datasource(DS)
        .query(
            {
                "qryType": 0,
                "query": "label_names(holysheep_cost_usd_total)",
                "match": "holysheep_cost_usd_total",
                "refId": "PrometheusVariableQueryEditor-VariableQuery",
            }
        )
        .regex(ATTRIBUTION_VAR_REGEX)
        .refresh(dash_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dash_models.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
        .current(dash_models.VariableOption(selected=True, text="route", value="route"))
    )
    return [
        ds_var,
        query_var("job", "Job", "label_values(holysheep_requests_total, job)"),
        query_var("instance", "Instance", 'label_values(holysheep_requests_total{job=~"$job"}, instance)'),
        query_var(
            "model", "Model", 'label_values(holysheep_requests_total{job=~"$job", instance=~"$instance"}, model)'
        ),
        attribution_var,
    ]


def overview_row() -> list[Any]:
    return [
        stat_panel(
            "Requests / s",
            "All HTTP attempts to the gateway (retries included).",
            "reqps",
            q(f"sum(rate(holysheep_requests_total{sel()}[{RATE}]))"),
        ),
        stat_panel(
            "Error ratio",
            "Unsuccessful requests / all requests.",
            "percentunit",
            q(f"sum(rate(holysheep_errors_total{sel()}[{RATE}])) / sum(rate(holysheep_requests_total{sel()}[{RATE}]))"),
            ((None, "green"), (0.01, "yellow"), (0.05, "red")),
            decimals=2,
        ),
        stat_panel(
            "P95 latency",
            "95th percentile of request start to last body byte, all models.",
            "s",
            q(quantile("0.95", "holysheep_request_duration_seconds", by="")),
            ((None, "green"), (10, "yellow"), (30, "red")),
        ),
        stat_panel(
            "Cost / hour",
            "USD per hour at the current pace.",
            "currencyUSD",
            q(f"sum(rate(holysheep_cost_usd_total{sel()}[{RATE}])) * 3600"),
            ((None, "green"), (5, "red")),
            decimals=2,
        ),
        stat_panel(
            "Cost in range",
            "USD spent over the dashboard's time range.",
            "currencyUSD",
            q(f"sum(increase(holysheep_cost_usd_total{sel()}[{RANGE}]))", instant=True),
            decimals=2,
            graph=False,
        ),
        stat_panel(
            "Active requests",
            "Requests in flight now (bodies not finished).",
            "short",
            q(f"sum(holysheep_active_requests{sel()})"),
        ),
    ]


def traffic_row() -> list[Any]:
    return [
        ts(
            "Request rate by model and status",
            "HTTP attempts per second; status = success | failure | timeout | error.",
            "reqps",
            q(f"sum by (model, status) (rate(holysheep_requests_total{sel()}[{RATE}]))", "{{model}} {{status}}"),
            stack=True,
        ),
        ts(
            "Error ratio by model",
            "Errors / requests, both summed by model.",
            "percentunit",
            q(ERROR_RATIO, "{{model}}"),
        ),
        ts(
            "Errors by type",
            "http_<code> | timeout | connect_error | stream_interrupted | exception.",
            "reqps",
            q(f"sum by (model, error_type) (rate(holysheep_errors_total{sel()}[{RATE}]))", "{{model}} {{error_type}}"),
            w=8,
        ),
        ts(
            "Retries by reason",
            "Retried attempts per second; reason = the previous attempt's failure class.",
            "reqps",
            q(f"sum by (model, reason) (rate(holysheep_retries_total{sel()}[{RATE}]))", "{{model}} {{reason}}"),
            w=8,
        ),
        ts(
            "Active requests by model",
            "Requests in flight by model.",
            "short",
            q(f"sum by (model) (holysheep_active_requests{sel()})", "{{model}}"),
            w=8,
        ),
    ]


def latency_row() -> list[Any]:
    d = "holysheep_request_duration_seconds"
    return [
        ts(
            "Request latency P50 / P95 / P99",
            "Request start to the last body byte (end of stream), failures included.",
            "s",
            q(quantile("0.50", d), "{{model}} p50", "A"),
            q(quantile("0.95", d), "{{model}} p95", "B", exemplar=True),
            q(quantile("0.99", d), "{{model}} p99", "C"),
        ),
        ts(
            "Time to first token P50 / P95",
            "Streams only: request start until the first chunk carrying content.",
            "s",
            q(quantile("0.50", "holysheep_time_to_first_token_seconds"), "{{model}} p50", "A"),
            q(quantile("0.95", "holysheep_time_to_first_token_seconds"), "{{model}} p95", "B", exemplar=True),
        ),
        ts(
            "Time to headers P95",
            "Streamed responses: request start until response headers (queueing, connection and gateway time). Needs "
            f"{DETAIL_SETTING} in the apps (or OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS set): empty without.",
            "s",
            q(quantile("0.95", "holysheep_time_to_headers_seconds"), "{{model}}"),
        ),
        ts(
            "Output tokens / s P50",
            "Streams only: completion tokens per second after the first token. Needs "
            f"{DETAIL_SETTING} in the apps: empty without.",
            "short",
            q(quantile("0.50", "holysheep_output_tokens_per_second"), "{{model}}"),
        ),
    ]


def cost_row() -> list[Any]:
    return [
        ts(
            "Tokens per minute by type",
            "Provider-reported tokens; cached is part of prompt, reasoning of completion.",
            "short",
            q(
                f"sum by (model, token_type) (rate(holysheep_tokens_total{sel()}[{RATE}])) * 60",
                "{{model}} {{token_type}}",
            ),
        ),
        ts(
            "Cost per hour",
            "USD per hour at the current pace, by model.",
            "currencyUSD",
            q(f"sum by (model) (rate(holysheep_cost_usd_total{sel()}[{RATE}])) * 3600", "{{model}}"),
            stack=True,
        ),
        bar_panel(
            "Cumulative cost by model",
            "USD spent over the dashboard's time range.",
            "currencyUSD",
            q(f"sum by (model) (increase(holysheep_cost_usd_total{sel()}[{RANGE}]))", "{{model}}", instant=True),
            colors=dash_models.FieldColorModeId.CONTINUOUS_GR_YL_RD,
        ),
        bar_panel(
            "Tokens per dollar",
            "Prompt + completion tokens per USD over the time range: higher is cheaper.",
            "short",
            q(
                f"sum by (model) (increase(holysheep_tokens_total{sel(BILLED_TOKENS)}[{RANGE}]))\n"
                f"  / sum by (model) (increase(holysheep_cost_usd_total{sel()}[{RANGE}]))",
                "{{model}}",
                instant=True,
            ),
        ),
        bar_panel(
            "Cache savings",
            "USD saved by cached input over the time range.",
            "currencyUSD",
            q(
                f"sum by (model) (increase(holysheep_cache_savings_usd_total{sel()}[{RANGE}]))",
                "{{model}}",
                instant=True,
            ),
        ),
    ]


def attribution_row() -> list[Any]:
    cost, req, tok = "holysheep_cost_usd_total", "holysheep_requests_total", "holysheep_tokens_total"
    return [
        ts(
            "Cost per hour by $attribution",
            "USD per hour at the current pace, by the attribution label (requests without it are left out; see "
            "Unattributed spend).",
            "currencyUSD",
            q(
                split(
                    f"sum by ({ATTR}) (rate({cost}{sel()}[{RATE}])) * 3600",
                    f"sum(rate({cost}{sel()}[{RATE}])) * 3600",
                )
            ),
            w=9,
            stack=True,
        ),
        bar_panel(
            "Spend by $attribution over the range",
            "USD spent over the dashboard's time range, by the attribution label.",
            "currencyUSD",
            q(
                split(f"sum by ({ATTR}) (increase({cost}{sel()}[{RANGE}]))", f"sum(increase({cost}{sel()}[{RANGE}]))"),
                instant=True,
            ),
            w=9,
            colors=dash_models.FieldColorModeId.CONTINUOUS_GR_YL_RD,
        ),
        stat_panel(
            "Unattributed spend",
            "Share of the spend over the time range whose requests carried no value of the attribution label (no "
            "server span with a route, no such baggage entry). 100% when the apps set no attribution: see "
            "OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION.",
            "percentunit",
            q(
                f"(sum by ({ATTR}) (increase({cost}{sel()}[{RANGE}]))\n"
                f"  and sum(increase({cost}{sel()}[{RANGE}])))\n"
                f"  / sum(increase({cost}{sel()}[{RANGE}]))\n"
                f"  or sum(increase({cost}{sel()}[{RANGE}])) * 0",
                instant=True,
            ),
            ((None, "green"), (0.2, "yellow"), (0.5, "red")),
            w=6,
            h=8,
            decimals=1,
            graph=False,
        ),
        ts(
            "Requests / s by $attribution",
            "HTTP attempts per second by the attribution label.",
            "reqps",
            q(split(f"sum by ({ATTR}) (rate({req}{sel()}[{RATE}]))", f"sum(rate({req}{sel()}[{RATE}]))")),
        ),
        bar_panel(
            "Tokens by $attribution over the range",
            "Prompt + completion tokens over the time range, by the attribution label.",
            "short",
            q(
                split(
                    f"sum by ({ATTR}) (increase({tok}{sel(BILLED_TOKENS)}[{RANGE}]))",
                    f"sum(increase({tok}{sel(BILLED_TOKENS)}[{RANGE}]))",
                ),
                instant=True,
            ),
            w=12,
        ),
    ]


def limits_row() -> list[Any]:
    return [
        gauge.Panel()
        .title("Rate-limit headroom")
        .description("Last x-ratelimit-remaining / x-ratelimit-limit seen, by model and kind (requests, tokens).")
        .datasource(DS)
        .unit("percentunit")
        .min(0)
        .max(1)
        .span(8)
        .height(8)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(thresholds((None, "red"), (0.1, "yellow"), (0.25, "green")))
        .with_target(
            q(
                f"min by (model, kind) (holysheep_ratelimit_remaining{sel()}\n"
                f"  / (holysheep_ratelimit_limit{sel()} > 0))",
                "{{model}} {{kind}}",
            )
        ),
        bar_panel(
            "Stream outcomes",
            "How streams ended over the time range: completed | cancelled | interrupted | timeout.",
            "short",
            q(
                f"sum by (model, outcome) (increase(holysheep_stream_outcomes_total{sel()}[{RANGE}]))",
                "{{model}} {{outcome}}",
                instant=True,
            ),
        ),
        ts(
            "Retry-after advised P95",
            f"Wait the gateway advised on 429 / 503 responses. Needs {DETAIL_SETTING} in the apps: empty without.",
            "s",
            q(quantile("0.95", "holysheep_retry_after_seconds"), "{{model}}"),
            w=8,
        ),
    ]


def finishes_row() -> list[Any]:
    """Why calls ended: truncations (finish_reason "length", HolySheepTruncatedCompletionsHigh), the mix of finish
    reasons, and tool calls. Both sides of the ratio are summed by model; 0, not empty, where nothing was cut off."""
    fin, length = "holysheep_finishes_total", sel('finish_reason="length"')
    return [
        ts(
            "Truncation rate by model",
            'Share of answers that ended with finish_reason "length": cut off at max_tokens (or the context window) '
            "and paid for anyway. tool_calls and content_filter endings are not truncations. The warning "
            "HolySheepTruncatedCompletionsHigh fires above 10% over 30m (and 5m) on at least 20 answers.",
            "percentunit",
            q(
                f"(sum by (model) (rate({fin}{length}[{RATE}]))\n"
                f"   or sum by (model) (rate({fin}{sel()}[{RATE}])) * 0)\n"
                f"  / sum by (model) (rate({fin}{sel()}[{RATE}]))",
                "{{model}}",
            ),
            w=10,
        ),
        bar_panel(
            "Finish reasons",
            "How answers ended over the time range: stop | length | tool_calls | content_filter | function_call | "
            "other.",
            "short",
            q(
                f"sum by (model, finish_reason) (increase({fin}{sel()}[{RANGE}]))",
                "{{model}} {{finish_reason}}",
                instant=True,
            ),
        ),
        ts(
            "Tool calls / s by model",
            "Tool calls the answers asked for (each distinct call once); 0 for a model whose answers asked for none.",
            "short",
            q(
                f"sum by (model) (rate(holysheep_tool_calls_total{sel()}[{RATE}]))\n"
                f"  or sum by (model) (rate({fin}{sel()}[{RATE}])) * 0",
                "{{model}}",
            ),
            w=6,
        ),
    ]


COMPARISON_COLUMNS = (
    ("A", "Requests", "short"),
    ("B", "Avg latency", "s"),
    ("C", "P95 latency", "s"),
    ("D", "Success rate", "percentunit"),
    ("E", "Cost per 1M tokens", "currencyUSD"),
)


# The Collectors' own metrics (job otel-collector-self, prometheus.yml): the push path watching itself. These panels
# have data only where Prometheus scrapes Collectors, and the failure panels only while something fails.
PIPELINE_JOB = 'job="otel-collector-self"'
PIPELINE_PANELS = frozenset(
    {
        "Collectors up",
        "Exporter queue fill",
        "Accepted by the Collectors / s",
        "Send failures / s",
        "Dropped, queue full / s",
        "Refused by the memory limiter / s",
    }
)


def pipeline_series(pattern: str, by: str) -> str:
    """Rates of the otelcol_<pattern>_<signal> counters (metric points, spans, log records) by ``by`` and ``signal``:
    one sum per signal (a rate over several names at once would drop the names and collide), with or without the
    _total suffix."""
    parts = [
        f"label_replace(sum by ({by}) (rate({{{PIPELINE_JOB}, "
        f'__name__=~"otelcol_{pattern}_{signal}(_total)?"}}[{RATE}])), "signal", "{signal}", "", "")'
        for signal in ("metric_points", "spans", "log_records")
    ]
    return "\n  or ".join(parts)


def pipeline_row() -> list[Any]:
    return [
        stat_panel(
            "Collectors up",
            "Collectors whose own metrics Prometheus scrapes (single, gateways, agents), of all listed in job "
            "otel-collector-self. Red when one is down (alert HolySheepCollectorDown).",
            "short",
            q(f"count(up{{{PIPELINE_JOB}}} == 1) or vector(0)", "up"),
            ((None, "green"),),
            w=4,
            h=8,
        ),
        ts(
            "Exporter queue fill",
            "Each exporter's sending queue as a share of its capacity. Over 80% for 5m pages "
            "(HolySheepCollectorQueueNearlyFull): the destination is down or too slow; at 100% data is dropped.",
            "percentunit",
            q(
                f"max by (instance, exporter) (otelcol_exporter_queue_size{{{PIPELINE_JOB}}})\n"
                f"  / max by (instance, exporter) (otelcol_exporter_queue_capacity{{{PIPELINE_JOB}}})",
                "{{instance}} {{exporter}}",
            ),
            w=10,
        ),
        ts(
            "Accepted by the Collectors / s",
            "Metric points and spans the Collectors' receivers accepted.",
            "short",
            q(pipeline_series("receiver_accepted", "instance"), "{{instance}} {{signal}}"),
            w=10,
        ),
        ts(
            "Send failures / s",
            "Items an exporter failed to send after its retries (HolySheepCollectorSendFailures).",
            "short",
            q(pipeline_series("exporter_send_failed", "instance, exporter"), "{{instance}} {{exporter}} {{signal}}"),
            w=8,
        ),
        ts(
            "Dropped, queue full / s",
            "Items an exporter could not queue: lost (HolySheepCollectorDroppingData).",
            "short",
            q(pipeline_series("exporter_enqueue_failed", "instance, exporter"), "{{instance}} {{exporter}} {{signal}}"),
            w=8,
        ),
        ts(
            "Refused by the memory limiter / s",
            "Items the receivers refused because the memory_limiter was over its soft limit; the apps retry them "
            "(HolySheepCollectorRefusingData).",
            "short",
            q(pipeline_series("receiver_refused", "instance, receiver"), "{{instance}} {{receiver}} {{signal}}"),
            w=8,
        ),
    ]


# Recording rules the user generates with `otel-holysheep rules --budgets` (not shipped): these panels have data only
# where that file is loaded. Budget series carry the budget's labels, not job/instance/model.
BUDGET_PANELS = frozenset({"Projected month-end share of budget", "Spent this month and forecast", "Budget remaining"})


def budget_row() -> list[Any]:
    return [
        bar_panel(
            "Projected month-end share of budget",
            "Spend this month plus the last day's pace to the month's end, as a share of each budget. Warning at 80%, "
            "page at 100% (HolySheepBudgetProjectedWarning / HolySheepBudgetProjectedOverrun, from "
            "`otel-holysheep rules --budgets`).",
            "percentunit",
            q("budget:holysheep_cost_usd:projected_ratio", "{{budget}}", instant=True),
            w=8,
            colors=dash_models.FieldColorModeId.THRESHOLDS,
            steps=((None, "green"), (0.8, "yellow"), (1.0, "red")),
        ),
        ts(
            "Spent this month and forecast",
            "Month-to-date spend (UTC calendar month, to the last whole hour), the projected month-end spend and "
            "the budget, per budget.",
            "currencyUSD",
            q("budget:holysheep_cost_usd:month_to_date", "{{budget}} spent", "A"),
            q("budget:holysheep_cost_usd:projected_month_end", "{{budget}} projected", "B"),
            q("budget:holysheep_budget_usd", "{{budget}} budget", "C"),
            w=10,
        ),
        bar_panel(
            "Budget remaining",
            "Budget minus the spend this month (negative: over budget).",
            "currencyUSD",
            q("budget:holysheep_cost_usd:remaining", "{{budget}}", instant=True),
            w=6,
        ),
    ]


def comparison_table() -> Any:
    r = RANGE
    success = sel('status="success"')
    exprs = {
        "A": f"sum by (model) (increase(holysheep_requests_total{sel()}[{r}]))",
        "B": average("holysheep_request_duration_seconds", r),
        "C": quantile("0.95", "holysheep_request_duration_seconds", window=r),
        "D": f"(sum by (model) (increase(holysheep_requests_total{success}[{r}]))\n"
        f"   or sum by (model) (increase(holysheep_requests_total{sel()}[{r}])) * 0)\n"
        f"  / sum by (model) (increase(holysheep_requests_total{sel()}[{r}]))",
        "E": f"sum by (model) (increase(holysheep_cost_usd_total{sel()}[{r}]))\n"
        f"  / sum by (model) (increase(holysheep_tokens_total{sel(BILLED_TOKENS)}[{r}])) * 1e6",
    }
    panel = (
        table.Panel()
        .title("Per-model comparison")
        .description("Over the dashboard's time range. Cost per 1M tokens counts prompt + completion tokens.")
        .datasource(DS)
        .span(24)
        .height(8)
        .with_transformation(dash_models.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            dash_models.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True},
                    "indexByName": {
                        "model": 0,
                        **{f"Value #{ref}": i + 1 for i, (ref, _, _) in enumerate(COMPARISON_COLUMNS)},
                    },
                    "renameByName": {
                        "model": "Model",
                        **{f"Value #{ref}": name for ref, name, _ in COMPARISON_COLUMNS},
                    },
                },
            )
        )
        .sort_by([common.TableSortByFieldState().display_name("Requests").desc(True)])
        .thresholds(thresholds(*GREEN))
    )
    for ref, name, unit in COMPARISON_COLUMNS:
        panel = panel.with_target(q(exprs[ref], ref=ref, instant=True, fmt_table=True))
        props = [dash_models.DynamicConfigValue(id_val="unit", value=unit)]
        if ref in "BCE":
            props.append(dash_models.DynamicConfigValue(id_val="decimals", value=3 if ref == "E" else 2))
        panel = panel.override_by_name(name, props)
    return panel


def build_dashboard() -> dict[str, Any]:
    """The dashboard as a JSON-ready dict."""
    builder = (
        dash.Dashboard("HolySheep AI gateway")
        .uid(DASHBOARD_UID)
        .description(
            "Calls to the HolySheep AI gateway measured by otel-holysheep: traffic, errors, latency, time to "
            "first token, tokens, cost and rate limits."
        )
        .tags(["holysheep", "llm", "opentelemetry", "genai"])
        .editable()
        .tooltip(dash_models.DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .variables(variables())
    )
    rows = [
        ("Overview", overview_row()),
        ("Traffic and errors", traffic_row()),
        ("Latency", latency_row()),
        ("Tokens and cost", cost_row()),
        ("Spend by route / team", attribution_row()),
        ("Rate limits and streams", limits_row()),
        ("Why calls ended: truncations and tool calls", finishes_row()),
        ("Per-model comparison", [comparison_table()]),
        ("Pipeline health", pipeline_row()),
        ("Budgets (otel-holysheep rules --budgets)", budget_row()),
    ]
    for title, panels in rows:
        builder = builder.with_row(dash.Row(title))
        for panel in panels:
            builder = builder.with_panel(panel)
    model = builder.build()
    out: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    # stable, readable ids (the SDK numbers panels itself; keep them deterministic)
    for i, panel in enumerate(out.get("panels", []), start=1):
        panel["id"] = i
    return out


def render() -> str:
    """The exact text of grafana/dashboards/holysheep-overview.json."""
    return json.dumps(build_dashboard(), indent=2, sort_keys=True) + "\n"


# --- queries for end-to-end tests ---------------------------------------------------------------------------------
class PanelQuery(NamedTuple):
    panel: str
    ref_id: str
    expr: str
    instant: bool


def dashboard_queries(
    dashboard: Mapping[str, Any] | None = None,
    *,
    values: Mapping[str, str] | None = None,
    rate_interval: str = "1m",
    range_: str = "5m",
    interval: str = "15s",
    attribution: bool = False,
    pipeline: bool = False,
    budgets: bool = False,
) -> list[PanelQuery]:
    """Every panel query of the dashboard (default: the generated one) with variables substituted: $job, $instance,
    $model by ``.*`` (or ``values``), $attribution by ``route``, $__rate_interval / $__range / $__interval by the
    given durations.

    The panels in ``ATTRIBUTION_PANELS`` return data only where the apps set attribution labels, which the default
    settings do not: they are left out unless ``attribution`` (tests that check every query returns data run apps
    with default settings; tests with attribution labels pass ``attribution=True``). The "Pipeline health" panels
    (``PIPELINE_PANELS``) read the Collectors' own metrics: left out unless ``pipeline``. The "Budgets" panels
    (``BUDGET_PANELS``) read the rules `otel-holysheep rules --budgets` writes: left out unless ``budgets``."""
    dashboard = dashboard if dashboard is not None else build_dashboard()
    subst = {"job": ".*", "instance": ".*", "model": ".*", "attribution": "route", **(values or {})}
    builtins = {"__rate_interval": rate_interval, "__range": range_, "__interval": interval}

    def fill(expr: str) -> str:
        def repl(m: re.Match[str]) -> str:
            name = m.group(1) or m.group(2)
            if name in builtins:
                return builtins[name]
            if name in subst:
                return subst[name]
            raise KeyError(f"unknown variable ${name} in {expr!r}")

        return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, expr)

    out = []
    for panel in dashboard.get("panels", []):
        if panel.get("title") in ATTRIBUTION_PANELS and not attribution:
            continue
        if panel.get("title") in PIPELINE_PANELS and not pipeline:
            continue
        if panel.get("title") in BUDGET_PANELS and not budgets:
            continue
        for target in panel.get("targets") or []:
            if "expr" in target:
                out.append(
                    PanelQuery(
                        panel["title"], target.get("refId", "A"), fill(target["expr"]), bool(target.get("instant"))
                    )
                )
    return out


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not DASHBOARD_FILE.exists() or DASHBOARD_FILE.read_text() != text:
            print(f"{DASHBOARD_FILE} is stale: run python grafana/generate.py", file=sys.stderr)
            return 1
        return 0
    DASHBOARD_FILE.parent.mkdir(parents=True, exist_ok=True)
    DASHBOARD_FILE.write_text(text)
    print(f"wrote {DASHBOARD_FILE.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
