"""Metric instruments: the one instrument table, and the per-request cheap counting path.

``Telemetry``'s class body *is* the instrument table: one row per instrument (name, kind, unit, description, own
labels, whether the attribution labels apply, bucket advice). The instruments a meter gets, the documented
Prometheus series (``_series``), the attribution relabelling and the series names the report and doctor query are
all derived from it. Adding a metric is one row here plus the line that records it; the row is also the typed
attribute the recording line uses (``telemetry.requests.add(...)``).

Counters and gauges are *observable* instruments fed from in-process tallies: a request pays a dict update under a
lock instead of an SDK measurement (about 7 us each), and the SDK reads the tallies at collection time. Histograms
have no observable form and are recorded synchronously.

Instruments and tallies are kept per meter, so ``uninstrument()`` followed by ``instrument()`` with the same meter
provider continues the same cumulative series instead of registering callbacks twice (double counting).
"""

from __future__ import annotations

from typing import Any, Final, Generic, Literal, TypeVar, overload

from opentelemetry.metrics import Histogram, Meter

from otel_holysheep import _buckets as b
from otel_holysheep import _semconv as sc
from otel_holysheep._registry import PerProvider
from otel_holysheep._tally import Tally

Kind = Literal["counter", "up_down_counter", "gauge", "histogram"]
_I = TypeVar("_I", Tally, Histogram)
# The Prometheus series type each kind is exposed as by the OpenTelemetry Prometheus exporter.
PROMETHEUS_TYPES: Final[dict[str, str]] = {
    "counter": "counter",
    "up_down_counter": "gauge",
    "gauge": "gauge",
    "histogram": "histogram",
}
# OTel unit (annotations in braces dropped) -> the suffix the Prometheus exporter appends to the name.
_UNIT_SUFFIXES: Final = {"": "", "s": "_seconds", "/s": "_per_second"}


class Spec(Generic[_I]):
    """One row of the instrument table, and (as a class attribute of :class:`Telemetry`) the typed attribute through
    which a request records into that instrument. ``genai``: a GenAI semantic-convention histogram, recorded with the
    GenAI attributes plus ``labels``, only when ``OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS`` is on. ``detail``: a
    secondary histogram, recorded only when ``OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS`` is on (time to
    headers also when ``OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS`` is set)."""

    __slots__ = (
        "attr",
        "attributed",
        "buckets",
        "description",
        "detail",
        "genai",
        "kind",
        "labels",
        "name",
        "series",
        "unit",
    )

    def __init__(
        self,
        kind: Kind,
        name: str,
        unit: str,
        description: str,
        labels: tuple[str, ...],
        attributed: bool = False,
        buckets: tuple[float, ...] | None = None,
        genai: bool = False,
        detail: bool = False,
    ) -> None:
        if (kind == "histogram") != (buckets is not None) or (attributed and kind != "counter"):
            raise ValueError(f"{name}: buckets are for histograms, attribution labels for counters")
        self.kind = kind
        self.name = name
        self.unit = unit
        self.description = description
        self.labels = labels
        self.attributed = attributed
        self.buckets = buckets
        self.genai = genai
        self.detail = detail
        self.series = prometheus_name(name, unit, kind)
        self.attr = ""

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    @overload
    def __get__(self, obj: None, owner: type) -> Spec[_I]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> _I: ...
    def __get__(self, obj: object, owner: type) -> Any:
        if obj is None:
            return self
        # A built Telemetry holds the instrument in its own __dict__, which takes precedence over this (non-data)
        # descriptor: the hot path never gets here.
        raise AttributeError(self.attr)

    def label_names(self, attribution: tuple[str, ...] = ()) -> tuple[str, ...]:
        """This instrument's label names when the attribution labels ``attribution`` are on."""
        return (*self.labels, *attribution) if self.attributed else self.labels

    def create(self, meter: Meter, attribution: tuple[str, ...] = ()) -> Tally | Histogram:
        """The instrument on ``meter``: a histogram, or the tally an observable instrument reads."""
        if self.kind == "histogram":
            return meter.create_histogram(
                self.name,
                unit=self.unit,
                description=self.description,
                explicit_bucket_boundaries_advisory=list(self.buckets or ()),
            )
        tally = Tally(self.label_names(attribution))
        create = {
            "counter": meter.create_observable_counter,
            "up_down_counter": meter.create_observable_up_down_counter,
            "gauge": meter.create_observable_gauge,
        }[self.kind]
        create(self.name, callbacks=[tally.observe], unit=self.unit, description=self.description)
        return tally


