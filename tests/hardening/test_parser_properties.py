"""Property-based tests: the SSE and JSON usage parsers, fed arbitrary bytes split at arbitrary points."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_holysheep._parsing import (
    FULL_PARSE_BYTES,
    HEAD_BYTES,
    MAX_SSE_LINE,
    TAIL_BYTES,
    JsonScanner,
    ResponseInfo,
    SseScanner,
    parse_request,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def summary(info: ResponseInfo) -> tuple[object, ...]:
    return (
        info.usage,
        info.response_id,
        info.response_model,
        tuple(info.finish_reasons),
        info.terminal,
        info.content_chunks,
        info.malformed,
        info.error,
    )


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for point in points:
        pieces.append(data[last:point])
        last = point
    pieces.append(data[last:])
    return pieces


def sse_event(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["content", "role", "finish", "usage", "done", "comment", "garbage", "responses"]))
    nl = draw(st.sampled_from([b"\n", b"\r\n"]))
    text = draw(st.text(max_size=12))
    if kind == "content":
        obj = {"id": "c", "model": "m", "choices": [{"delta": {"content": text}}]}
    elif kind == "role":
        obj = {"id": "c", "choices": [{"delta": {"role": "assistant", "content": ""}}]}
    elif kind == "finish":
        obj = {"choices": [{"delta": {}, "finish_reason": draw(st.sampled_from(["stop", "length"]))}]}
    elif kind == "usage":
        obj = {
            "choices": [],
            "usage": {"prompt_tokens": draw(st.integers(0, 10**6)), "completion_tokens": draw(st.integers(0, 10**6))},
        }
    elif kind == "responses":
        obj = {"type": "response.output_text.delta", "delta": text}
    elif kind == "done":
        return b"data: [DONE]" + nl + nl
    elif kind == "comment":
        return b": " + text.encode() + nl + nl
    else:
        return draw(st.binary(max_size=40))
    return b"data: " + json.dumps(obj).encode() + nl + nl


@st.composite
def sse_streams(draw: st.DrawFn) -> bytes:
    return b"".join(sse_event(draw) for _ in range(draw(st.integers(0, 12))))


@FAST
@given(sse_streams(), st.lists(st.integers(0, 10**6), max_size=20))
def test_sse_split_anywhere_equals_one_piece(data: bytes, cuts: list[int]) -> None:
    whole = SseScanner()
    first_whole = whole.feed(data)
    expected = summary(whole.finish())
    pieces = SseScanner()
    firsts = [pieces.feed(piece) for piece in split(data, cuts)]
    assert summary(pieces.finish()) == expected
    assert any(firsts) == first_whole
    assert sum(firsts) <= 1


@FAST
@given(st.binary(max_size=3000), st.lists(st.integers(0, 10**6), max_size=20))
def test_sse_arbitrary_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    scanner = SseScanner()
    for piece in split(data, cuts):
        scanner.feed(piece)
        assert len(scanner._pending) <= MAX_SSE_LINE + len(piece)
    scanner.finish()


@FAST
@given(st.binary(max_size=3000), st.lists(st.integers(0, 10**6), max_size=20))
def test_json_arbitrary_bytes_never_raise_and_split_is_irrelevant(data: bytes, cuts: list[int]) -> None:
    whole = JsonScanner()
    whole.feed(data)
    pieces = JsonScanner()
    for piece in split(data, cuts):
        pieces.feed(piece)
    assert summary(pieces.finish()) == summary(whole.finish())


@settings(max_examples=25, deadline=None)
@given(
    st.integers(FULL_PARSE_BYTES, 6 * FULL_PARSE_BYTES),
    st.integers(1, 70000),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)
def test_json_large_bodies_bounded_and_usage_found(size: int, piece: int, prompt: int, completion: int) -> None:
    body = json.dumps(
        {
            "id": "x",
            "data": ["a" * 64] * (size // 68),
            "model": "m",
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
        }
    ).encode()
    scanner = JsonScanner()
    for i in range(0, len(body), piece):
        scanner.feed(body[i : i + piece])
        if scanner._parts is None:
            assert len(scanner._head) <= HEAD_BYTES
            assert len(scanner._tail) <= 2 * TAIL_BYTES + piece
    info = scanner.finish()
    assert info.usage is not None
    assert (info.usage.prompt, info.usage.completion) == (prompt, completion)
    assert info.response_model == "m"


@FAST
@given(st.binary(max_size=2000))
def test_parse_request_never_raises(data: bytes) -> None:
    info = parse_request(data)
    assert info.model is None or len(info.model) <= 256
