"""Scenarios for the alert policy's live test, with no OpenTelemetry code: run under opentelemetry-instrument by
tests/deploy/test_alert_policy.py. Each scenario calls the gateway simulator with raw httpx (no SDK retries) on a
model of its own, so the test can tell their alerts apart.

Commands on stdin, one per line; each is answered on stdout once done:
  ``start NAME`` -> ``STARTED NAME`` (a loop scenario runs in its own thread until stopped)
  ``stop NAME``  -> ``STOPPED NAME`` (after its current call)
  ``run NAME``   -> ``DONE NAME`` (a one-off scenario)
Prints READY first; exits when stdin closes (loops stopped).

Loops: ``healthy`` (gpt-4.1, successes), ``outage`` (gpt-4.1, every other call a 503), ``revoked`` (claude-sonnet-4,
a revoked key: 401s), ``storm`` (deepseek-v3.2: calls the app cancels before the headers, 400/404/422 answers and a
few successes), ``trickle`` (gpt-4.1-mini on the second gateway: a call every 0.3 s), ``truncated`` (gpt-4o: every
other call's max_tokens cuts the answer off, finish_reason "length"), ``agent`` (o4-mini: answers ending in tool
calls, one in four blocked by the content filter). One-offs: ``single403``
(gemini-2.5-flash, one 403), ``burst`` (gpt-4.1-mini on the second gateway: 10 calls at once, then nothing).

Environment: GATEWAY_URL, LIMITED_GATEWAY_URL (a simulator with a small requests-per-minute limit)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
import threading
from collections.abc import Callable

import httpx

MESSAGES = [{"role": "user", "content": "ping"}]
PAUSE_S = 0.1


def scenario(text: str) -> dict[str, str]:
    return {"x-sim-scenario": text}


class App:
    def __init__(self) -> None:
        url, limited = os.environ["GATEWAY_URL"], os.environ["LIMITED_GATEWAY_URL"]
        self.good = httpx.Client(base_url=url, headers={"Authorization": "Bearer sk-policy"}, timeout=10)
        self.revoked_key = httpx.Client(base_url=url, headers={"Authorization": "Bearer sk-invalid"}, timeout=10)
        self.limited = httpx.Client(base_url=limited, headers={"Authorization": "Bearer sk-policy"}, timeout=10)
        self.url = url
        self.stops: dict[str, threading.Event] = {}
        self.threads: dict[str, threading.Thread] = {}

    def call(self, client: httpx.Client, model: str, directives: str = "") -> None:
        headers = scenario(directives) if directives else {}
        client.post("/chat/completions", json={"model": model, "messages": MESSAGES}, headers=headers)

    # --- loops: one step each ----------------------------------------------------------------------------------
    def healthy(self, n: int) -> None:
        self.call(self.good, "gpt-4.1")

    def outage(self, n: int) -> None:
        self.call(self.good, "gpt-4.1", "status=503" if n % 2 else "")

    def revoked(self, n: int) -> None:
        self.call(self.revoked_key, "claude-sonnet-4")

    def trickle(self, n: int) -> None:
        self.call(self.limited, "gpt-4.1-mini")

    def truncated(self, n: int) -> None:
        """Every other answer longer than its max_tokens: the simulator cuts it off and says finish_reason "length"."""
        body = {"model": "gpt-4o", "messages": MESSAGES, "max_tokens": 3 if n % 2 else 1000}
        self.good.post("/chat/completions", json=body)

    def agent(self, n: int) -> None:
        """Answers that are not truncations: tool calls, and one in four stopped by the content filter."""
        self.call(self.good, "o4-mini", "finish=content_filter" if n % 4 == 0 else "tool_calls=2")

    def storm(self, n: int) -> None:
        """The app's own failures: cancellations before the headers and client errors, in a 4-step cycle."""
        step = n % 4
        if step == 0:
            asyncio.run(self._cancelled())
        elif step == 1:
            self.call(self.good, "deepseek-v3.2", "status=400")
        elif step == 2:
            self.call(self.good, "deepseek-v3.2", "status=404" if n % 8 == 2 else "status=422")
        else:
            self.call(self.good, "deepseek-v3.2")

    async def _cancelled(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, headers={"Authorization": "Bearer sk-policy"}) as client:
            request = client.post(
                "/chat/completions",
                json={"model": "deepseek-v3.2", "messages": MESSAGES},
                headers=scenario("delay_ms=2000"),
            )
            # the app gives up after 50 ms: the request task is cancelled before the headers arrive
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(request, 0.05)

    # --- one-offs ------------------------------------------------------------------------------------------------
    def single403(self) -> None:
        self.call(self.good, "gemini-2.5-flash", "status=403")

    def burst(self) -> None:
        for _ in range(10):
            self.call(self.limited, "gpt-4.1-mini")

    # --- control -------------------------------------------------------------------------------------------------
    def start(self, name: str) -> None:
        step: Callable[[int], None] = getattr(self, name)
        stop = self.stops[name] = threading.Event()

        def loop() -> None:
            for n in itertools.count():
                step(n)
                if stop.wait(PAUSE_S):
                    return

        thread = self.threads[name] = threading.Thread(target=loop, name=name, daemon=True)
        thread.start()

    def stop(self, name: str) -> None:
        self.stops.pop(name).set()
        self.threads.pop(name).join(30)


def main() -> None:
    app = App()
    app.call(app.good, "gpt-4.1")  # the series exist before the test starts
    print("READY", flush=True)
    for line in sys.stdin:
        verb, _, name = line.strip().partition(" ")
        if verb == "start":
            app.start(name)
            print(f"STARTED {name}", flush=True)
        elif verb == "stop":
            app.stop(name)
            print(f"STOPPED {name}", flush=True)
        elif verb == "run":
            getattr(app, name)()
            print(f"DONE {name}", flush=True)
    for name in list(app.stops):
        app.stop(name)


if __name__ == "__main__":
    main()
