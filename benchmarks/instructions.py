"""``python -m benchmarks.instructions [SCENARIO ...]``: CPU instructions per request, counted by valgrind.

The timed cases measure CPU time, which on a shared 2-core VM moves by several microseconds between identical
variants (the A/A control of the ``attribution`` case shows it). Instruction counts do not: valgrind's cachegrind
counts every instruction the process executes, so the same code gives the same count to within a few hundred
instructions per request. This complements (never replaces) the timed targets for the two comparisons that noise
cannot settle: what attribution adds to a web request, and what our requests adapter costs against our httpx one.

Each figure is ``(count(N + EXTRA) - count(N)) / EXTRA`` for one variant in its own process: start-up, imports and
warm-up cancel out. The measured loop runs with the cyclic GC frozen and off (its collections land at different
requests in different variants: a whole collection in one run and not the other moves a per-request figure by
thousands) and spans go through a SimpleSpanProcessor to a dropping exporter (a batch processor's worker thread
wakes on a timer, which would differ between runs). So the figures are the instructions of the request path itself.
Needs ``valgrind`` on PATH; each scenario takes about a minute per variant.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WARMUP = 200
BASE_REQUESTS = 300
EXTRA_REQUESTS = 2000
SCENARIOS: dict[str, tuple[str, ...]] = {
    # web request with the server span current / under a child span: defaults, then attribution on
    "attribution-server": ("defaults", "attribution"),
    "attribution-child": ("defaults", "attribution"),
    # the same JSON chat completion through each library, plain and instrumented
    "requests-vs-httpx": ("requests plain", "requests otel-holysheep", "httpx plain", "httpx otel-holysheep"),
    # the JSON chat completion through httpx with the gen_ai.* metrics on: the v1.41 form, then the latest
    # (OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental)
    "genai-forms": ("gen_ai v1.41", "gen_ai latest"),
}
GENAI_FORMS_ENV: dict[str, dict[str, str]] = {
    "gen_ai v1.41": {"OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS": "true", "OTEL_SEMCONV_STABILITY_OPT_IN": ""},
    "gen_ai latest": {
        "OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS": "true",
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
    },
}
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def _workload(scenario: str, variant: str) -> tuple[Callable[[int], None], Any]:
    """The loop to count and the instrumentation context it runs in (entered by the caller)."""
    from contextlib import nullcontext  # noqa: PLC0415

    import httpx  # noqa: PLC0415
    from opentelemetry.sdk.trace import export  # noqa: PLC0415

    from benchmarks import _fakes as f  # noqa: PLC0415
    from benchmarks import _setup as s  # noqa: PLC0415
    from benchmarks import cases  # noqa: PLC0415

    s.BatchSpanProcessor = export.SimpleSpanProcessor  # type: ignore[attr-defined,assignment]  # no timer-driven worker thread
    p = s.Providers()
    if scenario.startswith("attribution"):
        client = httpx.Client(transport=f.transport("httpx", f.chat_json()))
        run = cases.web_requests(p.tracer_provider.get_tracer("bench-app"), client, scenario.endswith("child"))
        env = cases.ATTRIBUTION_ENV if variant == "attribution" else {}
        return run, cases._env_instrumented(p, **env)()

    if scenario == "genai-forms":
        run = cases.chat_requests(httpx.Client(transport=f.transport("httpx", f.chat_json())), "content")
        return run, cases._env_instrumented(p, **GENAI_FORMS_ENV[variant])()

    library, _, setup = variant.partition(" ")
    if library == "requests":
        run = cases.chat_requests(f.requests_session(f.chat_json()), "data")
    else:
        run = cases.chat_requests(httpx.Client(transport=f.transport("httpx", f.chat_json())), "content")
    return run, (s.holysheep(p)() if setup == "otel-holysheep" else nullcontext())


def _count_one(scenario: str, variant: str, requests: int) -> None:
    """Child process: warm up, then run ``requests`` requests with the GC frozen and off."""
    run, instrumented = _workload(scenario, variant)
    with instrumented:
        run(WARMUP)
        gc.collect()
        gc.freeze()
        gc.disable()
        run(requests)


def _instructions(scenario: str, variant: str, requests: int) -> int:
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--count-one",
        scenario,
        variant,
        str(requests),
    ]
    env = dict(os.environ, PYTHONHASHSEED="0")
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    found = _REFS.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{scenario} / {variant}: valgrind run failed:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def per_request(scenario: str, variant: str) -> float:
    base = _instructions(scenario, variant, BASE_REQUESTS)
    more = _instructions(scenario, variant, BASE_REQUESTS + EXTRA_REQUESTS)
    return (more - base) / EXTRA_REQUESTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__.splitlines()[0])
    known = ", ".join(SCENARIOS)
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"any of {known} (default: all)")
    parser.add_argument("--count-one", nargs=3, metavar=("SCENARIO", "VARIANT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.count_one:
        scenario, variant, requests = args.count_one
        _count_one(scenario, variant, int(requests))
        return 0
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; known: {known}")
    if shutil.which("valgrind") is None:
        print("valgrind is not on PATH (Debian/Ubuntu: apt-get install valgrind); nothing counted", file=sys.stderr)
        return 2
    for scenario in args.scenarios or list(SCENARIOS):
        counts = {variant: per_request(scenario, variant) for variant in SCENARIOS[scenario]}
        print(f"{scenario}: instructions per request")
        for variant, count in counts.items():
            print(f"  {variant:<26} {count:12,.0f}")
        if scenario.startswith("attribution"):
            added = counts["attribution"] - counts["defaults"]
            print(f"  attribution adds {added:,.0f} ({added / counts['defaults']:.2%} of the request)")
        elif scenario == "genai-forms":
            added = counts["gen_ai latest"] - counts["gen_ai v1.41"]
            print(f"  the latest form adds {added:,.0f} ({added / counts['gen_ai v1.41']:.2%} of the request)")
        else:
            ours = counts["requests otel-holysheep"] - counts["requests plain"]
            httpx_ours = counts["httpx otel-holysheep"] - counts["httpx plain"]
            plain_ratio = counts["requests plain"] / counts["httpx plain"]
            print(
                f"  our overhead: requests {ours:,.0f}, httpx {httpx_ours:,.0f} (ratio {ours / httpx_ours:.2f}); "
                f"plain requests is {plain_ratio:.2f}x plain httpx"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
