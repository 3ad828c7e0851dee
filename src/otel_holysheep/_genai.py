"""The latest GenAI conventions' output (``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental``): its
instruments on one meter, what an attempt records into them, and the span attributes only that form sets.

The default (v1.41) form is recorded by ``_recorder`` into ``_instruments.Telemetry``'s ``genai_*`` histograms; the
instrumentor builds a :class:`LatestGenAI` only when the latest form is chosen, and the recorder then hands the
GenAI part of each attempt to it instead. Names, kinds, units, buckets and attributes all come from
``_semconv.LATEST``.

The five usage counters are observable, fed from one in-process tally (one lock and one dict look-up per attempt for
all five); the histograms are recorded synchronously.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Final, Protocol

from opentelemetry import context as otel_context
from opentelemetry.metrics import CallbackOptions, Histogram, Meter, Observation

from otel_holysheep import _attributes as a
from otel_holysheep import _names as n
from otel_holysheep import _semconv as sc
from otel_holysheep._parsing import Usage
from otel_holysheep._registry import PerProvider

_FORM: Final = sc.LATEST
# The usage counters, in the order of a tally entry's values.
_USAGE: Final = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
_UNFINISHED: Final = frozenset({a.OUTCOME_CANCELLED, a.OUTCOME_INTERRUPTED, a.OUTCOME_TIMEOUT})


class Outcome(Protocol):
    """What this module reads of how an attempt ended (``_recorder.Outcome``, which imports this module)."""

    @property
    def status(self) -> str: ...
    @property
    def stream_outcome(self) -> str | None: ...
    @property
    def end(self) -> float: ...
    @property
    def first_token_at(self) -> float | None: ...
    @property
    def usage(self) -> Usage | None: ...
    @property
    def finish_reasons(self) -> tuple[str, ...]: ...
    @property
    def content_chunks(self) -> int: ...


class UsageTally:
    """Cumulative token sums per attribute set, one value per usage counter, read by those counters' callbacks."""

    __slots__ = ("_lock", "_values")

    def __init__(self) -> None:
        self._values: dict[tuple[tuple[str, Any], ...], list[float]] = {}
        self._lock = threading.Lock()

    def add(self, key: tuple[tuple[str, Any], ...], amounts: tuple[float, float, float, float, float]) -> None:
        with self._lock:
            found = self._values.get(key)
            if found is None:
                self._values[key] = list(amounts)
            else:
                for i, amount in enumerate(amounts):
                    found[i] += amount

    def callback(self, index: int) -> Callable[[CallbackOptions], Iterable[Observation]]:
        """The callback of the usage counter at ``index`` (of ``_USAGE``)."""

        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            with self._lock:
                items = [(key, values[index]) for key, values in self._values.items()]
            return [Observation(value, dict(key)) for key, value in items]

        return observe


class LatestGenAI:
    """The latest form's instruments on one meter."""

    def __init__(self, meter: Meter) -> None:
        def histogram(key: str) -> Histogram:
            m = _FORM.metric(key)
            buckets = list(m.buckets or ())
            return meter.create_histogram(
                m.name, unit=m.unit, description=m.description, explicit_bucket_boundaries_advisory=buckets
            )

        self.duration = histogram("duration")
        self.time_to_first_chunk = histogram("time_to_first_chunk")
        self.time_per_output_chunk = histogram("time_per_output_chunk")
        self.operation_input_tokens = histogram("operation_input_tokens")
        self.operation_output_tokens = histogram("operation_output_tokens")
        self.embeddings_duration = histogram("embeddings_duration")
        self.embeddings_input_tokens = histogram("embeddings_input_tokens")
        self.usage = UsageTally()
        for index, key in enumerate(_USAGE):
            m = _FORM.metric(key)
            meter.create_observable_counter(
                m.name, callbacks=[self.usage.callback(index)], unit=m.unit, description=m.description
            )

    def record(
        self,
        operation: str,
        start: float,
        o: Outcome,
        genai: dict[str, Any],
        duration: float,
        exemplar: otel_context.Context,
    ) -> None:
        """One attempt's GenAI metrics. ``genai`` are its GenAI metric attributes (``error.type`` included when it
        failed); ``operation`` is one of ``_semconv.GENAI_OPERATIONS``."""
        usage = o.usage
        if operation in sc.EMBEDDINGS:
            self.embeddings_duration.record(duration, genai, context=exemplar)
            if usage is not None and usage.prompt is not None:  # only a reported count
                self.embeddings_input_tokens.record(usage.prompt, _without_error(genai))
            return
        self.duration.record(duration, genai, context=exemplar)
        points = _without_error(genai)
        first = o.first_token_at
        if first is not None:
            self.time_to_first_chunk.record(first - start, points, context=exemplar)
            if o.content_chunks > 1:
                self.time_per_output_chunk.record((o.end - first) / (o.content_chunks - 1), points)
        # Every inference records its token counts, failed ones included: what the provider reported, or 0 when no
        # usage came (the conventions' rule; never a guess), under modality "unknown" (the usage has no breakdown).
        if usage is not None:
            counts = (
                usage.prompt or 0,
                usage.completion or 0,
                usage.cached or 0,
                usage.cache_write or 0,
                usage.reasoning or 0,
            )
        else:
            counts = (0, 0, 0, 0, 0)
        self.operation_input_tokens.record(counts[0], genai)
        self.operation_output_tokens.record(counts[1], genai)
        self.usage.add((*points.items(), (n.GEN_AI_TOKEN_MODALITY, sc.MODALITY_UNKNOWN)), counts)

    def span_attributes(self, operation: str, start: float, o: Outcome, attrs: dict[str, Any]) -> None:
        """Add to a finished attempt's span attributes ``attrs`` what only the latest form sets."""
        if o.first_token_at is not None:
            attrs[n.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = o.first_token_at - start
        if o.usage is not None and o.usage.cache_write is not None:
            attrs[n.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = o.usage.cache_write
        if (
            operation in sc.INFERENCE
            and not o.finish_reasons
            and (o.status != a.STATUS_SUCCESS or o.stream_outcome in _UNFINISHED)
        ):
            attrs[n.GEN_AI_RESPONSE_FINISH_REASONS] = (sc.FINISH_REASON_ERROR,)


def _without_error(genai: dict[str, Any]) -> dict[str, Any]:
    if n.ERROR_TYPE not in genai:
        return genai
    return {key: value for key, value in genai.items() if key != n.ERROR_TYPE}


_BY_METER: Final[PerProvider[LatestGenAI]] = PerProvider()


def create_latest_genai(meter: Meter) -> LatestGenAI:
    """The latest form's instruments of ``meter``, created once per meter (a re-instrumentation reuses them)."""
    return _BY_METER.get(meter, lambda: LatestGenAI(meter))
