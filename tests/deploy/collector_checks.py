"""Checks the push-path end-to-end tests share: totals in a store equal what the apps counted, every dashboard query
answers, every rule is healthy."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import yaml

from engines import SHIPPED_RULE_FILES, EngineError, EngineServer, PrometheusServer, dashboard_queries

EXPECTED_SPAN_NAMES = frozenset(
    f"chat {m}" for m in ("gpt-4.1", "claude-sonnet-4", "gemini-2.5-flash", "deepseek-v3.2")
)


def by_labels(result: list[dict[str, Any]], *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(r["metric"].get(label, "") for label in labels): float(r["value"][1]) for r in result}


def wait_for_totals(
    store: EngineServer, selector: str, requests: Mapping[str, int], tokens: Mapping[str, int], timeout: float = 60
) -> None:
    """Wait until per-model request totals and per-model/token-type token totals in ``store`` equal the apps' counts
    (``requests``: model -> attempts; ``tokens``: "model/token_type" -> tokens); fail with both sides shown."""
    want_requests = {(m,): float(n) for m, n in requests.items()}
    want_tokens = {tuple(k.split("/")): float(v) for k, v in tokens.items()}
    try:
        store.wait_for(
            f"sum by (model) (holysheep_requests_total{selector})",
            lambda r: by_labels(r, "model") == want_requests,
            timeout=timeout,
        )
        store.wait_for(
            f"sum by (model, token_type) (holysheep_tokens_total{selector})",
            lambda r: by_labels(r, "model", "token_type") == want_tokens,
            timeout=timeout,
        )
    except EngineError as exc:
        raise EngineError(f"{exc}; wanted requests {want_requests}, tokens {want_tokens}") from None


def recording_rules(*, attributed: bool = False, standalone: bool = False) -> dict[str, str]:
    """Every shipped recording rule: recorded name -> expression. Rules that only select attributed series (a
    ``team!=""`` matcher: they answer only when the apps set OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION) are left out
    unless ``attributed``: with default settings they rightly have no data. ``standalone``: every other recorded
    series an expression reads is replaced by its own expression, so it answers on a store that evaluates no rules
    (a rule that reads its own last value keeps that reference: it is the carried-over part)."""
    rules = {
        rule["record"]: rule["expr"]
        for path in SHIPPED_RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }

    def expand(name: str, expr: str) -> str:
        for other, other_expr in rules.items():
            reference = re.compile(rf"(?<![\w:]){re.escape(other)}(?![\w:])")
            if other != name and reference.search(expr):
                expr = reference.sub(f"({expand(other, other_expr).strip()})".replace("\\", "\\\\"), expr)
        return expr

    return {
        name: expand(name, expr) if standalone else expr
        for name, expr in rules.items()
        if attributed or 'team!=""' not in expr
    }


def check_dashboard_and_rules(prom: PrometheusServer | EngineServer, timeout: float = 30) -> None:
    """Every dashboard panel's query returns data; every recording and alerting rule evaluates without error."""
    for query in dashboard_queries(rate_interval="30s", range_="5m"):
        assert prom.wait_for(query.expr, timeout=timeout), f"{query.panel}: no data for {query.expr}"
    if isinstance(prom, PrometheusServer):
        rules = [rule for group in prom.rules() for rule in group["rules"]]
        assert rules
        bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
        assert not bad, bad


@contextmanager
def in_background(work: Callable[[int], Any], threads: int = 2) -> Iterator[list[Any]]:
    """Run ``work(n)`` over and over in ``threads`` threads until the block ends; yields the list of results (and
    re-raises the first exception after the block)."""
    stop = threading.Event()
    results: list[Any] = []
    errors: list[BaseException] = []
    counter = iter(range(10**9))
    lock = threading.Lock()

    def loop() -> None:
        while not stop.is_set():
            with lock:
                n = next(counter)
            try:
                out = work(n)
            except BaseException as exc:
                errors.append(exc)
                return
            with lock:
                results.append(out)

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    try:
        yield results
    finally:
        stop.set()
        for w in workers:
            w.join(120)
    if errors:
        raise errors[0]


def drive_and_check(
    store: EngineServer, sim: Any, env: Mapping[str, str], *, selector: str, tag: str, check_rules: bool = True
) -> tuple[Counter[str], Counter[str]]:
    """Run the traffic app with ``env`` until every dashboard query answers in ``store`` (and every rule is healthy),
    finish it, and wait until the store's totals equal the app's counts. Returns (attempts per model, tokens)."""
    from instrumented_apps import traffic_app
    from traffic import attempts

    with traffic_app(env) as app:
        store.wait_for("sum(increase(holysheep_requests_total[1m])) > 50", timeout=60)
        if check_rules:
            check_dashboard_and_rules(store)
        tokens = app.finish()
    sent = attempts(sim.requests, tag)
    wait_for_totals(store, selector, sent, tokens)
    return sent, tokens


COUNTERS = '{__name__=~"holysheep_.+(_total|_bucket|_count|_sum)"}'


@dataclass(frozen=True)
class Resets:
    series: int  # counter series (holysheep_*_total, and the histograms' _bucket/_count/_sum) in the window
    total: float  # resets() summed over all of them
    where: dict[str, float]  # the series that were reset, with how often


def counter_resets(prom: EngineServer, window: str) -> Resets:
    """How often any holysheep_* counter went down within ``window`` (each drop is a reset to rate()). One query per
    metric name: range functions drop the name, and series of two names could then collide."""
    names = prom.get_json("/api/v1/label/__name__/values", {"match[]": COUNTERS})["data"]
    series = 0
    where: dict[str, float] = {}
    for name in names:
        series += sum(int(float(r["value"][1])) for r in prom.query(f"count(count_over_time({name}[{window}]))"))
        for r in prom.query(f"resets({name}[{window}]) > 0"):
            where[f"{name}{r['metric']}"] = float(r["value"][1])
    return Resets(series=series, total=sum(where.values()), where=where)


def wait_for_alert(
    prom: PrometheusServer, name: str, labels: Mapping[str, str], *, firing: bool = True, timeout: float = 60
) -> dict[str, Any]:
    """Wait until alert ``name`` with ``labels`` is firing (or, with ``firing=False``, no longer active); return it."""
    deadline = time.monotonic() + timeout
    while True:
        matching = [
            a
            for a in prom.alerts()
            if a["labels"].get("alertname") == name and all(a["labels"].get(k) == v for k, v in labels.items())
        ]
        active = [a for a in matching if a.get("state") == "firing"]
        if firing and active:
            return active[0]
        if not firing and not matching:
            return {}
        if time.monotonic() > deadline:
            state = "firing" if firing else "resolved"
            raise AssertionError(f"{name}{dict(labels)} not {state} after {timeout} s; alerts: {prom.alerts()}")
        time.sleep(0.5)


def report(title: str, **counts: object) -> None:
    """One line in the test output (pytest -s, or the captured output of a failure): what was sent and received."""
    print(f"\n[{title}] " + ", ".join(f"{k}={v}" for k, v in counts.items()), flush=True)


def add_tokens(into: Counter[str], more: Mapping[str, int]) -> None:
    into.update({k: int(v) for k, v in more.items()})
