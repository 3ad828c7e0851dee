"""``make demo`` / ``otel-holysheep demo``: the whole product end to end on one machine, no API key, no internet.

1. starts the gateway simulator (a separate process, the demo profile: the tutorial's latencies, visible errors);
2. runs the workload app under ``opentelemetry-instrument`` with the Prometheus exporter: zero code change;
3. shows progress, then prints the per-model report read from the app's ``/metrics``, beside the profile;
4. writes the same report as one self-contained HTML page (``--page``) and says where it is;
5. stops everything it started and exits 0.

``--live`` sends a small, stated number of requests to the real gateway instead (needs ``HOLYSHEEP_API_KEY``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from otel_holysheep.simulator import Profile

PROFILE = Path(__file__).with_name("demo-profile.yaml")
LIVE_URL = "https://api.holysheep.ai/v1"
LIVE_BUDGET = 8  # requests: two per model, max_tokens 16 each
# The workload `make demo` runs (tests/demo/test_report_accuracy.py replays it in process).
REQUESTS = 240
CONCURRENCY = 32
TIME_SCALE = 1.0  # the tutorial's measured latencies: the histograms' buckets are fitted to them
SEED = 7
DEFAULT_PAGE = Path(tempfile.gettempdir()) / "otel-holysheep-demo.html"


def default_timeout(time_scale: float) -> float:
    """The client timeout: far above every simulated latency, short enough that a stalled request ends soon."""
    return 10.0 * time_scale


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_simulator(time_scale: float, seed: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "otel_holysheep.simulator",
            "--port",
            "0",
            "--profile",
            str(PROFILE),
            "--time-scale",
            str(time_scale),
            "--seed",
            str(seed),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on " not in line:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise SystemExit(f"otel-holysheep demo: the gateway simulator did not start: {line.strip()} {err.strip()}")
    return proc, line.split("listening on ", 1)[1].split()[0]


def instrument_command() -> list[str]:
    found = Path(sys.executable).with_name("opentelemetry-instrument")
    return [str(found)] if found.exists() else [shutil.which("opentelemetry-instrument") or "opentelemetry-instrument"]


def start_workload(base_url: str, metrics_port: int, args: argparse.Namespace) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        {
            "OTEL_SERVICE_NAME": "holysheep-demo",
            "OTEL_METRICS_EXPORTER": "prometheus",
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
            "OTEL_EXPORTER_PROMETHEUS_PORT": str(metrics_port),
            "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": base_url,
        }
    )
    if not args.live:
        env.pop("HOLYSHEEP_API_KEY", None)  # the simulator accepts any key; never send a real one there
    command = [
        *instrument_command(),
        sys.executable,
        "-m",
        "otel_holysheep.demo.workload",
        "--base-url",
        base_url,
        "--requests",
        str(args.requests),
        "--concurrency",
        str(args.concurrency),
        "--timeout",
        str(args.timeout),
    ]
    if args.live:
        command += ["--max-tokens", "16"]
    return subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def follow(proc: subprocess.Popen[str], out: IO[str], every_tenth: Callable[[], None] | None = None) -> tuple[int, int]:
    """Show progress until the workload says DONE (calling ``every_tenth`` as each tenth of it is done); returns
    (requests, failures seen by the app)."""
    assert proc.stdout is not None
    tty = out.isatty()
    last_shown = last_tenth = -1
    for line in proc.stdout:
        parts = line.split()
        if parts[:1] == ["PROGRESS"]:
            done, total = int(parts[1]), int(parts[2])
            percent = done * 100 // total
            if every_tenth is not None and percent // 10 != last_tenth:
                last_tenth = percent // 10
                every_tenth()
            if tty:
                bar = "#" * (percent // 4)
                out.write(f"\r  workload  [{bar:<25}] {done}/{total}")
                out.flush()
            elif percent // 10 != last_shown:
                last_shown = percent // 10
                out.write(f"  workload  {done}/{total} requests\n")
                out.flush()
        elif parts[:1] == ["DONE"]:
            if tty:
                out.write("\n")
            return int(parts[1]), int(parts[2])
    raise SystemExit(f"otel-holysheep demo: the workload stopped early (exit code {proc.wait()})")


def print_profile(time_scale: float, out: IO[str]) -> None:
    profile = Profile.load(PROFILE)
    out.write(f"\nConfigured in the simulator ({PROFILE.name}; latencies x{time_scale:g}):\n")
    for name, model in profile.models.items():
        out.write(
            f"  {name:<18} mean {model.mean_s * time_scale:6.3f} s   P95 {model.p95_s * time_scale:6.3f} s   "
            f"success {model.success_rate * 100:5.1f}% per attempt\n"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="otel-holysheep demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=REQUESTS, help=f"workload requests (default {REQUESTS})")
    parser.add_argument(
        "--concurrency", type=int, default=CONCURRENCY, help=f"concurrent requests (default {CONCURRENCY})"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=TIME_SCALE,
        help="simulated latency multiplier (default 1: the tutorial's measured latencies; 0.1 runs ten times faster)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="client timeout in seconds (default 10 x the time scale; the simulator's stalls end in a timeout)",
    )
    parser.add_argument("--seed", type=int, default=SEED, help=f"simulator random seed (default {SEED})")
    parser.add_argument("--format", default="table", choices=("table", "markdown", "csv", "json"))
    parser.add_argument(
        "--live",
        action="store_true",
        help=f"send {LIVE_BUDGET} small requests to the real gateway (needs HOLYSHEEP_API_KEY)",
    )
    parser.add_argument(
        "--page",
        type=Path,
        default=DEFAULT_PAGE,
        help=f"where to write the report as an HTML page (default {DEFAULT_PAGE})",
    )
    args = parser.parse_args(argv)
    if args.timeout is None:
        args.timeout = default_timeout(args.time_scale)
    out = sys.stdout
    simulator = None
    if args.live:
        if not os.environ.get("HOLYSHEEP_API_KEY"):
            print("otel-holysheep demo: --live needs HOLYSHEEP_API_KEY in the environment", file=sys.stderr)
            return 2
        args.requests = LIVE_BUDGET
        args.concurrency = 2
        base_url = LIVE_URL
        out.write(f"Live mode: {LIVE_BUDGET} requests (max_tokens 16) to {LIVE_URL}.\n")
    else:
        simulator, base_url = start_simulator(args.time_scale, args.seed)
        out.write(f"Gateway simulator: {base_url}\n")
    metrics_port = free_port()
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    workload = start_workload(base_url, metrics_port, args)
    started = time.monotonic()
    # Reads of /metrics as the workload goes (the page's charts over time): what each tenth of it added.
    snapshots: list[tuple[float, list[tuple[str, dict[str, str], float]]]] = [(time.time(), [])]

    def snapshot() -> None:
        from otel_holysheep.report.errors import ReportError  # noqa: PLC0415
        from otel_holysheep.report.sources import MetricsEndpointSource  # noqa: PLC0415

        with contextlib.suppress(ReportError):  # not serving yet: the next read covers this part too
            snapshots.append((time.time(), MetricsEndpointSource(metrics_url, timeout=5).samples()))

    try:
        out.write(
            f"Workload under opentelemetry-instrument: {args.requests} requests "
            f"(openai SDK and raw httpx, sync and async, streaming and not, 4 models)\n"
        )
        requests, failures = follow(workload, out, snapshot)
        out.write(
            f"  done in {time.monotonic() - started:.1f} s; the app saw {failures} failed calls of {requests} "
            "(after the SDK's own retries)\n"
        )
        out.write(f"\nPrometheus metrics served at {metrics_url}\n\n")
        out.flush()
        from otel_holysheep.report.cli import main as report  # noqa: PLC0415

        code = report(["--metrics", metrics_url, "--format", args.format])
        if not args.live:
            print_profile(args.time_scale, out)
        out.write(
            "\nNext: `otel-holysheep report --prometheus URL --window 7d` on your own data; "
            "prometheus.yml, grafana/ and collector/ in this repository.\n"
        )
        out.flush()
        written = write_page(args.page, metrics_url, snapshots, snapshot)
        if written == 0:
            out.write(
                f"\nThe report as a page (charts, what-if; one file, opens without a network): {args.page.resolve()}\n"
            )
        return code or written
    finally:
        stop(workload)
        if simulator is not None:
            stop(simulator)


def write_page(
    page: Path,
    metrics_url: str,
    snapshots: list[tuple[float, list[tuple[str, dict[str, str], float]]]],
    snapshot: Callable[[], None],
) -> int:
    """The report as a page: tables from a last read of /metrics (the text report's numbers: the workload is done),
    charts over the run from the reads taken as it went."""
    from otel_holysheep.report.cli import _write_file, html_page_from_snapshots  # noqa: PLC0415
    from otel_holysheep.report.errors import ReportError  # noqa: PLC0415

    snapshot()
    try:
        text = html_page_from_snapshots(snapshots, metrics_url)
    except ReportError as error:
        print(f"otel-holysheep demo: no page written: {error.message}", file=sys.stderr)
        return 2
    page.parent.mkdir(parents=True, exist_ok=True)
    return _write_file(text, page)


def stop(proc: subprocess.Popen[str]) -> None:
    """Stop a child that waits on stdin: close stdin, then terminate, then kill; close its pipes."""
    if proc.stdin:
        proc.stdin.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()
