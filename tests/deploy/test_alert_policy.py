"""The alert policy (prometheus/README.md) on live data: an instrumented app (tests/deploy/apps/policy_app.py, under
opentelemetry-instrument, scraped every second) runs simulator scenarios against a real Prometheus loaded with the
shipped rules, with every time span in them shortened 30 times (5m -> 10s, 1h -> 120s, for: 10m -> 20s; the traffic
floors scaled with their windows), so a burn-rate page takes seconds instead of an hour.

The outage and the revoked key page and resolve; a single 403, a storm of cancellations and client errors, and a
rate-limit burst followed by idleness leave every page silent (the last leaves the headroom warning silent too,
until the model is called again while the limit is spent); answers cut off at max_tokens warn
(HolySheepTruncatedCompletionsHigh) while answers ending in tool calls or a content filter do not; and the app going
quiet while up fires HolySheepCallsStopped until it calls again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from engines import SHIPPED_RULE_FILES, PrometheusServer, find_binary, free_port, prometheus_config, start_prometheus
from otel_holysheep.demo.run import stop
from otel_holysheep.simulator import GatewaySimulator
from otel_holysheep.simulator.ratelimit import RateLimiter

pytestmark = [pytest.mark.engines, pytest.mark.slow]

APP = Path(__file__).parent / "apps" / "policy_app.py"
SCALE = 30  # every duration in the rules divided by this
CALLS_STOPPED_AFTER_S = 8  # holysheep:calls_stopped_after:seconds for the test (the shipped value is 1800)
TIMEOUT = 120.0  # generous: each condition below takes 5-30 s on an idle machine
PAGES = 'ALERTS{severity="page"}'

_DURATION = re.compile(r"(\d+)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _scaled(duration: str) -> str:
    seconds = sum(int(n) * _SECONDS[unit] for n, unit in _DURATION.findall(duration))
    assert seconds % SCALE == 0, f"{duration} does not divide by {SCALE}"
    return f"{seconds // SCALE}s"


def scaled_rules(tmp_path: Path) -> list[Path]:
    """The shipped rule files with every range, subquery, offset and for: divided by SCALE, the traffic floors'
    window lengths and the last-call latch's day with them, and the calls-stopped threshold set for the test."""
    out_dir = tmp_path / "rules"
    out_dir.mkdir()
    files = []
    counts = {"range": 0, "offset": 0, "for": 0, "floor": 0, "day": 0, "threshold": 0}

    def sub(kind: str, pattern: str, repl: str | Callable[[re.Match[str]], str], text: str) -> str:
        new, n = re.subn(pattern, repl, text, flags=re.MULTILINE)
        counts[kind] += n
        return new

    for src in SHIPPED_RULE_FILES:
        text = src.read_text()
        text = sub(
            "range",
            r"\[(\d+[smhd])(?::(\d+[smhd]))?\]",
            lambda m: f"[{_scaled(m[1])}" + (f":{_scaled(m[2])}" if m[2] else "") + "]",
            text,
        )
        text = sub("offset", r"offset (\d+[smhd])", lambda m: f"offset {_scaled(m[1])}", text)
        text = sub("for", r"^(\s*for:\s*)(\d+[smhd])\s*$", lambda m: m[1] + _scaled(m[2]), text)
        text = sub(
            "floor",
            r"(model:holysheep_(?:slo_requests|finishes):rate\w+ \* )(\d+)",
            lambda m: m[1] + str(int(m[2]) // SCALE),
            text,
        )
        text = sub("day", r"\(time\(\) - 86400\)", f"(time() - {86400 // SCALE})", text)
        text = sub("threshold", r"vector\(1800\)", f"vector({CALLS_STOPPED_AFTER_S})", text)
        dst = out_dir / src.name
        dst.write_text(text)
        files.append(dst)
    # the rules changed without this test: fail rather than test a half-scaled policy
    assert counts["floor"] == 6 and counts["day"] == 1 and counts["threshold"] == 1, counts
    assert counts["range"] > 20 and counts["offset"] == 1 and counts["for"] == 19, counts  # 15 app alerts, 4 pipeline
    return files


@dataclass
class PolicyApp:
    proc: subprocess.Popen[str]

    def send(self, verb: str, name: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{verb} {name}\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        done = {"start": "STARTED", "stop": "STOPPED", "run": "DONE"}[verb]
        assert answer == f"{done} {name}", f"{verb} {name}: {answer!r}"


@contextmanager
def policy_app(gateway: str, limited: str, port: int) -> Iterator[PolicyApp]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        {
            "GATEWAY_URL": gateway,
            "LIMITED_GATEWAY_URL": limited,
            "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": f"{gateway},{limited}",
            "OTEL_SERVICE_NAME": "policy-app",
            "OTEL_METRICS_EXPORTER": "prometheus",
            "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
            "OTEL_EXPORTER_PROMETHEUS_PORT": str(port),
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        }
    )
    command = [str(Path(sys.executable).with_name("opentelemetry-instrument")), sys.executable, str(APP)]
    proc = subprocess.Popen(
        command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "READY":
            proc.kill()
            pytest.fail(f"the policy app did not start: {line!r} {proc.communicate(timeout=10)[1]}")
        yield PolicyApp(proc)
    finally:
        stop(proc)


def ever(prom: PrometheusServer, selector: str) -> set[tuple[str, str, str]]:
    """The same for every evaluation of the last 10 minutes (Prometheus stores ALERTS at each evaluation)."""
    return {
        (s["metric"]["alertname"], s["metric"].get("model", ""), s["metric"]["alertstate"])
        for s in prom.query(f"last_over_time({selector}[10m])")
    }


def firing(alertname: str, model: str) -> str:
    return f'ALERTS{{alertname="{alertname}", model="{model}", alertstate="firing"}}'


def test_pages_fire_resolve_and_stay_silent_on_look_alikes(tmp_path: Path) -> None:
    if find_binary("prometheus") is None:
        pytest.skip("prometheus not found: `make test` fetches it with scripts/fetch-engines.sh")
    port = free_port()
    with GatewaySimulator() as sim, GatewaySimulator() as limited:
        # 10 requests per window, and a window longer than the test: the headroom the headers report only falls
        limited.limiter = RateLimiter(10, 2_000_000, window_s=3600)
        with (
            policy_app(sim.base_url, limited.base_url, port) as app,
            start_prometheus(
                prometheus_config({"holysheep-apps": [f"127.0.0.1:{port}"]}), scaled_rules(tmp_path), tmp_path
            ) as prom,
        ):
            assert isinstance(prom, PrometheusServer)
            prom.wait_for('up{job="holysheep-apps"} == 1', timeout=TIMEOUT)
            assert all(rule["health"] == "ok" for group in prom.rules() for rule in group["rules"])

            # Outages and look-alikes at once, each on its own model.
            for loop in ("outage", "revoked", "storm", "truncated", "agent"):
                app.send("start", loop)
            app.send("run", "single403")
            app.send("run", "burst")

            # the outage (50% 503s on gpt-4.1) and the revoked key (claude-sonnet-4) page
            prom.wait_for(firing("HolySheepErrorBudgetBurnFast", "gpt-4.1"), timeout=TIMEOUT)
            prom.wait_for(firing("HolySheepAuthFailures", "claude-sonnet-4"), timeout=TIMEOUT)
            # the single 403 warned, at once (for as long as it is recent: 5m, here 10s), and never pages
            prom.wait_for(
                f"last_over_time({firing('HolySheepAuthRejected', 'gemini-2.5-flash')}[10m])", timeout=TIMEOUT
            )
            # the rate-limit burst left 0 of 10 and the model has been idle since, for twice the alert's for: (10s
            # here): the stale reading does not warn (the gauge still says 0; the rule before this policy fired on it)
            mini = 'holysheep_requests_total{model="gpt-4.1-mini"}'
            prom.wait_for(
                'holysheep_ratelimit_remaining{model="gpt-4.1-mini", kind="requests"}',
                lambda r: [float(s["value"][1]) for s in r] == [0.0],
                timeout=TIMEOUT,
            )
            prom.wait_for(f"changes({mini}[20s]) == 0 and count_over_time({mini}[25s]) >= 20", timeout=TIMEOUT)
            assert not ever(prom, firing("HolySheepRateLimitHeadroomLow", "gpt-4.1-mini"))

            # the storm is a real look-alike: most of its requests "failed", all of them the app's own doing
            storm = prom.wait_for(
                'sum by (error_type) (holysheep_errors_total{model="deepseek-v3.2"})',
                lambda r: {s["metric"]["error_type"] for s in r} >= {"cancelled", "http_400", "http_422"},
                timeout=TIMEOUT,
            )
            assert storm
            naive = prom.query(
                'sum(rate(holysheep_errors_total{model="deepseek-v3.2"}[10s]))'
                ' / sum(rate(holysheep_requests_total{model="deepseek-v3.2"}[10s]))'
            )
            assert float(naive[0]["value"][1]) > 0.5, naive

            # half of gpt-4o's answers cut off at max_tokens warn (after for: 15m, here 30s); o4-mini's answers end in
            # tool calls and content filters, a real look-alike: many finishes that are not "stop", none "length"
            prom.wait_for(firing("HolySheepTruncatedCompletionsHigh", "gpt-4o"), timeout=TIMEOUT)
            agent = prom.wait_for(
                'sum by (finish_reason) (holysheep_finishes_total{model="o4-mini"})',
                lambda r: {s["metric"]["finish_reason"] for s in r} == {"tool_calls", "content_filter"},
                timeout=TIMEOUT,
            )
            assert agent
            prom.wait_for('holysheep_tool_calls_total{model="o4-mini"} > 0', timeout=TIMEOUT)
            app.send("stop", "truncated")
            app.send("stop", "agent")
            assert not ever(prom, 'ALERTS{model="o4-mini"}')

            # Recovery: the outage ends (successes only), the revoked key is replaced (its calls stop). Meanwhile
            # the spent limit is hit again: calls to gpt-4.1-mini while 0 of 10 is left warn.
            app.send("stop", "outage")
            app.send("start", "healthy")
            app.send("stop", "revoked")
            app.send("start", "trickle")
            prom.wait_for(PAGES, lambda r: not r, timeout=TIMEOUT)
            prom.wait_for(firing("HolySheepRateLimitHeadroomLow", "gpt-4.1-mini"), timeout=TIMEOUT)
            app.send("stop", "trickle")

            # Every page in the run: the two outages, nothing for the look-alikes (not even pending)
            pages = ever(prom, PAGES)
            assert {(name, model) for name, model, _ in pages} == {
                ("HolySheepErrorBudgetBurnFast", "gpt-4.1"),
                ("HolySheepAuthFailures", "claude-sonnet-4"),
            }, pages
            assert not ever(prom, 'ALERTS{model=~"deepseek-v3.2|gemini-2.5-flash", alertname!="HolySheepAuthRejected"}')
            # the headroom warning resolves once the model is idle again, the truncation warning once gpt-4o is
            prom.wait_for('ALERTS{alertname="HolySheepRateLimitHeadroomLow"}', lambda r: not r, timeout=TIMEOUT)
            prom.wait_for('ALERTS{alertname="HolySheepTruncatedCompletionsHigh"}', lambda r: not r, timeout=TIMEOUT)
            assert not ever(prom, 'ALERTS{model="o4-mini"}')

            # Calls stopped while the app is up: nothing before; every loop stopped, it fires; a call resolves it.
            assert not ever(prom, 'ALERTS{alertname="HolySheepCallsStopped"}')
            app.send("stop", "healthy")
            app.send("stop", "storm")
            stopped = prom.wait_for('ALERTS{alertname="HolySheepCallsStopped", alertstate="firing"}', timeout=TIMEOUT)
            assert [(s["metric"]["job"], s["metric"]["instance"]) for s in stopped] == [
                ("holysheep-apps", f"127.0.0.1:{port}")
            ]
            app.send("start", "healthy")
            prom.wait_for('ALERTS{alertname="HolySheepCallsStopped"}', lambda r: not r, timeout=TIMEOUT)
            app.send("stop", "healthy")
            assert all(rule["health"] == "ok" for group in prom.rules() for rule in group["rules"])
