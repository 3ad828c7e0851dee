"""PromQL for the report (also reusable by dashboards): window and selector validation, one query per number."""

from __future__ import annotations

import re

from .._instruments import Telemetry
from .errors import ReportError

REQUESTS = Telemetry.requests.series
DURATION = Telemetry.duration.series
TTFT = Telemetry.time_to_first_token.series
TOKENS = Telemetry.tokens.series
COST = Telemetry.cost.series
UNPRICED = Telemetry.unpriced_tokens.series
# Finish reasons per model (labels model, finish_reason; "length" = truncated): the what-if reads it
# where it exists and says "not observed" where it does not (older instrumentations).
FINISHES = Telemetry.finishes.series
# Served vs requested model, and the gateway's own cost beside ours: per model, so in the report per model only.
SUBSTITUTIONS = Telemetry.model_substitutions.series
GATEWAY_COST = Telemetry.gateway_cost.series
GATEWAY_COST_OURS = Telemetry.gateway_cost_ours.series

DEFAULT_WINDOW = "7d"
QUANTILE = 0.95
BY_MODEL = ("model",)
# Labels not on every series the report reads (requests, tokens, cost): a group by one of them would mix sums.
_NOT_GROUPABLE = frozenset({"endpoint", "status", "token_type", "error_type", "le", "__name__"})
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Prometheus durations: units in decreasing order, each at most once (30m, 24h, 7d, 1h30m, 500ms).
_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
# One label matcher: name, operator, double-quoted value (escapes allowed).
_MATCHER = re.compile(r'\s*[A-Za-z_][A-Za-z0-9_]*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*')


def validate_window(window: str) -> str:
    match = _DURATION.fullmatch(window.strip())
    if not window.strip() or match is None or not any(int(g) for g in match.groups() if g is not None):
        raise ReportError(f"invalid --window {window!r}: use a Prometheus duration such as 30m, 24h or 7d")
    return window.strip()


def validate_by(by: str | tuple[str, ...] | None) -> tuple[str, ...]:
    """``--by``: comma-separated label names (``model``, or attribution labels such as ``route`` or ``team``)."""
    if by is None:
        return BY_MODEL
    names = tuple(part.strip() for part in by.split(",")) if isinstance(by, str) else tuple(by)
    for name in names:
        if not _LABEL_NAME.fullmatch(name):
            raise ReportError(f"invalid --by {by!r}: use label names separated by commas, such as route or model,team")
        if name in _NOT_GROUPABLE or name.startswith("__"):
            raise ReportError(
                f"invalid --by {by!r}: {name} is not on every series the report reads (requests, tokens, cost); "
                "use model or an attribution label (OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION), such as route or team"
            )
    if not names or len(set(names)) != len(names):
        raise ReportError(f"invalid --by {by!r}: name each label once, such as route or model,team")
    return names


def validate_selector(selector: str | None) -> str:
    """Return the matchers inside ``{...}`` (without braces), e.g. ``job="app"``; '' for no selector."""
    if selector is None or not selector.strip():
        return ""
    inner = selector.strip()
    if inner.startswith("{") and inner.endswith("}"):
        inner = inner[1:-1]
    inner = inner.strip().rstrip(",").strip()
    if not inner:
        return ""
    if any(_MATCHER.fullmatch(part) is None for part in _split_matchers(inner)):
        raise ReportError(f"invalid --selector {selector!r}: use label matchers such as '{{job=\"app\"}}'")
    return ",".join(part.strip() for part in _split_matchers(inner))


def _split_matchers(inner: str) -> list[str]:
    """Split on commas outside double-quoted values."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in inner:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _series(name: str, matchers: str, *extra: str) -> str:
    all_matchers = ",".join(m for m in (matchers, *extra) if m)
    return f"{name}{{{all_matchers}}}" if all_matchers else name


def report_queries(
    window: str = DEFAULT_WINDOW, selector: str | None = None, by: str | tuple[str, ...] | None = None
) -> dict[str, str]:
    """Every instant query the ``--prometheus`` report runs, by the number it yields. Grouped by anything but
    ``model`` alone, it has no latency queries: histograms carry no attribution labels."""
    w = validate_window(window)
    m = validate_selector(selector)
    group = validate_by(by)
    if group != BY_MODEL:
        labels = ", ".join(group)
        success = 'status="success"'
        billed = 'token_type=~"prompt|completion"'
        return {
            "requests": f"sum by ({labels}) (increase({_series(REQUESTS, m)}[{w}]))",
            "successes": f"sum by ({labels}) (increase({_series(REQUESTS, m, success)}[{w}]))",
            "tokens": f"sum by ({labels}, token_type) (increase({_series(TOKENS, m, billed)}[{w}]))",
            "cost": f"sum by ({labels}) (increase({_series(COST, m)}[{w}]))",
            # unpriced tokens carry no attribution labels: per model, to name what no group's cost includes
            "unpriced_tokens": f"sum by (model) (increase({_series(UNPRICED, m)}[{w}]))",
        }

    def increase_by(by: str, name: str, *extra: str) -> str:
        return f"sum by ({by}) (increase({_series(name, m, *extra)}[{w}]))"

    def increase_all(name: str) -> str:
        return f"sum(increase({_series(name, m)}[{w}]))"

    # Classic buckets (`_bucket`, `le`) or a native histogram (the bare name: Prometheus 3 storing OTLP exponential
    # histograms). Each side of `or` is empty where the other kind is stored; VictoriaMetrics and Prometheus 2 know
    # every function used here (not histogram_sum / histogram_count, so a native histogram's count is the request
    # count, which every request adds to exactly like the duration histogram, and its sum that times the mean).
    def p95(by: str, name: str) -> str:
        native = increase_by(by, name) if by else increase_all(name)
        classic = increase_by(f"{by}, le" if by else "le", name + "_bucket")
        return f"histogram_quantile({QUANTILE}, {classic} or {native})"

    native_mean = f"histogram_avg({increase_by('model', DURATION)})"
    requests = increase_by("model", REQUESTS)
    return {
        "requests": requests,
        "successes": increase_by("model", REQUESTS, 'status="success"'),
        "duration_sum": f"{increase_by('model', DURATION + '_sum')} or {native_mean} * {requests}",
        "duration_count": f"{increase_by('model', DURATION + '_count')} or {native_mean} * 0 + {requests}",
        "p95_latency": p95("model", DURATION),
        "p95_ttft": p95("model", TTFT),
        "tokens": increase_by("model, token_type", TOKENS, 'token_type=~"prompt|completion"'),
        "cost": increase_by("model", COST),
        "unpriced_tokens": increase_by("model", UNPRICED),
        "substitutions": increase_by("model, served_model", SUBSTITUTIONS),
        "gateway_cost": increase_by("model", GATEWAY_COST),
        "gateway_cost_ours": increase_by("model", GATEWAY_COST_OURS),
        "total_p95_latency": p95("", DURATION),
        "total_p95_ttft": p95("", TTFT),
    }
