"""What-if repricing: the observed token mix of each model (or route, team) priced at every model of the price book.

Pure, no I/O. The assumption is stated in every output (``ASSUMPTION``): another model would have been sent the same
requests and used the same token counts (input, cached input, output). Each candidate's latency, success and
truncation are its *own* observed numbers, from the requests it actually served, never estimates; a candidate that
served nothing shows "not observed", and a bound the user sets cannot be shown to hold for it, so it is never
recommended under that bound.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .._pricing import PER_TOKENS, Price, PriceBook
from .errors import ReportError

ASSUMPTION = (
    "Assumes the same requests with the same token counts (input, cached input, output) on the other model; "
    "latency, success and truncation are each candidate's own observed numbers over the same period."
)
NOT_OBSERVED = "not observed"


@dataclass(frozen=True)
class TokenMix:
    """Provider-reported tokens of one group: ``input`` includes ``cached`` (as ``prompt`` does)."""

    input: float = 0.0
    cached: float = 0.0
    output: float = 0.0

    @property
    def uncached(self) -> float:
        return max(self.input - min(self.cached, self.input), 0.0)

    def priced_at(self, price: Price) -> float:
        """USD for these tokens at ``price`` (cached input at the cached price), as the instrumentation prices."""
        cached = min(max(self.cached, 0.0), max(self.input, 0.0))
        usd = self.uncached * price.input + cached * price.cached_input + max(self.output, 0.0) * price.output
        return usd / PER_TOKENS

    def plus(self, other: TokenMix) -> TokenMix:
        return TokenMix(self.input + other.input, self.cached + other.cached, self.output + other.output)


@dataclass(frozen=True)
class Observed:
    """A model's own observed service: ``None`` where the data has no such number."""

    requests: float = 0.0
    p95_latency_s: float | None = None
    p95_ttft_s: float | None = None
    success_rate_pct: float | None = None
    truncation_rate_pct: float | None = None


@dataclass(frozen=True)
class Bounds:
    """What the user accepts: ``None`` means no bound on that number."""

    max_p95_s: float | None = None
    max_ttft_s: float | None = None
    min_success_pct: float | None = None
    max_truncation_pct: float | None = None

    @property
    def any(self) -> bool:
        limits = (self.max_p95_s, self.max_ttft_s, self.min_success_pct, self.max_truncation_pct)
        return any(v is not None for v in limits)

    def describe(self) -> str:
        parts = []
        if self.max_p95_s is not None:
            parts.append(f"P95 latency <= {self.max_p95_s:g} s")
        if self.max_ttft_s is not None:
            parts.append(f"P95 TTFT <= {self.max_ttft_s:g} s")
        if self.min_success_pct is not None:
            parts.append(f"success >= {self.min_success_pct:g}%")
        if self.max_truncation_pct is not None:
            parts.append(f"truncation <= {self.max_truncation_pct:g}%")
        return ", ".join(parts) if parts else "none"

    def violations(self, seen: Observed) -> tuple[str, ...]:
        """Why a candidate is out of bounds (empty: within them). A bound on a number not observed is a violation."""
        out: list[str] = []
        checks = (
            ("P95 latency", seen.p95_latency_s, self.max_p95_s, False),
            ("P95 TTFT", seen.p95_ttft_s, self.max_ttft_s, False),
            ("success", seen.success_rate_pct, self.min_success_pct, True),
            ("truncation", seen.truncation_rate_pct, self.max_truncation_pct, False),
        )
        for name, value, bound, at_least in checks:
            if bound is None:
                continue
            if value is None:
                out.append(f"{name} {NOT_OBSERVED}")
            elif (value < bound) if at_least else (value > bound):
                out.append(f"{name} {'below' if at_least else 'above'} bound")
        return tuple(out)


@dataclass(frozen=True)
class Candidate:
    model: str  # a price book model
    cost_usd: float  # the group's tokens at this model's prices
    saving_usd: float | None  # against the group's observed cost (None when that is unknown)
    saving_pct: float | None
    observed: Observed
    violations: tuple[str, ...]
    is_current: bool  # the group's own model (per-model what-if only)

    @property
    def within_bounds(self) -> bool:
        return not self.violations


