"""The Prometheus series otel-holysheep exposes, derived from the instrument table (``_instruments.TABLE``).

As the OpenTelemetry Prometheus exporter names them: unit suffixes and ``_total`` are added by the exporter, every
series also carries ``otel_scope_*`` labels. The report, the doctor, the dashboards and the tests read the names
here, never typed out again.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from otel_holysheep import _semconv as sc
from otel_holysheep._instruments import PROMETHEUS_TYPES, TABLE, Spec, prometheus_name


class Series(NamedTuple):
    """One Prometheus series family as the OTel Prometheus exporter exposes it."""

    name: str
    type: str  # counter | histogram | gauge
    labels: tuple[str, ...]  # its own labels; the attributed counters add the attribution labels after them
    help: str


def series_of(spec: Spec[Any]) -> Series:
    # Prometheus label names: the exporter turns the dots of attribute keys into underscores.
    labels = tuple(label.replace(".", "_") for label in spec.labels)
    return Series(spec.series, PROMETHEUS_TYPES[spec.kind], labels, spec.description)


PROMETHEUS_SERIES: Final[tuple[Series, ...]] = tuple(series_of(spec) for spec in TABLE if not spec.genai)
"""Our own ``holysheep_*`` series: on by default, but for ``DETAIL_SERIES``."""

DETAIL_SERIES: Final[tuple[str, ...]] = tuple(spec.series for spec in TABLE if spec.detail)
"""The secondary histograms among them, opt-in (``OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS=true``): time to
headers, output tokens per second, retry-after. With the defaults they export no series."""

GENAI_SERIES: Final[tuple[Series, ...]] = tuple(series_of(spec) for spec in TABLE if spec.genai)
"""The GenAI semantic-convention histograms (opt-in); their labels are the GenAI attributes plus these."""

GENAI_LATEST_SERIES: Final[tuple[Series, ...]] = tuple(
    Series(
        prometheus_name(m.name, m.unit, m.kind),
        PROMETHEUS_TYPES[m.kind],
        tuple(key.replace(".", "_") for key in m.attributes if key not in sc.COMMON),
        m.description,
    )
    for m in sc.LATEST.metrics
)
"""What replaces ``GENAI_SERIES`` with ``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` (``_semconv``)."""

ATTRIBUTED_SERIES: Final[tuple[str, ...]] = tuple(spec.series for spec in TABLE if spec.attributed)
"""The counters that carry the attribution labels (``OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION``: ``route`` and
baggage keys) after their own, when they are switched on. Histograms never do."""