def prometheus_name(name: str, unit: str, kind: str) -> str:
    """The series name the OpenTelemetry Prometheus exporter gives an instrument: dots become underscores, the unit
    (braced annotations dropped) adds its suffix, counters end in ``_total``."""
    stripped = "".join(part.partition("}")[2] for part in ("}" + unit).split("{"))
    suffix = _UNIT_SUFFIXES.get(stripped)
    if suffix is None:
        raise ValueError(f"{name}: no Prometheus suffix known for unit {unit!r}")
    return name.replace(".", "_") + suffix + ("_total" if kind == "counter" else "")


def _counter(name: str, unit: str, description: str, labels: tuple[str, ...], attributed: bool = False) -> Spec[Tally]:
    return Spec("counter", name, unit, description, labels, attributed)


def _observed(kind: Kind, name: str, unit: str, description: str, labels: tuple[str, ...]) -> Spec[Tally]:
    return Spec(kind, name, unit, description, labels)


def _histogram(
    name: str,
    unit: str,
    description: str,
    labels: tuple[str, ...],
    buckets: tuple[float, ...],
    genai: bool = False,
    detail: bool = False,
) -> Spec[Histogram]:
    return Spec("histogram", name, unit, description, labels, buckets=buckets, genai=genai, detail=detail)


def _genai(metric: sc.Metric) -> Spec[Histogram]:
    """A GenAI convention histogram's row; its own labels are those beyond the attributes every GenAI point has."""
    labels = tuple(key for key in metric.attributes if key not in sc.COMMON)
    return _histogram(metric.name, metric.unit, metric.description, labels, metric.buckets or (), genai=True)


_MODEL: Final = ("model",)


