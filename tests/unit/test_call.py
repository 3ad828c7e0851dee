"""``_call.Call``: the attempt's state machine. Each way an attempt can end gives exactly one immutable outcome;
the retry marker is set only from the application's own context (a send, its headers, its reads)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import pytest
from opentelemetry.trace import INVALID_SPAN

from otel_holysheep._call import Call, Flavor, RequestFields
from otel_holysheep._config import BaseUrl
from otel_holysheep._parsing import SseScanner
from otel_holysheep._parsing.headers import ResponseHeaders
from otel_holysheep._recorder import Attempt, Outcome

SSE = (
    b'data: {"id":"c","model":"gpt-4.1","choices":[{"delta":{"role":"assistant","content":""}}]}\n\n'
    b'data: {"id":"c","choices":[{"delta":{"content":"a"}}]}\n\n'
    b'data: {"id":"c","choices":[{"delta":{"content":"b"}}]}\n\n'
    b'data: {"id":"c","choices":[{"delta":{},"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}\n\n'
    b"data: [DONE]\n\n"
)
JSON = b'{"id":"r1","model":"gpt-4.1-2025","choices":[{"finish_reason":"stop"}],"usage":{"prompt_tokens":7}}'


class Recorded:
    """A stand-in recorder: what the call handed over, in order."""

    def __init__(self) -> None:
        self.seen_headers: list[ResponseHeaders] = []
        self.outcomes: list[Outcome] = []

    def headers(self, attempt: Attempt, headers: ResponseHeaders) -> None:
        self.seen_headers.append(headers)

    def finished(self, attempt: Attempt, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    def outcome(self) -> Outcome:
        (outcome,) = self.outcomes  # exactly once
        return outcome


FLAVOR = Flavor(
    (TimeoutError,),
    (ConnectionError,),
    lambda request: RequestFields("POST", b"", None),
    lambda request, body: None,
    lambda request, response, call, is_async: None,
)


def new_call(marker: ContextVar[str | None] | None = None) -> tuple[Call, Recorded, ContextVar[str | None]]:
    recorder = Recorded()
    marker = marker or ContextVar("test_marker", default=None)
    attempt = Attempt(INVALID_SPAN, 0.0, "gpt-4.1", "chat/completions", "chat", BaseUrl("http", "gw", 80, "/v1"))
    recorder_api: Any = recorder
    return Call(FLAVOR, attempt, recorder_api, marker), recorder, marker


def test_a_stream_read_to_its_end() -> None:
    call, rec, marker = new_call()
    call.on_headers(200, {"content-type": "text/event-stream"})
    for i in range(0, len(SSE), 17):
        call.on_body_bytes(SSE[i : i + 17])
    call.on_eof()
    call.on_close()  # the client closes after the end: nothing more
    o = rec.outcome()
    assert (o.status, o.error, o.stream_outcome, o.status_code, o.sse) == ("success", None, "completed", 200, True)
    assert o.usage is not None and (o.usage.prompt, o.usage.completion) == (5, 2)
    assert (o.response_id, o.response_model, o.finish_reasons, o.content_chunks) == ("c", "gpt-4.1", ("stop",), 2)
    assert o.first_token_at is not None and o.headers_at is not None and o.end >= o.first_token_at >= o.headers_at
    assert marker.get() is None
    with pytest.raises(AttributeError):
        o.status = "failure"  # type: ignore[misc]  # an outcome is immutable


def test_a_json_body_read_whole() -> None:
    call, rec, _ = new_call()
    call.on_headers(200, {"content-type": "application/json"})
    call.on_content(JSON)
    o = rec.outcome()
    assert (o.status, o.stream_outcome, o.sse, o.first_token_at) == ("success", None, False, None)
    assert o.usage is not None and o.usage.prompt == 7
    assert (o.response_id, o.response_model, o.finish_reasons) == ("r1", "gpt-4.1-2025", ("stop",))


def test_an_http_error_marks_the_retry_at_its_headers() -> None:
    call, rec, marker = new_call()
    call.on_headers(429, {"content-type": "application/json", "retry-after-ms": "1500"})
    assert marker.get() == "http_429"  # before the body: the SDK may retry at once
    assert [h.retry_after for h in rec.seen_headers] == [1.5]
    call.on_close()  # closed unread
    o = rec.outcome()
    assert (o.status, o.error) == ("failure", "http_429")


@pytest.mark.parametrize(
    ("exc", "status", "error", "marked"),
    [
        (TimeoutError(), "timeout", "timeout", "timeout"),
        (ConnectionError(), "error", "connect_error", "connect_error"),
        (ValueError(), "error", "exception", "exception"),
        (KeyboardInterrupt(), "error", "cancelled", "earlier"),  # the app stopped: not a failure to retry
    ],
)
def test_a_request_that_raised(exc: BaseException, status: str, error: str, marked: str) -> None:
    marker: ContextVar[str | None] = ContextVar("m", default=None)
    marker.set("earlier")
    call, rec, _ = new_call(marker)
    call.fail(exc)
    o = rec.outcome()
    assert (o.status, o.error, o.status_code, o.headers_at, o.usage) == (status, error, 0, None, None)
    assert marker.get() == marked


def test_a_stream_closed_early_is_cancelled_and_marks_nothing() -> None:
    marker: ContextVar[str | None] = ContextVar("m", default=None)
    marker.set("http_429")  # another attempt's failure, its retry under way
    call, rec, _ = new_call(marker)
    call.on_headers(200, {"content-type": "text/event-stream"})
    call.on_body_bytes(SSE[:120])
    call.on_body_error(GeneratorExit())  # a dropped iterator (maybe from the garbage collector)
    o = rec.outcome()
    assert (o.status, o.error, o.stream_outcome) == ("success", None, "cancelled")
    assert marker.get() == "http_429"


def test_a_stream_cut_mid_body_and_one_without_its_end() -> None:
    call, rec, marker = new_call()
    call.on_headers(200, {"content-type": "text/event-stream"})
    call.on_body_bytes(SSE[:120])
    call.on_body_error(OSError("reset"))
    assert (rec.outcome().error, rec.outcome().stream_outcome) == ("stream_interrupted", "interrupted")
    assert marker.get() == "stream_interrupted"  # read in the app's context: the SDK may retry it

    call, rec, _ = new_call()
    call.on_headers(200, {"content-type": "text/event-stream"})
    call.on_body_bytes(SSE[:120])
    call.on_eof()  # the body ended without a terminating event
    assert (rec.outcome().status, rec.outcome().stream_outcome) == ("error", "interrupted")


def test_a_parser_failure_loses_usage_not_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    call, rec, _ = new_call()
    call.on_headers(200, {"content-type": "text/event-stream"})

    def broken(data: bytes) -> bool:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(SseScanner, "feed", lambda self, data: broken(data))
    call.on_body_bytes(SSE)
    assert call.scanner is None  # switched off for the rest of the body
    call.on_eof()
    assert rec.outcome().usage is None


def test_an_unreadable_encoding_is_timed_not_parsed() -> None:
    call, rec, _ = new_call()
    call.on_headers(200, {"content-type": "application/json", "content-encoding": "compress"})
    assert call.scanner is None
    call.on_eof()
    assert (rec.outcome().status, rec.outcome().usage) == ("success", None)
