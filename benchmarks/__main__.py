"""``python -m benchmarks [--quick] [--only CASE ...]``: run the cases, print a table, write benchmarks/results.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import _setup, cases, exemplars, series
from benchmarks._report import evaluate, print_results

RESULTS = Path(__file__).with_name("results.json")
PACKAGES = (
    "otel-holysheep",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-instrumentation-httpx",
    "opentelemetry-instrumentation-requests",
    "opentelemetry-instrumentation-aiohttp-client",
    "opentelemetry-instrumentation-genai-openai",
    "opentelemetry-util-genai",
    "httpx",
    "httpcore",
    "httpx2",
    "httpcore2",
    "openai",
    "requests",
    "urllib3",
    "aiohttp",
)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": versions,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and iterations (a smoke run)")
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="run only these cases")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per case (default 9, 3 with --quick)")
    parser.add_argument("--scale", type=float, help="iterations multiplier (default 1, 0.2 with --quick)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args(argv)
    q = args.scale or (0.2 if args.quick else 1.0)
    rounds = args.rounds or (3 if args.quick else 9)
    selected = args.only or list(CASES)
    started = time.time()
    results: dict[str, Any] = {}
    with cases.providers() as p:
        # Touch the peers once so the official OpenAI instrumentation's availability is part of the machine record.
        _setup.official_openai(p)
        info = machine()
        for name in selected:
            print(f"... {name}", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            results[name] = CASES[name](p, rounds, q)
            results[name]["seconds"] = round(time.perf_counter() - t0, 1)
    report = {
        "machine": info,
        "quick": args.quick,
        "rounds": rounds,
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
        "cases": results,
    }
    report["targets"] = evaluate(results)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print_results(report)
    print(f"\nwritten {args.output}")
    return 0


def _scaled(n: int, q: float) -> int:
    return max(1, int(n * q))


# The cases that set a ratio target against a peer run three times the rounds, each a third as long: more pairs for
# the paired overhead (see cases._summary), the same running time.
CASES = {
    "httpx": lambda p, r, q: cases.per_request(p, "httpx", 3 * r, _scaled(700, q)),
    "httpx2": lambda p, r, q: cases.per_request(p, "httpx2", 3 * r, _scaled(700, q)),
    "decomposition": lambda p, r, q: cases.decomposition(p, r, _scaled(1000, q)),
    "settings": lambda p, r, q: cases.settings(p, 3 * r, _scaled(700, q)),
    "attribution": lambda p, r, q: cases.attribution(p, 15 * r, _scaled(150, q)),
    "optimisations": lambda p, r, q: cases.optimisations(p, r, _scaled(2000, q)),
    "openai": lambda p, r, q: cases.openai_sdk(p, 3 * r, _scaled(350, q)),
    "requests": lambda p, r, q: cases.requests_vs_httpx(p, 3 * r, _scaled(700, q)),
    "aiohttp": lambda p, r, q: cases.aiohttp_vs_httpx(p, r, _scaled(1000, q)),
    "not_gateway": lambda p, r, q: cases.not_gateway(p, r, _scaled(3000, q)),
    "streaming": lambda p, r, q: cases.streaming(p, max(3, r // 2), 100_000),
    "embeddings": lambda p, r, q: cases.embeddings(p, r, 2_000_000),
    "asyncio": lambda p, r, q: cases.concurrency(p, r, _scaled(6, q)),
    "series": lambda p, r, q: series.series_case(),
    "exemplars": lambda p, r, q: exemplars.exemplars_case(p, 3 * r, _scaled(700, q)),
}

if __name__ == "__main__":
    sys.exit(main())
