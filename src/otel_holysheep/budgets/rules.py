"""Pure: the Prometheus recording and alert rules for a :class:`Budgets` file.

How the month is measured: PromQL has no calendar ranges, so ``holysheep:month_elapsed_seconds`` is computed from
``day_of_month()`` and ``time()`` (UTC), and the month-to-date spend adds up each budget's hourly increases at
whole-hour steps over the last 31 days (a subquery), keeping only the steps after the month began. The month start is
read with ``@ end()`` (the rule's evaluation time) inside the subquery, where ``time()`` is each step's own time.
So month-to-date counts up to the last whole hour; the projection carries on from there: month-to-date plus the last
day's average hourly spend times the hours left in the month (from that whole hour). Hourly steps keep every query
small: 744 samples per budget a month (promtool's unit tests allow 10,000 per query).
"""

from __future__ import annotations

from typing import Any, Final

import yaml

from .spec import Budget, Budgets, promql_duration

GROUP: Final = "holysheep-budgets"
COST: Final = "holysheep_cost_usd_total"
STEP: Final = "1h"  # the increase window and the subquery step: each hourly increase is counted once
ELAPSED: Final = "holysheep:month_elapsed_seconds"
REMAINING_S: Final = "holysheep:month_remaining_seconds"
START: Final = "holysheep:month_start_timestamp_seconds"
INCREASE: Final = "budget:holysheep_cost_usd:increase1h"
BUDGET_USD: Final = "budget:holysheep_budget_usd"
MIN_SPEND: Final = "budget:holysheep_min_spend_usd"
MTD: Final = "budget:holysheep_cost_usd:month_to_date"
RATE: Final = "budget:holysheep_cost_usd_per_second:rate1d"
PROJECTED: Final = "budget:holysheep_cost_usd:projected_month_end"
REMAINING: Final = "budget:holysheep_cost_usd:remaining"
RATIO: Final = "budget:holysheep_cost_usd:projected_ratio"
WARN_ALERT: Final = "HolySheepBudgetProjectedWarning"
PAGE_ALERT: Final = "HolySheepBudgetProjectedOverrun"
RUNBOOK: Final = "README.md#budgets-and-forecasts"
RECORDS: Final = (ELAPSED, REMAINING_S, START, INCREASE, BUDGET_USD, MIN_SPEND, MTD, RATE, PROJECTED, REMAINING, RATIO)


def _number(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


def budget_rules(budget: Budget, selector: str | None = None) -> list[dict[str, Any]]:
    """The three rules that are per budget: its 5-minute spend, its amount and its traffic floor."""
    return [
        {
            "record": INCREASE,
            "expr": f"sum(increase({COST}{budget.selector(selector)}[{STEP}])) or vector(0)",
            "labels": budget.labels,
        },
        {"record": BUDGET_USD, "expr": f"vector({_number(budget.monthly_usd)})", "labels": budget.labels},
        {"record": MIN_SPEND, "expr": f"vector({_number(budget.min_spend_usd)})", "labels": budget.labels},
    ]


def _floor(min_elapsed_s: float) -> str:
    """Forecast alerts need the month to be ``min_elapsed`` old and the spend above the budget's floor, unless the
    month-to-date spend has already reached the budget."""
    return (
        f"(\n    ({MTD} >= {MIN_SPEND} and on () {ELAPSED} >= {_number(min_elapsed_s)})\n"
        f"    or {MTD} >= {BUDGET_USD}\n  )"
    )


def rule_document(budgets: Budgets, selector: str | None = None) -> dict[str, Any]:
    """The rule file as a mapping (``groups:``), ready for YAML."""
    warn, page = budgets.warn_at_pct / 100, budgets.page_at_pct / 100
    elapsed = promql_duration(budgets.min_elapsed_s)
    calendar = [
        {"record": ELAPSED, "expr": "(day_of_month() - 1) * 86400 + vector(time() % 86400)"},
        {"record": REMAINING_S, "expr": f"days_in_month() * 86400 - {ELAPSED}"},
        {"record": START, "expr": f"vector(time()) - {ELAPSED}"},
    ]
    per_budget = [rule for budget in budgets.budgets for rule in budget_rules(budget, selector)]
    derived = [
        {
            "record": MTD,
            "expr": (
                f"sum_over_time(({INCREASE} and on () (vector(time()) > scalar({START} @ end())))[31d:{STEP}])\n"
                f"or {BUDGET_USD} * 0"
            ),
        },
        # the pace: the average of the last day's whole hours; until the rules have seen a whole hour (just after
        # they are loaded), the last hour's increase, so that there is a projection from the first evaluation
        {"record": RATE, "expr": f"avg_over_time({INCREASE}[1d:{STEP}]) / 3600\nor {INCREASE} / 3600"},
        {"record": PROJECTED, "expr": f"{MTD} + {RATE} * (scalar({REMAINING_S}) + time() % 3600)"},
        {"record": REMAINING, "expr": f"{BUDGET_USD} - {MTD}"},
        {"record": RATIO, "expr": f"{PROJECTED} / {BUDGET_USD}"},
    ]
    spend = "{{ $labels.budget }}"
    alerts = [
        {
            "alert": PAGE_ALERT,
            "expr": f"{RATIO} >= {_number(page)}\nand {_floor(budgets.min_elapsed_s)}",
            "for": "15m",
            "labels": {"severity": "page"},
            "annotations": {
                "summary": f"Budget {spend} is projected to reach {_number(budgets.page_at_pct)}% this month",
                "description": (
                    f"At the last day's pace, HolySheep spend for budget {spend} ends the month at "
                    "{{ $value | humanizePercentage }} of its monthly budget. Forecast alerts wait until the month is "
                    f"{elapsed} old and the spend is above the budget's min_spend_usd, unless the budget is already "
                    "spent."
                ),
                "runbook_url": RUNBOOK,
            },
        },
        {
            "alert": WARN_ALERT,
            "expr": f"{RATIO} >= {_number(warn)} < {_number(page)}\nand {_floor(budgets.min_elapsed_s)}",
            "for": "15m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": f"Budget {spend} is projected to reach {_number(budgets.warn_at_pct)}% this month",
                "description": (
                    f"At the last day's pace, HolySheep spend for budget {spend} ends the month at "
                    "{{ $value | humanizePercentage }} of its monthly budget. See otel-holysheep report --budgets for "
                    "the spend so far, and --what-if for what moving work to another model would save."
                ),
                "runbook_url": RUNBOOK,
            },
        },
    ]
    # One group, evaluated every minute whatever the global interval: the month-to-date sum needs a sample of the
    # hourly increase within the lookback of each whole hour, and later rules read earlier ones' results of the same
    # evaluation (a group's rules run in order).
    return {"groups": [{"name": GROUP, "interval": "1m", "rules": [*calendar, *per_budget, *derived, *alerts]}]}


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_rules(budgets: Budgets, selector: str | None = None, *, command: str = "") -> str:
    header = (
        f"# Generated by otel-holysheep rules from {budgets.source}{f' ({command})' if command else ''}.\n"
        "# Regenerate after editing the budgets file; load it with your other rule files (rule_files: in\n"
        "# prometheus.yml). Months are calendar months in UTC.\n"
    )
    body = yaml.dump(rule_document(budgets, selector), Dumper=_Dumper, sort_keys=False, width=120)
    return header + body