class Telemetry:
    """All instruments for one meter, built from the table below (the order of the rows is the order the instruments
    are created in). ``attribution`` are the attribution label names (``_attribution``) that the ``attributed``
    counters carry after their own labels; none by default."""

    # --- the instrument table ---------------------------------------------------------------------------------------
    # fmt: off
    requests = _counter(
        "holysheep.requests", "{request}", "HTTP attempts to the gateway by model, endpoint and status",
        ("model", "endpoint", "status"), attributed=True,
    )
    errors = _counter(
        "holysheep.errors", "{error}", "Unsuccessful attempts by error type", ("model", "error_type"), attributed=True
    )
    tokens = _counter(
        "holysheep.tokens", "{token}", "Provider-reported tokens by type (prompt, completion, cached, reasoning)",
        ("model", "token_type"), attributed=True,
    )
    stream_outcomes = _counter(
        "holysheep.stream_outcomes", "{stream}", "Streams by how they ended", ("model", "outcome")
    )
    # finish_reason is a closed set (_attributes.FINISH_REASONS); anything else is counted as "other".
    finishes = _counter(
        "holysheep.finishes", "{choice}",
        "Completed choices by finish reason (stop, length, content_filter, tool_calls, function_call, other)",
        ("model", "finish_reason"), attributed=True,
    )
    tool_calls = _counter("holysheep.tool_calls", "{call}", "Tool calls in responses (distinct calls)", _MODEL)
    usage_missing = _counter(
        "holysheep.usage_missing", "{response}", "Successful responses that reported no usage", _MODEL
    )
    # Unit {USD}, not USD: the exporter keeps a bare unit's case (holysheep_cost_USD_total).
    cost = _counter(
        "holysheep.cost.usd", "{USD}", "Cost in USD from provider-reported usage and the price book", _MODEL,
        attributed=True,
    )
    unpriced_tokens = _counter("holysheep.unpriced_tokens", "{token}", "Tokens of models without a price", _MODEL)
    cache_savings = _counter(
        "holysheep.cache_savings.usd", "{USD}", "USD saved by cached input against the input price", _MODEL
    )
    # Served vs requested (issue 24): a response naming another model than the request's (its served_model label is
    # bounded like model, by the same cap). Recorded only when it happens: no series otherwise.
    model_substitutions = _counter(
        "holysheep.model_substitutions", "{response}",
        "Responses served by another model than the one requested (dated snapshots and aliases are the same model)",
        ("model", "served_model"),
    )
    # The gateway's own figure, only from responses that report one (usage.cost), and ours for those same calls.
    gateway_cost = _counter(
        "holysheep.gateway_cost.usd", "{USD}", "USD the gateway reported for calls (usage.cost), when it reports it",
        _MODEL,
    )
    gateway_cost_ours = _counter(
        "holysheep.gateway_cost.ours.usd", "{USD}",
        "Our price-book cost of the calls the gateway reported a cost for (to compare with holysheep.gateway_cost.usd)",
        _MODEL,
    )
    retries = _counter(
        "holysheep.retries", "{retry}", "Retried attempts by the previous attempt's failure class", ("model", "reason")
    )
    active = _observed(
        "up_down_counter", "holysheep.active_requests", "{request}", "Requests in flight: sent and not yet fully read",
        _MODEL,
    )
    ratelimit_remaining = _observed(
        "gauge", "holysheep.ratelimit.remaining", "{1}",
        "Last x-ratelimit-remaining-* header value (kind = requests | tokens)", ("model", "kind"),
    )
    ratelimit_limit = _observed(
        "gauge", "holysheep.ratelimit.limit", "{1}", "Last x-ratelimit-limit-* header value (kind = requests | tokens)",
        ("model", "kind"),
    )
    duration = _histogram(
        "holysheep.request.duration", "s", "Request start to the last byte of the body (a stream's end)",
        ("model", "endpoint"), b.DURATION_BUCKETS,
    )
    time_to_headers = _histogram(
        "holysheep.time_to_headers", "s",
        "Request start until the response headers arrived (streamed responses, unless configured for all)",
        ("model", "endpoint"), b.HEADERS_BUCKETS, detail=True,
    )
    time_to_first_token = _histogram(
        "holysheep.time_to_first_token", "s", "Streams: request start until the first chunk carrying content", _MODEL,
        b.TTFT_BUCKETS,
    )
    # Unit {token}/s: the Prometheus name is holysheep_output_tokens_per_second on every path. (Named
    # holysheep.output_tokens_per_second, Prometheus 3's OTLP receiver and the Collector's exporters would add the unit
    # suffix a second time: holysheep_output_tokens_per_second_per_second.)
    output_tokens_per_second = _histogram(
        "holysheep.output_tokens", "{token}/s", "Streams: completion tokens per second after the first token", _MODEL,
        b.TOKENS_PER_SECOND_BUCKETS, detail=True,
    )
    retry_after = _histogram(
        "holysheep.retry_after", "s", "Advised wait (retry-after) on rate-limited or unavailable responses", _MODEL,
        b.RETRY_AFTER_BUCKETS, detail=True,
    )
    # The GenAI semantic-convention histograms of the default (v1.41) form, from the conventions table (_semconv); the
    # latest form's instruments are _genai's.
    genai_duration = _genai(sc.V1_41.metric("duration"))
    genai_tokens = _genai(sc.V1_41.metric("tokens"))
    genai_ttfc = _genai(sc.V1_41.metric("time_to_first_chunk"))
    genai_time_per_chunk = _genai(sc.V1_41.metric("time_per_output_chunk"))
    # fmt: on

    def __init__(self, meter: Meter, attribution: tuple[str, ...] = ()) -> None:
        self._attribution = attribution
        self._table = table_of(type(self))
        for spec in self._table:
            self.__dict__[spec.attr] = spec.create(meter, attribution)

    @property
    def attribution(self) -> tuple[str, ...]:
        return self._attribution

    def set_attribution(self, attribution: tuple[str, ...]) -> None:
        """Other attribution labels (a re-instrumentation): the attributed counters' old series end."""
        self._attribution = attribution
        for spec in self._table:
            if spec.attributed:
                self.__dict__[spec.attr].relabel(spec.label_names(attribution))


def table_of(cls: type[Telemetry]) -> tuple[Spec[Any], ...]:
    """The rows of ``cls`` (``Telemetry`` or a subclass that adds rows), in class-body order, base rows first."""
    rows: dict[str, Spec[Any]] = {}
    for klass in reversed(cls.__mro__):
        rows.update((key, value) for key, value in vars(klass).items() if isinstance(value, Spec))
    return tuple(rows.values())


TABLE: Final = table_of(Telemetry)
"""The instrument table, in creation order."""


_BY_METER: Final[PerProvider[Telemetry]] = PerProvider()


def create_telemetry(meter: Meter, attribution: tuple[str, ...] = ()) -> Telemetry:
    """The :class:`Telemetry` of ``meter``, created once per meter (its attributed counters relabelled when the
    attribution labels changed since)."""

    def relabel(telemetry: Telemetry) -> None:
        if telemetry.attribution != attribution:
            telemetry.set_attribution(attribution)

    return _BY_METER.get(meter, lambda: Telemetry(meter, attribution), relabel)
