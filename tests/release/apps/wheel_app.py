"""A user's app with no OpenTelemetry code, run by the packaging test with the wheel virtualenv's python under its
`opentelemetry-instrument`.

Two calls through the openai SDK to the gateway at $GATEWAY_URL (a JSON chat and a stream with usage), then one
line `READY <where otel_holysheep was imported from> <its installed version>`, then it waits for stdin to close
so the test can scrape /metrics meanwhile.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import version

import openai

import otel_holysheep

URL = os.environ["GATEWAY_URL"]
MESSAGES = [{"role": "user", "content": "hello"}]


def main() -> None:
    client = openai.OpenAI(base_url=URL, api_key="sk-wheel-test", max_retries=0)
    client.chat.completions.create(
        model="gpt-4.1", messages=MESSAGES, extra_headers={"x-sim-scenario": "prompt_tokens=100,completion_tokens=20"}
    )
    for _chunk in client.chat.completions.create(
        model="deepseek-v3.2",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-sim-scenario": "chunks=4,prompt_tokens=30,completion_tokens=12"},
    ):
        pass
    print("READY", otel_holysheep.__file__, version("otel-holysheep"), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