@dataclass(frozen=True)
class GroupWhatIf:
    labels: tuple[str, ...]  # values of the report's ``by`` labels
    requests: float
    tokens: TokenMix
    observed_cost_usd: float | None  # what the cost counter recorded (None: no price for its tokens)
    candidates: tuple[Candidate, ...]  # cheapest first
    recommended: Candidate | None  # the cheapest within bounds

    @property
    def name(self) -> str:
        return ", ".join(self.labels)


@dataclass(frozen=True)
class WhatIf:
    by: tuple[str, ...]
    bounds: Bounds
    groups: tuple[GroupWhatIf, ...]
    price_book: str  # its version
    assumption: str = ASSUMPTION
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def total_observed_usd(self) -> float:
        return sum(g.observed_cost_usd or 0.0 for g in self.groups if g.recommended and g.observed_cost_usd)

    @property
    def total_saving_usd(self) -> float:
        return sum(g.recommended.saving_usd or 0.0 for g in self.groups if g.recommended is not None)


def candidate_stats(book: PriceBook, per_model: Mapping[str, Observed]) -> dict[str, Observed]:
    """Each price book model's own observed numbers: from the observed model label that resolves to it (dated or
    prefixed names included); where several do, the one with the most requests."""
    out: dict[str, Observed] = {}
    for label, seen in per_model.items():
        found = book.lookup(label)
        if found is None:
            continue
        base = found[0]
        if base not in out or seen.requests > out[base].requests:
            out[base] = seen
    return out


def reprice(
    groups: Mapping[tuple[str, ...], tuple[float, TokenMix, float | None]],
    per_model: Mapping[str, Observed],
    book: PriceBook,
    bounds: Bounds,
    by: tuple[str, ...] = ("model",),
    notes: Iterable[str] = (),
) -> WhatIf:
    """``groups`` maps the ``by`` labels' values -> (requests, tokens, observed cost); ``per_model`` maps observed
    model labels -> their own numbers. Groups without tokens are left out (nothing to reprice)."""
    stats = candidate_stats(book, per_model)
    out: list[GroupWhatIf] = []
    per_model_rows = by == ("model",)
    for labels, (requests, tokens, observed_cost) in groups.items():
        if tokens.input + tokens.output <= 0:
            continue
        found = book.lookup(labels[0]) if per_model_rows else None
        own = found[0] if found else None
        candidates = []
        for model, price in sorted(book.models.items()):
            cost = tokens.priced_at(price)
            seen = stats.get(model, Observed())
            saving = None if observed_cost is None else observed_cost - cost
            pct = None if saving is None or not observed_cost else saving / observed_cost * 100
            candidates.append(Candidate(model, cost, saving, pct, seen, bounds.violations(seen), model == own))
        candidates.sort(key=lambda c: (c.cost_usd, c.model))
        recommended = next((c for c in candidates if c.within_bounds), None)
        out.append(GroupWhatIf(labels, requests, tokens, observed_cost, tuple(candidates), recommended))
    out.sort(key=lambda g: (-(g.observed_cost_usd or 0.0), -g.requests, g.labels))
    return WhatIf(by=by, bounds=bounds, groups=tuple(out), price_book=book.version, notes=tuple(notes))


# --- parsing the bounds the user gives -------------------------------------------------------------------------------
_SECONDS = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*")
_PERCENT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(%)?\s*")


def parse_seconds(text: str | None, option: str) -> float | None:
    """``2s``, ``1500ms``, ``1.5`` (seconds) or ``1m``."""
    if text is None:
        return None
    match = _SECONDS.fullmatch(text)
    if match is None:
        raise ReportError(f"invalid {option} {text!r}: use a duration such as 2s, 1500ms or 1.5")
    value = float(match.group(1)) * {"ms": 0.001, "m": 60.0}.get(match.group(2) or "s", 1.0)
    if value <= 0:
        raise ReportError(f"invalid {option} {text!r}: it must be above zero")
    return value


def parse_percent(text: str | None, option: str) -> float | None:
    """``99%`` or ``99`` (percent, 0 to 100)."""
    if text is None:
        return None
    match = _PERCENT.fullmatch(text)
    if match is None or not 0 <= float(match.group(1)) <= 100:
        raise ReportError(f"invalid {option} {text!r}: use a percentage from 0 to 100, such as 99%")
    return float(match.group(1))
