"""Metric instruments: names, units, bucket advice, and the per-request cheap counting path.

Counters and gauges are *observable* instruments fed from in-process tallies: a request pays a dict update under a
lock instead of an SDK measurement (about 7 us each), and the SDK reads the tallies at collection time. Histograms
have no observable form and are recorded synchronously.

Instruments and tallies are kept per meter, so ``uninstrument()`` followed by ``instrument()`` with the same meter
provider continues the same cumulative series instead of registering callbacks twice (double counting).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Sequence
from typing import Any, Final

from opentelemetry.metrics import CallbackOptions, Histogram, Meter, Observation

from otel_holysheep import _names as n

# Bucket boundaries, fitted to the latencies LLM calls have (a week of gateway measurements: mean 0.6-2.1 s, P95
# 1.1-3.8 s per model; first tokens after about a third of that). Each classic bucket is one series per label set,
# so boundaries go where quantiles are read: in the "ladder" ranges below consecutive boundaries are never more
# than 10% apart (powers of 1.1 around 1.0, three significant digits), which bounds a quantile that falls there to
# within 10% of the exact (nearest-rank) value, however few requests there are. Outside them, coarse steps.
# fmt: off
DURATION_BUCKETS: Final = (
    0.1, 0.25, 0.5,
    # ladder 0.685 .. 6.55 s: where request P95s of chat models fall
    0.685, 0.753, 0.828, 0.91, 1.0, 1.1, 1.21, 1.33, 1.46, 1.6, 1.76, 1.93, 2.12, 2.33, 2.56, 2.81, 3.09, 3.39,
    3.72, 4.09, 4.49, 4.93, 5.42, 5.96, 6.55,
    10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)
TTFT_BUCKETS: Final = (
    0.05, 0.1,
    # ladder 0.184 .. 2.56 s: where time-to-first-token P95s fall
    0.184, 0.202, 0.222, 0.244, 0.268, 0.294, 0.323, 0.355, 0.39, 0.428, 0.47, 0.516, 0.567, 0.623, 0.685, 0.753,
    0.828, 0.91, 1.0, 1.1, 1.21, 1.33, 1.46, 1.6, 1.76, 1.93, 2.12, 2.33, 2.56,
    3.5, 5.0, 10.0, 30.0, 60.0,
)
# fmt: on
DURATION_LADDER: Final = (0.685, 6.55)
TTFT_LADDER: Final = (0.184, 2.56)
# Streams only: connection and gateway queueing before the stream starts.
HEADERS_BUCKETS: Final = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
# Read as a median (the dashboard's P50); chat models stream 20-200 tokens per second.
TOKENS_PER_SECOND_BUCKETS: Final = (10.0, 25.0, 50.0, 100.0, 200.0, 400.0)
# retry-after-ms values are often below a second; retry-after seconds up to a minute.
RETRY_AFTER_BUCKETS: Final = (0.5, 1.0, 2.0, 5.0, 15.0, 60.0)
# GenAI semantic conventions' advised boundaries.
GENAI_DURATION_BUCKETS: Final = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
GENAI_TOKEN_BUCKETS: Final = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)


class Tally:
    """Thread-safe cumulative sums keyed by label-value tuples, read by an observable instrument's callback."""

    __slots__ = ("_labels", "_lock", "_values")

    def __init__(self, labels: Sequence[str]) -> None:
        self._labels = tuple(labels)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    def relabel(self, labels: Sequence[str]) -> None:
        """New label names (a re-instrumentation with other attribution labels): the old series end."""
        with self._lock:
            if tuple(labels) != self._labels:
                self._labels = tuple(labels)
                self._values.clear()

    def add(self, key: tuple[str, ...], amount: float = 1) -> None:
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def set(self, key: tuple[str, ...], value: float) -> None:
        self._values[key] = value  # last value wins; a single dict store is atomic

    def value(self, key: tuple[str, ...]) -> float:
        return self._values.get(key, 0)

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            items = list(self._values.items())
            labels = self._labels
        # A key of another length is from a request begun before a relabel: skipped, never a failed collection.
        width = len(labels)
        return [Observation(value, dict(zip(labels, key, strict=True))) for key, value in items if len(key) == width]


