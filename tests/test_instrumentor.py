"""The instrumentor's contract on fast in-process transports (httpx / httpx2 MockTransport), sync and async."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from importlib.metadata import entry_points
from typing import Any

import httpx
import httpx2
import pytest

from otel_holysheep import HolySheepInstrumentor
from tests.support import instrumented

BASE = "https://api.holysheep.ai/v1"
MODULES = [pytest.param(httpx, id="httpx"), pytest.param(httpx2, id="httpx2")]
CHAT = {
    "id": "chatcmpl-7",
    "object": "chat.completion",
    "model": "gpt-4.1-2025-04-14",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}],
    "usage": {"prompt_tokens": 1000, "completion_tokens": 500},
}


def chat_handler(module: Any) -> Any:
    def handler(request: Any) -> Any:
        return module.Response(200, json=CHAT)

    return handler


def test_entry_point_is_registered() -> None:
    found = [ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name == "holysheep"]
    assert len(found) == 1
    assert found[0].load() is HolySheepInstrumentor


@pytest.mark.parametrize("module", MODULES)
def test_json_call_is_measured_once(module: Any) -> None:
    client = module.Client(transport=module.MockTransport(chat_handler(module)))  # created before instrument()
    with instrumented() as cap:
        response = client.post(f"{BASE}/chat/completions", json={"model": "gpt-4.1", "messages": []})
        assert response.json() == CHAT
        assert cap.value("holysheep.requests", model="gpt-4.1", endpoint="chat/completions", status="success") == 1
        assert cap.value("holysheep.requests") == 1
        assert cap.value("holysheep.errors") == 0
        assert cap.value("holysheep.tokens", model="gpt-4.1", token_type="prompt") == 1000
        assert cap.value("holysheep.tokens", model="gpt-4.1", token_type="completion") == 500
        assert cap.value("holysheep.cost.usd", model="gpt-4.1") == pytest.approx(1000 * 2e-6 + 500 * 8e-6)
        assert cap.count("holysheep.request.duration", model="gpt-4.1", endpoint="chat/completions") == 1
        # not a stream: no time to headers (it would repeat the duration), never a fake TTFT
        assert cap.points("holysheep.time_to_headers") == []
        assert cap.count("holysheep.time_to_first_token") == 0
        assert cap.value("holysheep.active_requests", model="gpt-4.1") == 0
        assert cap.points("gen_ai.client.operation.duration") == []  # gen_ai.* metrics are opt-in
        assert cap.points("gen_ai.client.token.usage") == []
        (span,) = cap.spans()
        assert span.name == "chat gpt-4.1"
        assert span.kind.name == "CLIENT"
        attrs = dict(span.attributes or {})
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.provider.name"] == "holysheep"
        assert attrs["gen_ai.request.model"] == "gpt-4.1"
        assert attrs["gen_ai.response.model"] == "gpt-4.1-2025-04-14"
        assert attrs["gen_ai.response.id"] == "chatcmpl-7"
        assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
        assert attrs["gen_ai.usage.input_tokens"] == 1000
        assert attrs["gen_ai.usage.output_tokens"] == 500
        assert attrs["server.address"] == "api.holysheep.ai"
        assert attrs["server.port"] == 443
        assert "error.type" not in attrs
    client.close()


@pytest.mark.parametrize("module", MODULES)
def test_async_json_call(module: Any) -> None:
    async def run() -> Any:
        async with module.AsyncClient(transport=module.MockTransport(chat_handler(module))) as client:
            return (await client.post(f"{BASE}/embeddings", json={"model": "gpt-4.1", "input": "x"})).json()

    with instrumented() as cap:
        assert asyncio.run(run()) == CHAT
        assert cap.value("holysheep.requests", endpoint="embeddings", status="success") == 1
        assert cap.spans()[0].name == "embeddings gpt-4.1"


@pytest.mark.parametrize("module", MODULES)
def test_other_urls_pass_through_untouched(module: Any) -> None:
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        seen.append(request)
        return module.Response(200, content=b"plain")

    with instrumented() as cap, module.Client(transport=module.MockTransport(handler)) as client:
        for url in (
            "https://example.com/v1/chat/completions",
            "https://api.holysheep.ai/v2/chat/completions",
            "http://api.holysheep.ai/v1/chat/completions",
            "https://api.holysheep.ai:8443/v1/models",
            "https://api.holysheep.ai/v1beta/models",
        ):
            assert client.get(url).content == b"plain"
        assert cap.points("holysheep.requests") == []
        assert cap.spans() == []
    assert len(seen) == 5


@pytest.mark.parametrize("module", MODULES)
def test_http_error_is_a_failure_counted_once(module: Any) -> None:
    body = {"error": {"message": "Invalid API key", "type": "invalid_request_error", "code": "invalid_api_key"}}

    def handler(request: Any) -> Any:
        return module.Response(401, json=body)

    with instrumented() as cap, module.Client(transport=module.MockTransport(handler)) as client:
        response = client.post(f"{BASE}/chat/completions", json={"model": "claude-sonnet-4"})
        assert response.status_code == 401
        assert response.json() == body
        assert cap.value("holysheep.requests", model="claude-sonnet-4", status="failure") == 1
        assert cap.value("holysheep.errors", model="claude-sonnet-4", error_type="http_401") == 1
        assert cap.value("holysheep.errors") == 1
        assert cap.count("holysheep.request.duration") == 1
        (span,) = cap.spans()
        assert span.status.status_code.name == "ERROR"
        assert span.attributes["error.type"] == "http_401"


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize(
    ("make_exc", "status", "error_type"),
    [
        (lambda m, r: m.ConnectError("refused", request=r), "error", "connect_error"),
        (lambda m, r: m.ReadTimeout("slow", request=r), "timeout", "timeout"),
        (lambda m, r: ValueError("transport bug"), "error", "exception"),
    ],
)
def test_exceptions_reach_the_app_unchanged(module: Any, make_exc: Any, status: str, error_type: str) -> None:
    raised: list[BaseException] = []

    def handler(request: Any) -> Any:
        exc = make_exc(module, request)
        raised.append(exc)
        raise exc

    with instrumented() as cap, module.Client(transport=module.MockTransport(handler)) as client:
        with pytest.raises(BaseException) as info:
            client.post(f"{BASE}/chat/completions", json={"model": "gpt-4.1"})
        assert info.value is raised[0]
        assert cap.value("holysheep.requests", status=status) == 1
        assert cap.value("holysheep.errors", error_type=error_type) == 1
        assert cap.count("holysheep.request.duration") == 1
        assert cap.value("holysheep.active_requests") == 0
        assert cap.spans()[0].attributes["error.type"] == error_type


def test_request_without_model_is_unknown_and_models_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS", "true")

    def handler(request: Any) -> Any:
        return httpx2.Response(200, json={"object": "list", "data": [{"id": "gpt-4.1"}]})

    with instrumented() as cap, httpx2.Client(transport=httpx2.MockTransport(handler)) as client:
        client.get(f"{BASE}/models")
        client.get(f"{BASE}/models/gpt-4.1")
        assert cap.value("holysheep.requests", model="unknown", endpoint="models", status="success") == 2
        assert cap.value("holysheep.usage_missing") == 0  # models never report usage
        assert cap.points("gen_ai.client.operation.duration") == []  # listing models is not a GenAI operation
        assert [s.name for s in cap.spans()] == ["models", "models"]


def _hooked() -> dict[tuple[str, str], Any]:
    import aiohttp
    import requests

    targets = [(m, c, "_send_single_request") for m in (httpx, httpx2) for c in ("Client", "AsyncClient")]
    targets += [(requests.adapters, "HTTPAdapter", "send"), (aiohttp, "ClientSession", "_request")]
    return {(f"{m.__name__}.{c}", name): getattr(m, c).__dict__[name] for m, c, name in targets}


def test_uninstrument_restores_the_original_functions() -> None:
    originals = _hooked()
    instrumentor = HolySheepInstrumentor()
    with instrumented():
        for key, current in _hooked().items():
            assert current is not originals[key], key
            assert current.__wrapped__ is originals[key], key
        instrumentor.instrument()  # twice: a no-op
    instrumentor.uninstrument()  # twice: a no-op
    assert _hooked() == originals


def test_a_missing_client_library_is_fine() -> None:
    """Each library alone: the others not importable at all; instrument() measures what is there."""
    import subprocess
    import sys

    script = """
