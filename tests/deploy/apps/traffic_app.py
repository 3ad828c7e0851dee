"""Continuous, varied traffic to the gateway simulator, with no OpenTelemetry code: run under opentelemetry-instrument
by the end-to-end tests. Prints READY after the first round; when stdin closes it finishes the round, prints
``TOTALS {json}`` (the tokens the gateway reported, per "model/token_type") and exits.

Environment: GATEWAY_URL (required), APP_TAG (an x-app-tag header on every request), PAUSE_S (between rounds)."""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading

from traffic import Traffic


def main() -> None:
    traffic = Traffic(os.environ["GATEWAY_URL"], os.environ.get("APP_TAG", ""))
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    pause = float(os.environ.get("PAUSE_S", "0.2"))
    for n in itertools.count():
        traffic.one_round(n)
        if n == 0:
            print("READY", flush=True)
        if stop.wait(pause):
            break
    print("TOTALS " + json.dumps(dict(traffic.tokens), sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
