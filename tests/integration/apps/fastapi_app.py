"""A FastAPI app served by uvicorn, with no OpenTelemetry code: run under `opentelemetry-instrument` (the FastAPI
instrumentation sets http.route on the server span) by tests/integration/test_attribution_frameworks.py.

Two routes call the gateway at $GATEWAY_URL with the openai SDK: POST /chat/{thread_id} (gpt-4.1, sync endpoint, in
uvicorn's thread pool) and POST /summarize (deepseek-v3.2, async endpoint, streamed with usage). The query string's
prompt / completion set the tokens the simulator reports; each answers with the usage it got.
"""

from __future__ import annotations

import os

import openai
import uvicorn
from fastapi import FastAPI

URL = os.environ["GATEWAY_URL"]
MESSAGES = [{"role": "user", "content": "hello"}]

app = FastAPI()
sync_client = openai.OpenAI(base_url=URL, api_key="sk-attribution-test", max_retries=0)
async_client = openai.AsyncOpenAI(base_url=URL, api_key="sk-attribution-test", max_retries=0)


def _scenario(prompt: int, completion: int) -> dict[str, str]:
    return {"x-sim-scenario": f"prompt_tokens={prompt},completion_tokens={completion},no_ratelimit"}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/chat/{thread_id}")
def chat(thread_id: str, prompt: int = 10, completion: int = 5) -> dict[str, int]:
    response = sync_client.chat.completions.create(
        model="gpt-4.1", messages=MESSAGES, extra_headers=_scenario(prompt, completion), user=thread_id
    )
    assert response.usage is not None
    return {"prompt": response.usage.prompt_tokens, "completion": response.usage.completion_tokens}


@app.post("/summarize")
async def summarize(prompt: int = 10, completion: int = 5) -> dict[str, int]:
    usage = None
    stream = await async_client.chat.completions.create(
        model="deepseek-v3.2",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-sim-scenario": f"chunks={completion},prompt_tokens={prompt},no_ratelimit"},
    )
    async for chunk in stream:
        usage = chunk.usage or usage
    assert usage is not None
    return {"prompt": usage.prompt_tokens, "completion": usage.completion_tokens}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["APP_PORT"]), log_level="warning")