import sys
missing = sys.argv[1].split(",")
for name in missing:
    sys.modules[name] = None  # import fails with ImportError, as for a library that is not installed
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from otel_holysheep import HolySheepInstrumentor
reader = InMemoryMetricReader()
HolySheepInstrumentor().instrument(meter_provider=MeterProvider(metric_readers=[reader]))
body = b'{"id":"x","model":"gpt-4.1","usage":{"prompt_tokens":3,"completion_tokens":1}}'
url = "https://api.holysheep.ai/v1/chat/completions"
if "httpx2" not in missing:
    import httpx2
    handler = lambda request: httpx2.Response(200, content=body, headers={"content-type": "application/json"})
    httpx2.Client(transport=httpx2.MockTransport(handler)).post(url, json={"model": "gpt-4.1"})
if "requests" not in missing:
    import io, requests, urllib3
    class Adapter(requests.adapters.HTTPAdapter):
        def get_connection_with_tls_context(self, *args, **kwargs):
            class Pool:
                def urlopen(self, method, url, **kw):
                    fp = io.BytesIO(body)
                    headers = {"content-type": "application/json", "content-length": str(len(body))}
                    return urllib3.HTTPResponse(fp, headers=headers, status=200, preload_content=False)
            return Pool()
    session = requests.Session()
    session.mount("https://", Adapter())
    assert session.post(url, json={"model": "gpt-4.1"}).json()["usage"]["prompt_tokens"] == 3
