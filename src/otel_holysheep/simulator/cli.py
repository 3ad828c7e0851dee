"""``otel-holysheep simulate``: run the gateway simulator in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from .profile import Profile
from .server import GatewaySimulator

__all__ = ["build_parser", "main"]


def build_parser(prog: str = "otel-holysheep simulate") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Run the OpenAI-compatible HolySheep gateway simulator on a local port."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to bind; 0 picks a free one (default 8080)")
    parser.add_argument("--profile", metavar="FILE", help="YAML or JSON latency/error profile (default: built-in)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiply every simulated delay (default 1.0)")
    parser.add_argument("--seed", type=int, default=None, help="random seed for reproducible latency and errors")
    parser.add_argument("--instant", action="store_true", help="no latency and no random errors")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit code (0 on a clean stop, 2 on bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.time_scale < 0:
        parser.error("--time-scale must be >= 0")
    if args.instant and args.profile:
        parser.error("--instant and --profile are mutually exclusive")
    try:
        if args.instant:
            profile = Profile.instant()
        elif args.profile:
            profile = Profile.load(args.profile)
        else:
            profile = Profile.default()
    except ValueError as exc:
        print(f"otel-holysheep simulate: {exc}", file=sys.stderr)
        return 2
    sim = GatewaySimulator(profile=profile, host=args.host, port=args.port, time_scale=args.time_scale, seed=args.seed)
    sim.verbose = args.verbose
    try:
        sim.start()
    except OSError as exc:
        print(f"otel-holysheep simulate: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    done = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(
            f"HolySheep gateway simulator listening on {sim.base_url} "
            f"(profile: {profile.name}, time scale {args.time_scale:g})",
            flush=True,
        )
        while not done.wait(0.2):
            pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