class Telemetry:
    """All instruments for one meter. ``attribution`` are the attribution label names (``_attribution``) that the
    request, error, token and cost counters carry after their own labels; none by default."""

    def __init__(self, meter: Meter, attribution: tuple[str, ...] = ()) -> None:
        self.requests = Tally(("model", "endpoint", "status", *attribution))
        self.errors = Tally(("model", "error_type", *attribution))
        self.tokens = Tally(("model", "token_type", *attribution))
        self.active = Tally(("model",))
        self.stream_outcomes = Tally(("model", "outcome"))
        self.usage_missing = Tally(("model",))
        self.cost = Tally(("model", *attribution))
        self.unpriced_tokens = Tally(("model",))
        self.cache_savings = Tally(("model",))
        self.retries = Tally(("model", "reason"))
        self.ratelimit_remaining = Tally(("model", "kind"))
        self.ratelimit_limit = Tally(("model", "kind"))

        counters = (
            (n.REQUESTS, self.requests, "{request}", "HTTP attempts to the gateway by model, endpoint and status"),
            (n.ERRORS, self.errors, "{error}", "Unsuccessful attempts by error type"),
            (
                n.TOKENS,
                self.tokens,
                "{token}",
                "Provider-reported tokens by type (prompt, completion, cached, reasoning)",
            ),
            (n.STREAM_OUTCOMES, self.stream_outcomes, "{stream}", "Streams by how they ended"),
            (n.USAGE_MISSING, self.usage_missing, "{response}", "Successful responses that reported no usage"),
            (n.COST, self.cost, "{USD}", "Cost in USD from provider-reported usage and the price book"),
            (n.UNPRICED_TOKENS, self.unpriced_tokens, "{token}", "Tokens of models without a price"),
            (n.CACHE_SAVINGS, self.cache_savings, "{USD}", "USD saved by cached input against the input price"),
            (n.RETRIES, self.retries, "{retry}", "Retried attempts by the previous attempt's failure class"),
        )
        for name, tally, unit, description in counters:
            meter.create_observable_counter(name, callbacks=[tally.observe], unit=unit, description=description)
        meter.create_observable_up_down_counter(
            n.ACTIVE_REQUESTS,
            callbacks=[self.active.observe],
            unit="{request}",
            description="Requests in flight: sent and not yet fully read",
        )
        meter.create_observable_gauge(
            n.RATELIMIT_REMAINING,
            callbacks=[self.ratelimit_remaining.observe],
            unit="{1}",
            description="Last x-ratelimit-remaining-* header value (kind = requests | tokens)",
        )
        meter.create_observable_gauge(
            n.RATELIMIT_LIMIT,
            callbacks=[self.ratelimit_limit.observe],
            unit="{1}",
            description="Last x-ratelimit-limit-* header value (kind = requests | tokens)",
        )

        self.duration = _histogram(
            meter,
            n.REQUEST_DURATION,
            "s",
            DURATION_BUCKETS,
            "Request start to the last byte of the body (a stream's end)",
        )
        self.time_to_headers = _histogram(
            meter,
            n.TIME_TO_HEADERS,
            "s",
            HEADERS_BUCKETS,
            "Request start until the response headers arrived (streamed responses, unless configured for all)",
        )
        self.time_to_first_token = _histogram(
            meter,
            n.TIME_TO_FIRST_TOKEN,
            "s",
            TTFT_BUCKETS,
            "Streams: request start until the first chunk carrying content",
        )
        self.output_tokens_per_second = _histogram(
            meter,
            n.OUTPUT_TOKENS_PER_SECOND,
            "{token}/s",
            TOKENS_PER_SECOND_BUCKETS,
            "Streams: completion tokens per second after the first token",
        )
        self.retry_after = _histogram(
            meter,
            n.RETRY_AFTER,
            "s",
            RETRY_AFTER_BUCKETS,
            "Advised wait (retry-after) on rate-limited or unavailable responses",
        )
        self.genai_duration = _histogram(
            meter, n.GEN_AI_CLIENT_OPERATION_DURATION, "s", GENAI_DURATION_BUCKETS, "GenAI operation duration"
        )
        self.genai_tokens = _histogram(
            meter, n.GEN_AI_CLIENT_TOKEN_USAGE, "{token}", GENAI_TOKEN_BUCKETS, "Number of input and output tokens used"
        )
        self.genai_ttfc = _histogram(
            meter,
            n.GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK,
            "s",
            GENAI_DURATION_BUCKETS,
            "Time to receive the first chunk of a streamed response",
        )
        self.genai_time_per_chunk = _histogram(
            meter,
            n.GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK,
            "s",
            GENAI_DURATION_BUCKETS,
            "Time between consecutive output chunks of a streamed response",
        )

    @property
    def attribution(self) -> tuple[str, ...]:
        return self.cost.labels[1:]

    def set_attribution(self, attribution: tuple[str, ...]) -> None:
        for tally, own in ((self.requests, 3), (self.errors, 2), (self.tokens, 2), (self.cost, 1)):
            tally.relabel((*tally.labels[:own], *attribution))


def _histogram(meter: Meter, name: str, unit: str, buckets: Sequence[float], description: str) -> Histogram:
    return meter.create_histogram(
        name, unit=unit, description=description, explicit_bucket_boundaries_advisory=list(buckets)
    )


_BY_METER: weakref.WeakKeyDictionary[Any, Telemetry] = weakref.WeakKeyDictionary()
_BY_METER_LOCK = threading.Lock()


def create_telemetry(meter: Meter, attribution: tuple[str, ...] = ()) -> Telemetry:
    """The :class:`Telemetry` of ``meter``, created once per meter (its attributed counters relabelled when the
    attribution labels changed since)."""
    with _BY_METER_LOCK:
        try:
            telemetry = _BY_METER[meter]
        except KeyError:
            telemetry = Telemetry(meter, attribution)
            _BY_METER[meter] = telemetry
            return telemetry
        except TypeError:  # a meter that cannot be weakly referenced: no reuse, but still correct once
            return Telemetry(meter, attribution)
        if telemetry.attribution != attribution:
            telemetry.set_attribution(attribution)
        return telemetry