data = reader.get_metrics_data()
points = [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
          if m.name == "holysheep.tokens" for p in m.data.data_points]
print(sum(p.value for p in points if p.attributes["token_type"] == "prompt"))
"""
    for missing, expected in (("requests,aiohttp,httpx", "3"), ("httpx,httpx2,aiohttp", "3")):
        result = subprocess.run(
            [sys.executable, "-c", script, missing], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [expected], (missing, result.stdout, result.stderr)


def test_reinstrument_continues_the_same_series_without_double_counting() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    client = httpx2.Client(transport=httpx2.MockTransport(chat_handler(httpx2)))
    for _ in range(3):
        HolySheepInstrumentor().instrument(meter_provider=provider)
        client.post(f"{BASE}/chat/completions", json={"model": "gpt-4.1"})
        HolySheepInstrumentor().uninstrument()
    client.post(f"{BASE}/chat/completions", json={"model": "gpt-4.1"})  # uninstrumented: not counted
    data = reader.get_metrics_data()
    points = [
        p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "holysheep.requests"
        for p in m.data.data_points
    ]
    assert sum(p.value for p in points) == 3
    client.close()
    provider.shutdown()


def test_wrong_argument_types_fail_fast() -> None:
    with pytest.raises(TypeError, match="base_urls"):
        HolySheepInstrumentor().instrument(base_urls="https://api.holysheep.ai/v1")
    HolySheepInstrumentor().uninstrument()


def test_genai_metrics_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS", "true")

    def handler(request: Any) -> Any:
        model = json.loads(request.content)["model"]
        return httpx2.Response(401, json={"error": {}}) if model == "bad" else httpx2.Response(200, json=CHAT)

    with instrumented() as cap, httpx2.Client(transport=httpx2.MockTransport(handler)) as client:
        client.post(f"{BASE}/chat/completions", json={"model": "gpt-4.1"})
        client.post(f"{BASE}/chat/completions", json={"model": "bad"})
        assert cap.value("holysheep.requests") == 2
        assert cap.label_sets("gen_ai.client.operation.duration") == [
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "holysheep",
                "gen_ai.request.model": "gpt-4.1",
                "gen_ai.response.model": "gpt-4.1-2025-04-14",
                "server.address": "api.holysheep.ai",
                "server.port": 443,
            },
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "holysheep",
                "gen_ai.request.model": "bad",
                "server.address": "api.holysheep.ai",
                "server.port": 443,
                "error.type": "http_401",
            },
        ]
        assert cap.count("gen_ai.client.token.usage", **{"gen_ai.token.type": "input"}) == 1
        assert cap.count("gen_ai.client.token.usage", **{"gen_ai.token.type": "output"}) == 1


@pytest.mark.parametrize(("setting", "recorded"), [(None, 0), ("streams", 0), ("all", 1)])
def test_time_to_headers_of_json_responses(setting: str | None, recorded: int, monkeypatch: pytest.MonkeyPatch) -> None:
    if setting is not None:
        monkeypatch.setenv("OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS", setting)
    with instrumented() as cap, httpx2.Client(transport=httpx2.MockTransport(chat_handler(httpx2))) as client:
        client.post(f"{BASE}/chat/completions", json={"model": "gpt-4.1"})
        assert cap.count("holysheep.request.duration") == 1
        assert cap.count("holysheep.time_to_headers", model="gpt-4.1", endpoint="chat/completions") == recorded


def test_suppressed_instrumentation_is_honoured() -> None:
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with instrumented() as cap, httpx2.Client(transport=httpx2.MockTransport(chat_handler(httpx2))) as client:
        with suppress_instrumentation():
            client.post(f"{BASE}/chat/completions", json={"model": "gpt-4.1"})
        assert cap.points("holysheep.requests") == []


SSE = (
    b'data: {"id":"c","model":"gpt-4.1","choices":[{"delta":{"role":"assistant","content":""}}]}\n\n'
    b'data: {"id":"c","choices":[{"delta":{"content":"a"}}]}\n\n'
    b'data: {"id":"c","choices":[{"delta":{"content":"b"}}]}\n\n'
    b'data: {"id":"c","choices":[{"delta":{},"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}\n\n'
    b"data: [DONE]\n\n"
)


class ChunkStream(httpx2.SyncByteStream):
    """A transport stream that yields the SSE body in small pieces, like a network would."""

    def __init__(self, body: bytes, size: int = 40) -> None:
        self.pieces = [body[i : i + size] for i in range(0, len(body), size)]
        self.closed = False

    def __iter__(self) -> Any:
        yield from self.pieces

    def close(self) -> None:
        self.closed = True


def test_stream_bytes_are_unchanged_and_finished_at_the_end() -> None:
    stream = ChunkStream(SSE)

    def handler(request: Any) -> Any:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=stream)

    with instrumented() as cap, httpx2.Client(transport=httpx2.MockTransport(handler)) as client:
        with client.stream("POST", f"{BASE}/chat/completions", json={"model": "gpt-4.1", "stream": True}) as resp:
            assert cap.value("holysheep.active_requests", model="gpt-4.1") == 1
            assert b"".join(resp.iter_raw()) == SSE
        assert stream.closed
        assert cap.value("holysheep.active_requests", model="gpt-4.1") == 0
        assert cap.value("holysheep.stream_outcomes", model="gpt-4.1", outcome="completed") == 1
        assert cap.count("holysheep.time_to_first_token", model="gpt-4.1") == 1
        assert cap.value("holysheep.tokens", token_type="completion") == 2
        span = cap.spans()[0]
        assert span.attributes["gen_ai.request.stream"] is True
        assert span.attributes["holysheep.stream.outcome"] == "completed"


def test_abandoned_stream_is_finalized_by_garbage_collection() -> None:
    def handler(request: Any) -> Any:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=ChunkStream(SSE))

    with instrumented() as cap, httpx2.Client(transport=httpx2.MockTransport(handler)) as client:

        def read_two_and_walk_away() -> None:
            request = client.build_request("POST", f"{BASE}/chat/completions", json={"model": "gpt-4.1"})
            response = client.send(request, stream=True)
            lines = response.iter_lines()
            next(lines)
            next(lines)  # never closed

        read_two_and_walk_away()
        gc.collect()
        assert cap.value("holysheep.active_requests", model="gpt-4.1") == 0
        assert cap.value("holysheep.stream_outcomes", outcome="cancelled") == 1
        assert cap.value("holysheep.requests", status="success") == 1
        assert cap.value("holysheep.errors") == 0


def test_a_stream_collected_during_another_requests_retry_marks_nothing() -> None:
    """The retry marker is the previous attempt's failure in this context. A stream the app dropped is finished by
    the garbage collector in whatever context it interrupts: between a 429 and its retry here. It must not write
    its own outcome (no error) over the 429."""
    attempts = {"n": 0}

    def handler(request: Any) -> Any:
        if json.loads(request.content).get("stream"):
            return httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=ChunkStream(SSE))
        attempts["n"] += 1
        if attempts["n"] == 1:
            return httpx2.Response(429, headers={"retry-after": "1"}, json={"error": "slow down"})
        return httpx2.Response(200, json=CHAT)

    with instrumented() as cap, httpx2.Client(transport=httpx2.MockTransport(handler)) as client:
        abandoned: list[Any] = []

        def read_two_and_walk_away() -> None:
            request = client.build_request(
                "POST", f"{BASE}/chat/completions", json={"model": "gpt-4.1", "stream": True}
            )
            response = client.send(request, stream=True)
            lines = response.iter_lines()
            next(lines)
            abandoned.append((response, lines))  # both held (a dropped generator closes it) until the 429 below

        read_two_and_walk_away()
        body = {"model": "gpt-4.1", "messages": []}
        assert client.post(f"{BASE}/chat/completions", json=body).status_code == 429
        assert cap.value("holysheep.stream_outcomes") == 0  # not finished yet
        abandoned.clear()
        gc.collect()  # the dropped stream is finished here, between the 429 and its retry
        assert cap.value("holysheep.stream_outcomes", outcome="cancelled") == 1
        retry = client.post(f"{BASE}/chat/completions", json=body, headers={"x-stainless-retry-count": "1"})
        assert retry.status_code == 200
        assert cap.label_sets("holysheep.retries") == [{"model": "gpt-4.1", "reason": "http_429"}]
        assert cap.value("holysheep.active_requests") == 0


def test_each_instrumentation_owns_its_state() -> None:
    from otel_holysheep._state import ACTIVE

    assert ACTIVE.session is None and ACTIVE.hook is None
    with instrumented():
        first = ACTIVE.session
        assert first is not None and ACTIVE.hook is first.hook
        assert {key[0] for key in first.originals} >= {"httpx", "httpx2"}
        assert httpx2.Client._send_single_request.__otel_holysheep_original__ is not None  # type: ignore[attr-defined]
    assert ACTIVE.session is None and ACTIVE.hook is None and first.originals == {}
    assert not hasattr(httpx2.Client._send_single_request, "__otel_holysheep_original__")
    with instrumented():
        second = ACTIVE.session
        assert second is not None and second is not first and second.hook is not first.hook
        # the retry marker and the nesting flag are the session's own: nothing carried over from the first
        assert second.hook.last_failure is not first.hook.last_failure
        assert second.hook.sending is not first.hook.sending


def test_internal_failures_never_reach_the_app(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from otel_holysheep import _call, _hook, _parsing

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected telemetry failure")

    def handler(request: Any) -> Any:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=ChunkStream(SSE))

    for target, name in (
        (_hook, "parse_request"),
        (_parsing.SseScanner, "feed"),
        (_call.Call, "finish"),
        (_call.Call, "on_headers"),
        (_hook.Hook, "begin"),
    ):
        with monkeypatch.context() as patch, instrumented(), caplog.at_level(logging.DEBUG, "otel_holysheep"):
            patch.setattr(target, name, boom)
            caplog.clear()
            with (
                httpx2.Client(transport=httpx2.MockTransport(handler)) as client,
                client.stream("POST", f"{BASE}/chat/completions", json={"model": "gpt-4.1"}) as response,
            ):
                assert b"".join(response.iter_bytes()) == SSE
            assert "injected telemetry failure" in caplog.text, name


def test_keys_and_prompts_never_exported(caplog: pytest.LogCaptureFixture) -> None:
    key = "sk-planted-SECRET-1234567890"
    prompt = "my secret prompt text"

    def handler(request: Any) -> Any:
        return httpx2.Response(200, json=CHAT)

    with (
        caplog.at_level(logging.DEBUG),
        instrumented() as cap,
        httpx2.Client(transport=httpx2.MockTransport(handler)) as client,
    ):
        client.post(
            f"{BASE}/chat/completions?api-key={key}",
            headers={"Authorization": f"Bearer {key}", "api-key": key},
            json={"model": "gpt-4.1", "messages": [{"role": "user", "content": prompt}]},
        )
        exported = json.dumps([dict(s.attributes or {}) for s in cap.spans()], default=str)
        exported += json.dumps([s.name for s in cap.spans()])
        exported += cap.reader.get_metrics_data().to_json()
    ours = "\n".join(r.getMessage() + str(r.exc_info) for r in caplog.records if r.name.startswith("otel_holysheep"))
    for secret in (key, prompt, "SECRET"):
        assert secret not in exported
        assert secret not in ours  # (httpx's own INFO line logs the URL it was given; that one is not ours)


def test_content_capture_is_opt_in_and_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HOLYSHEEP_CONTENT_MAX_CHARS", "32")
    with instrumented() as cap, httpx2.Client(transport=httpx2.MockTransport(chat_handler(httpx2))) as client:
        client.post(
            f"{BASE}/chat/completions", json={"model": "gpt-4.1", "messages": [{"role": "user", "content": "q" * 100}]}
        )
        attrs = cap.spans()[0].attributes
        assert len(attrs["gen_ai.input.messages"]) == 32
        assert attrs["gen_ai.output.messages"] == "hi"
