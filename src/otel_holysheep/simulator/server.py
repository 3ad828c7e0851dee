"""The gateway simulator: a threaded loopback HTTP/1.1 server speaking the OpenAI wire format."""

from __future__ import annotations

import contextlib
import random
import select
import socket
import socketserver
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .handler import SimulatorHandler
from .profile import ModelProfile, Profile
from .ratelimit import RateLimiter
from .records import RecordedRequest

__all__ = ["GatewaySimulator", "RecordedRequest"]

STALL_LIMIT_S = 30.0


class _Server(ThreadingHTTPServer):
    """Tracks open connections and handler threads so stop() can end them promptly."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    allow_reuse_port = False  # never share a port someone else is listening on
    # socketserver's default backlog of 5 resets connections under a burst of concurrent clients (64 pooled
    # connections opening at once); a gateway does not do that.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], sim: GatewaySimulator) -> None:
        self.sim = sim
        self._track_lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, SimulatorHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which can stall without a network.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._run, args=(request, client_address), daemon=True, name="holysheep-sim-conn"
        )
        with self._track_lock:
            self._conns.add(request)
            self._handler_threads.add(thread)
        thread.start()

    def _run(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._track_lock:
                self._handler_threads.discard(threading.current_thread())

    def shutdown_request(self, request: Any) -> None:
        with self._track_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients going away mid-response is normal for a simulator of failures; anything else is a bug to show.
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError) or self.sim.stopping:
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> list[threading.Thread]:
        with self._track_lock:
            conns, threads = list(self._conns), list(self._handler_threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        return threads


class GatewaySimulator:
    """OpenAI-compatible HolySheep gateway simulator serving on loopback in a background thread."""

    def __init__(
        self,
        profile: Profile | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = 1.0,
        seed: int | None = None,
    ) -> None:
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        self.profile = profile if profile is not None else Profile.instant()
        self.host = host
        self.time_scale = time_scale
        self.seed = seed
        self.verbose = False
        self.limiter = RateLimiter(self.profile.requests_per_minute, self.profile.tokens_per_minute)
        self._requested_port = port
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._fail_counts: dict[str, int] = {}
        self._stop_event = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> GatewaySimulator:
        """Bind and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        self._stop_event = threading.Event()
        self._server = _Server((self.host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="holysheep-sim"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listener and every open connection, wake stalled handlers."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stop_event.set()
        server.shutdown()
        server.server_close()
        threads = server.close_connections()
        deadline = time.monotonic() + 0.8
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread is not None:
            self._thread.join(max(0.05, deadline - time.monotonic()))
            self._thread = None

    def __enter__(self) -> GatewaySimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- state -----------------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}/v1"

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far."""
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        """Forget recorded requests, fail_first counters and rate-limit budgets."""
        with self._lock:
            self._requests.clear()
            self._fail_counts.clear()
        self.limiter.reset()

    # -- used by the handler ---------------------------------------------------------------------------------
    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def count_failure_key(self, key: str) -> int:
        """Increment and return how many fail_first requests used ``key``."""
        with self._lock:
            self._fail_counts[key] = self._fail_counts.get(key, 0) + 1
            return self._fail_counts[key]

    def draw(self, model: str | None) -> tuple[ModelProfile, float, str]:
        """The model's profile, a sampled (scaled) latency and the outcome for one request."""
        mp = self.profile.for_model(model)
        with self._rng_lock:
            latency = mp.sample_latency(self._rng, self.time_scale)
            outcome = mp.decide(self._rng)
        return mp, latency, outcome

    def sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; False when the simulator is stopping."""
        if seconds > 0:
            return not self._stop_event.wait(seconds)
        return not self._stop_event.is_set()

    def stall(self, conn: socket.socket, limit: float = STALL_LIMIT_S) -> None:
        """Wait until the client disconnects, the simulator stops, or ``limit`` seconds pass."""
        deadline = time.monotonic() + limit
        while not self._stop_event.wait(0.05) and time.monotonic() < deadline:
            try:
                readable, _, _ = select.select([conn], [], [], 0)
                if readable and conn.recv(1, socket.MSG_PEEK) == b"":
                    return
            except (OSError, ValueError):
                return
