"""Where each budget stands this month: month-to-date spend, the last day's pace, the projected month-end spend and
the share of the budget, as the rules of ``otel-holysheep rules --budgets`` compute them.

From Prometheus the numbers come from the raw ``holysheep_cost_usd_total`` (the rules need not be loaded): the
month-to-date spend is its increase since the 1st, 00:00 UTC, and the pace its increase over the last day. A /metrics
page holds totals since the process started: the spend since then is shown, and month-to-date and the projection are
stated as needing Prometheus.
"""

from __future__ import annotations

import calendar
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from ..budgets.spec import Budget, Budgets
from . import queries as q
from .sources import Labels, MetricsEndpointSource, PrometheusSource

DAY_S: Final = 86400.0


def current_time() -> float:
    """Now (a function of its own so that tests can fix the moment)."""
    return time.time()


ON_TRACK: Final = "on track"


@dataclass(frozen=True)
class Month:
    """The UTC calendar month around ``now``."""

    start: float
    end: float
    now: float

    @classmethod
    def around(cls, now: float) -> Month:
        moment = datetime.fromtimestamp(now, tz=UTC)
        first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        days = calendar.monthrange(moment.year, moment.month)[1]
        return cls(first.timestamp(), first.timestamp() + days * DAY_S, now)

    @property
    def elapsed_s(self) -> float:
        return self.now - self.start

    @property
    def remaining_s(self) -> float:
        return self.end - self.now

    def describe(self) -> str:
        moment = datetime.fromtimestamp(self.now, tz=UTC)
        days = round((self.end - self.start) / DAY_S)
        return f"{moment:%B %Y}, day {moment.day} of {days} (UTC)"


@dataclass(frozen=True)
class BudgetStatus:
    """One budget's numbers; ``None`` where the source cannot tell (a /metrics page has no month-to-date)."""

    budget: Budget
    month_to_date_usd: float | None
    pace_usd_per_day: float | None
    since_start_usd: float | None = None
    remaining_days: float = 0.0  # of the month, for the projection

    @property
    def projected_usd(self) -> float | None:
        if self.month_to_date_usd is None or self.pace_usd_per_day is None:
            return None
        return self.month_to_date_usd + self.pace_usd_per_day * self.remaining_days

    @property
    def projected_pct(self) -> float | None:
        projected = self.projected_usd
        return None if projected is None else projected / self.budget.monthly_usd * 100

    @property
    def remaining_usd(self) -> float | None:
        return None if self.month_to_date_usd is None else self.budget.monthly_usd - self.month_to_date_usd


@dataclass(frozen=True)
class BudgetReport:
    statuses: tuple[BudgetStatus, ...]
    budgets: Budgets
    month: Month
    source: str
    month_to_date_known: bool

    def status(self, row: BudgetStatus) -> str:
        """What the alerts say (or would say, for a source without month-to-date: nothing)."""
        mtd, pct = row.month_to_date_usd, row.projected_pct
        if mtd is None or pct is None:
            return "needs Prometheus"
        if mtd >= row.budget.monthly_usd:
            return "over budget"
        if pct < self.budgets.warn_at_pct:
            return ON_TRACK
        floor_met = self.month.elapsed_s >= self.budgets.min_elapsed_s and mtd >= row.budget.min_spend_usd
        if not floor_met:
            return f"projected {pct:.0f}%, below the alert floor"
        return "projected over budget" if pct >= self.budgets.page_at_pct else f"projected above {self.warn_label}"

    @property
    def warn_label(self) -> str:
        return f"{self.budgets.warn_at_pct:g}%"


def _value(samples: list[tuple[Labels, float]]) -> float:
    total = sum(value for _, value in samples if math.isfinite(value))
    return max(total, 0.0)


def prometheus_queries(budgets: Budgets, selector: str, month: Month) -> dict[str, tuple[str, str]]:
    """Per budget name: (month-to-date PromQL, last-day PromQL)."""
    window = f"{max(int(month.elapsed_s), 1)}s"
    return {
        b.name: (
            f"sum(increase({q.COST}{b.selector(selector or None)}[{window}]))",
            f"sum(increase({q.COST}{b.selector(selector or None)}[1d]))",
        )
        for b in budgets.budgets
    }


def from_prometheus(source: PrometheusSource, budgets: Budgets, now: float) -> BudgetReport:
    month = Month.around(now)
    remaining_days = month.remaining_s / DAY_S
    rows = []
    for budget in budgets.budgets:
        mtd_query, day_query = prometheus_queries(budgets, source.selector, month)[budget.name]
        # the pace is the last day's spend, as in the rules (early in the month it reaches back into the last one)
        mtd, pace = _value(source.query(mtd_query, now)), _value(source.query(day_query, now))
        rows.append(BudgetStatus(budget, mtd, pace, remaining_days=remaining_days))
    narrowed = f" {{{source.selector}}}" if source.selector else ""
    return BudgetReport(tuple(rows), budgets, month, f"from Prometheus at {source.url}{narrowed}", True)


def _matches(budget: Budget, labels: Labels) -> bool:
    return all(labels.get(key) == value for key, value in budget.matchers)


def from_samples(samples: Iterable[tuple[str, Labels, float]], budgets: Budgets, url: str, now: float) -> BudgetReport:
    costs = [(labels, value) for name, labels, value in samples if name == q.COST and math.isfinite(value)]
    rows = tuple(
        BudgetStatus(b, None, None, since_start_usd=sum(v for labels, v in costs if _matches(b, labels)))
        for b in budgets.budgets
    )
    return BudgetReport(rows, budgets, Month.around(now), f"since process start, from {url}", False)


def from_metrics(source: MetricsEndpointSource, budgets: Budgets, now: float) -> BudgetReport:
    return from_samples(source.samples(), budgets, source.url, now)
