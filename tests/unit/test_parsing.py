"""Pure parser tests: request fields, JSON usage, SSE streams, decoding."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

from otel_holysheep._parsing import (
    FULL_PARSE_BYTES,
    JsonScanner,
    SseScanner,
    Usage,
    add_stream_usage_option,
    decoder_for,
    parse_request,
    request_messages,
    usage_from_object,
)

CHAT_STREAM = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"gpt-4.1-2025-04-14",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}\n\n'
    b'data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}],'
    b'"usage":null}\n\n'
    b'data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":" there"},"finish_reason":null}],'
    b'"usage":null}\n\n'
    b'data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n'
    b'data: {"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":2,'
    b'"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":1}}}\n\n'
    b"data: [DONE]\n\n"
)


def _feed_all(scanner: SseScanner, pieces: list[bytes]) -> list[int]:
    return [i for i, piece in enumerate(pieces) if scanner.feed(piece)]


def test_parse_request_reads_model_stream_and_include_usage() -> None:
    body = json.dumps(
        {
            "messages": [{"role": "user", "content": 'say "model": "x"'}],
            "model": "gpt-4.1",
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    info = parse_request(body)
    assert info.model == "gpt-4.1"
    assert info.stream is True
    assert info.has_include_usage is True
    assert parse_request(b'{"model":"m"}') == ("m", False, False)
    assert parse_request(b"not json") == (None, False, False)


def test_add_stream_usage_option() -> None:
    body = b'{"model":"gpt-4.1","stream":true,"messages":[]}'
    added = add_stream_usage_option(body)
    assert added is not None
    assert json.loads(added)["stream_options"] == {"include_usage": True}
    assert json.loads(add_stream_usage_option(b'{"stream_options":{"x":1}}') or b"")["stream_options"] == {
        "x": 1,
        "include_usage": True,
    }
    assert add_stream_usage_option(b'{"stream_options":{"include_usage":false}}') is None
    assert add_stream_usage_option(b"[1]") is None
    assert add_stream_usage_option(b"{bad") is None


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}, Usage(3, 4, None, None)),
        ({"prompt_tokens": 5, "total_tokens": 5}, Usage(5, None, None, None)),  # embeddings
        (
            {
                "input_tokens": 9,
                "output_tokens": 2,
                "input_tokens_details": {"cached_tokens": 8},
                "output_tokens_details": {"reasoning_tokens": 1},
            },
            Usage(9, 2, 8, 1),
        ),  # Responses API
        (
            {
                "prompt_tokens": 3,
                "completion_tokens": 4,
                "prompt_tokens_details": {"cached_tokens": 2},
                "completion_tokens_details": {"reasoning_tokens": 3},
            },
            Usage(3, 4, 2, 3),
        ),
        ("lots", None),
        ({"prompt_tokens": "3", "completion_tokens": -1}, None),
        ({"prompt_tokens": 10**12, "completion_tokens": True}, None),
        ({"prompt_tokens": 3, "prompt_tokens_details": "x"}, Usage(3, None, None, None)),
        (None, None),
        # cache writes (OpenAI-compatible gateways' details, or Anthropic-style counts) and the gateway's own cost
        (
            {
                "prompt_tokens": 9,
                "completion_tokens": 1,
                "prompt_tokens_details": {"cached_tokens": 2, "cache_write_tokens": 5},
                "cost": 0.0123,
            },
            Usage(9, 1, 2, None, 5, 0.0123),
        ),
        (
            {"input_tokens": 9, "output_tokens": 1, "input_tokens_details": {"cache_write_tokens": 4}, "cost": 2},
            Usage(9, 1, None, None, 4, 2.0),
        ),  # Responses API
        (
            {
                "prompt_tokens": 9,
                "completion_tokens": 1,
                "cache_creation_input_tokens": 6,
                "cache_read_input_tokens": 3,
            },
            Usage(9, 1, 3, None, 6, None),
        ),
        (
            {
                "prompt_tokens": 9,
                "prompt_tokens_details": {"cached_tokens": 1, "cache_write_tokens": 2},
                "cache_creation_input_tokens": 7,
                "cache_read_input_tokens": 8,
            },
            Usage(9, None, 1, None, 2, None),
        ),
        ({"prompt_tokens": 1, "cost": "0.5"}, Usage(1, None)),
        ({"prompt_tokens": 1, "cost": -0.5}, Usage(1, None)),
        ({"prompt_tokens": 1, "cost": True}, Usage(1, None)),
        ({"prompt_tokens": 1, "cost": 1e300}, Usage(1, None)),
        ({"prompt_tokens": 1, "cache_creation_input_tokens": -2}, Usage(1, None)),
    ],
)
def test_usage_from_object(usage: object, expected: Usage | None) -> None:
    assert usage_from_object(usage) == expected


def test_sse_chat_stream_in_one_piece() -> None:
    scanner = SseScanner()
    assert scanner.feed(CHAT_STREAM) is True
    info = scanner.finish()
    assert info.usage == Usage(12, 2, 4, 1)
    assert info.response_id == "chatcmpl-1"
    assert info.response_model == "gpt-4.1-2025-04-14"
    assert info.finish_reasons == ["stop"]
    assert info.terminal is True
    assert info.content_chunks == 2


def test_sse_first_content_is_not_the_role_chunk() -> None:
    events = CHAT_STREAM.split(b"\n\n")
    scanner = SseScanner()
    flags = [scanner.feed(event + b"\n\n") for event in events if event]
    assert flags.index(True) == 1  # the role-only chunk with empty content is not a token
    assert flags.count(True) == 1


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_sse_split_anywhere_gives_the_same_result(size: int) -> None:
    whole = SseScanner()
    whole.feed(CHAT_STREAM)
    expected = whole.finish()
    pieces = [CHAT_STREAM[i : i + size] for i in range(0, len(CHAT_STREAM), size)]
    split = SseScanner()
    assert len(_feed_all(split, pieces)) == 1
    got = split.finish()
    assert (got.usage, got.response_id, got.response_model, got.finish_reasons, got.terminal, got.content_chunks) == (
        expected.usage,
        expected.response_id,
        expected.response_model,
        expected.finish_reasons,
        expected.terminal,
        expected.content_chunks,
    )


def test_sse_crlf_comments_and_multiline_data() -> None:
    text = CHAT_STREAM.replace(b"\n", b"\r\n").replace(b"data: [DONE]", b": keep-alive\r\n\r\ndata: [DONE]")
    scanner = SseScanner()
    scanner.feed(text)
    info = scanner.finish()
    assert info.usage == Usage(12, 2, 4, 1)
    assert info.terminal
    multi = b'data: {"id":"a","choices":\ndata: [{"delta":{"content":"x"}}]}\n\n'
    scanner = SseScanner()
    assert scanner.feed(multi) is True


def test_sse_truncated_stream_is_not_terminal() -> None:
    cut = CHAT_STREAM[: CHAT_STREAM.index(b"data: [DONE]")]
    scanner = SseScanner()
    scanner.feed(cut[:-30])
    info = scanner.finish()
    assert info.terminal is False
    assert info.usage is None


def test_sse_final_event_without_blank_line_still_counts() -> None:
    scanner = SseScanner()
    scanner.feed(CHAT_STREAM.rstrip(b"\n"))
    assert scanner.finish().terminal is True


def test_sse_over_long_line_is_dropped_not_buffered() -> None:
    scanner = SseScanner()
    huge = b'data: {"choices":[{"delta":{"content":"' + b"x" * (2 * 1024 * 1024)
    for i in range(0, len(huge), 65536):
        scanner.feed(huge[i : i + 65536])
        assert len(scanner._pending) <= 1024 * 1024 + 65536
    scanner.feed(b'"}}]}\n\n' + CHAT_STREAM)
    info = scanner.finish()
    assert info.usage == Usage(12, 2, 4, 1)


def test_sse_responses_api_stream() -> None:
    completed = {
        "type": "response.completed",
        "response": {
            "id": "resp_1",
            "object": "response",
            "model": "gpt-4.1",
            "status": "completed",
            "usage": {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10},
        },
    }
    text = (
        b'event: response.created\ndata: {"type":"response.created","response":{"id":"resp_1","object":"response",'
        b'"model":"gpt-4.1","status":"in_progress"}}\n\n'
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"Hi"}\n\n'
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"!"}\n\n'
        b"event: response.completed\ndata: " + json.dumps(completed).encode() + b"\n\n"
    )
    scanner = SseScanner()
    assert scanner.feed(text) is True
    info = scanner.finish()
    assert info.usage == Usage(7, 3, None, None)
    assert info.terminal is True
    assert info.response_id == "resp_1"
    assert info.finish_reasons == ["completed"]
    assert info.content_chunks == 2


def test_sse_legacy_completions_text() -> None:
    scanner = SseScanner()
    assert scanner.feed(b'data: {"id":"c","choices":[{"text":"hi","index":0}]}\n\n') is True


def test_sse_garbage_never_raises() -> None:
    scanner = SseScanner()
    for piece in (b"\xff\xfe\x00\n", b"data: {not json}\n\n", b"data: 42\n\n", b"event: \xff\n\n", b"\r\r\n\n"):
        scanner.feed(piece)
    info = scanner.finish()
    assert info.malformed is True
    assert info.usage is None


def test_json_small_body() -> None:
    body = json.dumps(
        {
            "id": "chatcmpl-9",
            "model": "deepseek-v3.2",
            "choices": [{"finish_reason": "length", "message": {"content": "x"}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2},
        }
    ).encode()
    scanner = JsonScanner()
    scanner.feed(body[:10])
    scanner.feed(body[10:])
    info = scanner.finish()
    assert info.usage == Usage(1, 2, None, None)
    assert (info.response_id, info.response_model, info.finish_reasons) == ("chatcmpl-9", "deepseek-v3.2", ["length"])


def test_json_large_body_uses_head_and_tail() -> None:
    vectors = [{"object": "embedding", "index": i, "embedding": [0.123456] * 300} for i in range(200)]
    body = json.dumps(
        {
            "object": "list",
            "data": vectors,
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 321, "total_tokens": 321},
        }
    ).encode()
    assert len(body) > 4 * FULL_PARSE_BYTES
    scanner = JsonScanner()
    for i in range(0, len(body), 4096):
        scanner.feed(body[i : i + 4096])
        assert len(scanner._tail) <= 2 * 64 * 1024 + 4096
    info = scanner.finish()
    assert info.usage == Usage(321, None, None, None)
    assert info.response_model == "text-embedding-3-small"


@pytest.mark.parametrize("body", [b'{"id": "chatcmpl-x", "model": ', b"\xff\xfe", b"", b'{"usage": "lots"}'])
def test_json_malformed_or_wrong_shape(body: bytes) -> None:
    scanner = JsonScanner()
    scanner.feed(body)
    info = scanner.finish()
    assert info.usage is None


def test_decoders() -> None:
    payload = b'{"usage":{"prompt_tokens":1}}' * 100
    for encoding, data in (
        ("gzip", gzip.compress(payload)),
        ("deflate", zlib.compress(payload)),
        ("deflate", zlib.compress(payload)[2:-4]),
    ):
        decoder = decoder_for(encoding)
        assert decoder is not None
        out = b"".join(decoder.decompress(data[i : i + 17]) for i in range(0, len(data), 17))
        assert out == payload
    assert decoder_for("identity") is None
    assert decoder_for("br") is not None
    assert decoder_for("zstd") is not None


def test_request_messages_capped() -> None:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 100}]}).encode()
    text = request_messages(body, 40)
    assert text is not None
    assert len(text) == 40
    assert text.endswith("\u2026")
    assert request_messages(b"nope", 40) is None


def _chunk(choices: list[dict[str, object]]) -> bytes:
    return b"data: " + json.dumps({"id": "c", "choices": choices}).encode() + b"\n\n"


def _tool_delta(choice: int, index: int, **call: object) -> dict[str, object]:
    return {"index": choice, "delta": {"tool_calls": [{"index": index, **call}]}, "finish_reason": None}


def test_sse_tool_call_fragments_count_once_per_index_and_choice() -> None:
    stream = [
        _chunk([{"index": 0, "delta": {"content": "Let me check."}, "finish_reason": None}]),
        _chunk([_tool_delta(0, 0, id="call_a", type="function", function={"name": "f", "arguments": ""})]),
        _chunk([_tool_delta(0, 0, function={"arguments": '{"a":'}), _tool_delta(1, 0, id="call_b")]),
        _chunk([_tool_delta(0, 0, function={"arguments": "1}"})]),
        _chunk([_tool_delta(0, 1, id="call_c", function={"name": "g", "arguments": "{}"})]),
        _chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
        _chunk([{"index": 1, "delta": {}, "finish_reason": "tool_calls"}]),
        b"data: [DONE]\n\n",
    ]
    # capture parses every event in full; without it, OpenAI-shaped fragments are read from their bytes
    for capture in (False, True):
        for separators in ((", ", ": "), (",", ":")):
            scanner = SseScanner(capture)
            for piece in stream:
                if piece.startswith(b"data: {"):
                    event = json.dumps(json.loads(piece[6:]), separators=separators).encode()
                    scanner.feed(b"data: " + event + b"\n\n")
                else:
                    scanner.feed(piece)
            info = scanner.finish()
            assert info.tool_calls == {(0, 0), (0, 1), (1, 0)}, (capture, separators)
            assert info.finish_reasons == ["tool_calls", "tool_calls"]
            assert info.content_chunks == 5


def test_sse_a_repeated_finish_reason_counts_once_the_last_wins() -> None:
    """Some gateways repeat the finish reason on the usage chunk: one choice, one finish."""
    scanner = SseScanner()
    scanner.feed(CHAT_STREAM.replace(b'"choices":[],"usage"', b'"choices":[{"index":0,"delta":{},'
                                     b'"finish_reason":"length"}],"usage"'))  # fmt: skip
    assert scanner.finish().finish_reasons == ["length"]


@pytest.mark.parametrize(
    "choice",
    [
        {"index": 0, "finish_reason": None, "message": {"content": "x", "tool_calls": None}},
        {"index": 0, "finish_reason": 7, "message": {"tool_calls": "many"}},
        {"index": 0, "finish_reason": "", "message": {"tool_calls": [1, "x", None]}},
        {"index": "zero", "finish_reason": ["stop"], "message": "not an object"},
    ],
)
def test_json_malformed_finish_reasons_and_tool_calls_yield_nothing(choice: dict[str, object]) -> None:
    scanner = JsonScanner()
    scanner.feed(json.dumps({"id": "c", "choices": [choice]}).encode())
    info = scanner.finish()
    assert (info.finish_reasons, info.tool_calls) == ([], set())


def test_json_tool_calls_and_choices() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    body = {
        "choices": [
            {"index": 0, "finish_reason": "tool_calls", "message": {"content": None, "tool_calls": [call, call]}},
            {"index": 1, "finish_reason": "stop", "message": {"content": "done"}},
        ]
    }
    scanner = JsonScanner()
    scanner.feed(json.dumps(body).encode())
    info = scanner.finish()
    assert (info.finish_reasons, len(info.tool_calls)) == (["tool_calls", "stop"], 2)


def test_responses_api_function_call_items_are_tool_calls() -> None:
    body = {
        "object": "response",
        "status": "completed",
        "output": [
            {"type": "reasoning", "summary": []},
            {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "call_2", "name": "g", "arguments": "{}"},
        ],
    }
    scanner = JsonScanner()
    scanner.feed(json.dumps(body).encode())
    info = scanner.finish()
    assert (info.finish_reasons, len(info.tool_calls)) == (["completed"], 2)


def test_tool_calls_are_bounded() -> None:
    calls = [{"index": i, "id": f"call_{i}"} for i in range(1000)]
    scanner = SseScanner()
    scanner.feed(_chunk([{"index": 0, "delta": {"tool_calls": calls}, "finish_reason": None}]))
    assert len(scanner.finish().tool_calls) == 128
