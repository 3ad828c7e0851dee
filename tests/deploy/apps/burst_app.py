"""A burst of large spans, then ordinary traffic, with no OpenTelemetry code: run under opentelemetry-instrument with
message capture on (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true), so every gateway call makes a span of
about BURST_KB kilobytes, exported as fast as the SDK exports: more than a small Collector can hold at once.

Prints one ``RESULT {json}`` line: calls made, exceptions seen, the slowest call of the burst (seconds) and the tokens
the gateway reported (per "model/token_type"); then keeps running, its SDK exporting the cumulative metrics every
export interval, until its stdin is closed, and exits (the SDK flushes what is left at exit). So the totals reach the
Collector with the first export it accepts after the burst, however long its memory takes to come down: an app that
exited at once would depend on its one last flush not being refused.

Environment: GATEWAY_URL, APP_TAG, BURST (calls, default 400), BURST_KB (prompt size, default 64), ROUNDS (ordinary
traffic rounds after the burst, default 3)."""

from __future__ import annotations

import json
import os
import sys
import time

from traffic import MODELS, Traffic, scenario


def main() -> None:
    traffic = Traffic(os.environ["GATEWAY_URL"], os.environ.get("APP_TAG", ""))
    prompt = "x" * (int(os.environ.get("BURST_KB", "64")) * 1024)
    calls, errors, slowest = 0, 0, 0.0
    for i in range(int(os.environ.get("BURST", "400"))):
        model = MODELS[i % len(MODELS)]
        started = time.perf_counter()
        try:
            response = traffic.sdk.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": prompt}],
                extra_headers=scenario("prompt_tokens=16000,completion_tokens=20"),
            )
            traffic.count(traffic.tokens, model, response.usage)
        except Exception:  # counted: the test asserts there were none
            errors += 1
        slowest = max(slowest, time.perf_counter() - started)
        calls += 1
    for n in range(int(os.environ.get("ROUNDS", "3"))):
        traffic.one_round(n)
    result = {"calls": calls, "errors": errors, "slowest_s": slowest, "tokens": traffic.tokens}
    print("RESULT " + json.dumps(result, sort_keys=True), flush=True)
    sys.stdin.read()  # until the test closes it


if __name__ == "__main__":
    main()
