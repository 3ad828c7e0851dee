"""A few ordinary gateway calls and one slow stream, with no OpenTelemetry code: run under opentelemetry-instrument
by the exemplar test, which then looks for the slow request's exemplars. Exits when done (the SDK flushes at exit).

Environment: GATEWAY_URL, APP_TAG, SLOW_TTFT_MS (time to first token of the slow stream, default 1500)."""

from __future__ import annotations

import os

from traffic import MESSAGES, MODELS, Traffic, scenario


def main() -> None:
    traffic = Traffic(os.environ["GATEWAY_URL"], os.environ.get("APP_TAG", ""))
    for _ in range(3):
        for model in MODELS:
            traffic.sdk.chat.completions.create(model=model, messages=MESSAGES, extra_headers=scenario("delay_ms=5"))
            for _chunk in traffic.sdk.chat.completions.create(
                model=model, messages=MESSAGES, stream=True, extra_headers=scenario("chunks=3,ttft_ms=10")
            ):
                pass
    slow = scenario(f"chunks=3,ttft_ms={int(os.environ.get('SLOW_TTFT_MS', '1500'))}")
    for _chunk in traffic.sdk.chat.completions.create(
        model="gpt-4.1", messages=MESSAGES, stream=True, extra_headers=slow
    ):
        pass
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
