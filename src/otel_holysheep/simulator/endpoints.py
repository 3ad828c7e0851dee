"""Endpoint bodies: chat completions, legacy completions, embeddings, responses and models (JSON and SSE)."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from . import wire
from .transport import ChunkedWriter

if TYPE_CHECKING:
    from .handler import Plan, SimulatorHandler

__all__ = ["write_response"]

Event = tuple["str | None", dict[str, Any]]
_WRONG_MODEL = 12345


def _usage(plan: Plan, kind: str) -> Any:
    sc = plan.scenario
    if sc.wrong_shape:
        return "lots"
    if sc.no_usage:
        return None
    if kind == "responses":
        return plan.tokens.responses_usage()
    if kind == "embeddings":
        return {"prompt_tokens": plan.tokens.prompt, "total_tokens": plan.tokens.prompt}
    return plan.tokens.chat_usage()


def _model(plan: Plan) -> Any:
    return _WRONG_MODEL if plan.scenario.wrong_shape else plan.model


def write_response(handler: SimulatorHandler, plan: Plan) -> None:
    """Write the success response of ``plan.endpoint``."""
    writer = {
        "chat": _chat,
        "completions": _completions,
        "embeddings": _embeddings,
        "responses": _responses,
        "models": _models,
        "model": _models,
    }[plan.endpoint]
    writer(handler, plan)


def _send(handler: SimulatorHandler, plan: Plan, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode("utf-8")
    if plan.scenario.malformed:
        data = data[: max(1, len(data) // 2)]
    handler.send_json(200, data, dict(plan.headers), cut=plan.cut)


def _include_usage(plan: Plan) -> bool:
    options = plan.body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _chat(handler: SimulatorHandler, plan: Plan) -> None:
    rid, created, model = wire.new_id("chatcmpl-", 29), wire.now(), _model(plan)
    pieces = wire.words(plan.n_words)
    usage = _usage(plan, "chat")
    if not plan.stream:
        text = "".join(pieces)
        _send(handler, plan, wire.chat_completion(rid, model, text, plan.finish, usage, plan.scenario.tool_calls or 0))
        return
    head: list[Event] = [(None, wire.chat_chunk(rid, created, model, {"role": "assistant", "content": ""}, None))]
    role_only = plan.scenario.role_only_chunks or 0
    head += [(None, wire.chat_chunk(rid, created, model, {"content": ""}, None)) for _ in range(role_only)]
    body: list[Event] = [(None, wire.chat_chunk(rid, created, model, {"content": w}, None)) for w in pieces]
    for i in range(plan.scenario.tool_calls or 0):
        body += [(None, wire.chat_chunk(rid, created, model, d, None)) for d in wire.tool_call_deltas(rid, i)]
    tail: list[Event] = [(None, wire.chat_chunk(rid, created, model, {}, plan.finish))]
    if _include_usage(plan) and usage is not None:
        tail.append((None, wire.usage_chunk(rid, created, model, usage)))
    _stream(handler, plan, head, body, tail, done=True)


def _completions(handler: SimulatorHandler, plan: Plan) -> None:
    rid, created, model = wire.new_id("cmpl-", 29), wire.now(), _model(plan)
    pieces = wire.words(plan.n_words)
    usage = _usage(plan, "completions")
    if not plan.stream:
        _send(
            handler, plan, wire.text_completion(rid, created, model, "".join(pieces), finish=plan.finish, usage=usage)
        )
        return
    role_only = plan.scenario.role_only_chunks or 0
    head: list[Event] = [
        (None, wire.text_completion(rid, created, model, "", finish=None, usage=None)) for _ in range(role_only)
    ]
    body: list[Event] = [(None, wire.text_completion(rid, created, model, w, finish=None, usage=None)) for w in pieces]
    tail: list[Event] = [(None, wire.text_completion(rid, created, model, "", finish=plan.finish, usage=None))]
    if _include_usage(plan) and usage is not None:
        tail.append((None, wire.usage_chunk(rid, created, model, usage, obj="text_completion")))
    _stream(handler, plan, head, body, tail, done=True)


def _embeddings(handler: SimulatorHandler, plan: Plan) -> None:
    raw = plan.body.get("input", "")
    token_array = isinstance(raw, list) and all(isinstance(x, int) for x in raw)
    inputs = list(raw) if isinstance(raw, list) and raw and not token_array else [raw]
    dims = plan.body.get("dimensions")
    dims = dims if isinstance(dims, int) and 0 < dims <= 65536 else 1536
    encoding = "base64" if plan.body.get("encoding_format") == "base64" else "float"
    if plan.scenario.body_kib:
        per_value = 16 / 3 if encoding == "base64" else 11.0  # bytes of JSON per vector element
        dims = max(dims, math.ceil(plan.scenario.body_kib * 1024 / (len(inputs) * per_value)))
    _send(handler, plan, wire.embeddings(_model(plan), inputs, dims, encoding, _usage(plan, "embeddings")))


def _responses(handler: SimulatorHandler, plan: Plan) -> None:
    rid, created, model = wire.new_id("resp_", 32), wire.now(), _model(plan)
    pieces = wire.words(plan.n_words)
    text = "".join(pieces)
    usage = _usage(plan, "responses")
    # an answer cut at max_output_tokens (or a finish=length / content_filter directive) ends "incomplete"
    incomplete = wire.INCOMPLETE_REASONS.get(plan.finish)
    status = "incomplete" if incomplete else "completed"
    final = wire.response_object(rid, created, model, text, status=status, usage=usage, incomplete=incomplete)
    if not plan.stream:
        _send(handler, plan, final)
        return
    in_progress = wire.response_object(rid, created, model, "", status="in_progress", usage=None)
    item_id = final["output"][0]["id"]
    message = dict(final["output"][0])
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    loc = {"item_id": item_id, "output_index": 0, "content_index": 0}
    head: list[Event] = [
        ("response.created", {"response": in_progress}),
        ("response.in_progress", {"response": in_progress}),
        (
            "response.output_item.added",
            {"output_index": 0, "item": {**message, "status": "in_progress", "content": []}},
        ),
        ("response.content_part.added", {**loc, "part": part}),
    ]
    body: list[Event] = [("response.output_text.delta", {**loc, "delta": w, "logprobs": []}) for w in pieces]
    tail: list[Event] = [
        ("response.output_text.done", {**loc, "text": text, "logprobs": []}),
        ("response.content_part.done", {**loc, "part": {**part, "text": text}}),
        ("response.output_item.done", {"output_index": 0, "item": message}),
        (f"response.{status}", {"response": final}),
    ]
    for seq, (name, data) in enumerate((*head, *body, *tail)):
        data["type"] = name
        data["sequence_number"] = seq
    _stream(handler, plan, head, body, tail, done=False)


def _models(handler: SimulatorHandler, plan: Plan) -> None:
    path = handler.path.split("?", 1)[0].rstrip("/")
    if plan.endpoint == "models":
        handler.send_json(200, wire.models_list(), dict(plan.headers))
        return
    model_id = path[len("/v1/models/") :]
    owners = dict(wire.KNOWN_MODELS)
    if model_id not in owners:
        body = wire.error_body(404, f"The model '{model_id}' does not exist or you do not have access to it.")
        body["error"]["code"] = "model_not_found"
        handler.send_json(404, body, dict(plan.headers))
        return
    handler.send_json(200, wire.model_object(model_id, owners[model_id]), dict(plan.headers))


def _stream(
    handler: SimulatorHandler, plan: Plan, head: list[Event], body: list[Event], tail: list[Event], *, done: bool
) -> None:
    """Headers, then head events, ttft, body events one chunk_delay apart (cut/stall points), tail, [DONE]."""
    sc, sim = plan.scenario, handler.sim
    headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "Transfer-Encoding": "chunked"}
    if plan.encoding:
        headers["Content-Encoding"] = plan.encoding
    handler.begin(200, {**headers, **plan.headers})
    writer = ChunkedWriter(
        handler.wfile,
        handler.connection,
        encoding=plan.encoding,
        crlf=sc.sse_crlf,
        comments=sc.sse_comments,
        split=sc.split_events,
    )
    first = True

    def emit(name: str | None, data: dict[str, Any]) -> None:
        nonlocal first
        text = json.dumps(data)
        if first and sc.malformed:
            text = text[: len(text) // 2]
        first = False
        writer.event(text, name)

    for name, data in head:
        emit(name, data)
    stop_at = min((x for x in (plan.cut_after, plan.stall_after) if x is not None), default=None)
    if not sim.sleep(plan.ttft):
        stop_at = -1
    for i, (name, data) in enumerate(body):
        if i == stop_at:
            break
        if i and not sim.sleep(plan.chunk_delay):
            stop_at = -1
            break
        emit(name, data)
    if stop_at is not None and stop_at <= len(body):
        if stop_at >= 0 and stop_at == plan.stall_after and stop_at != plan.cut_after:
            sim.stall(handler.connection)
        handler.close_connection = True
        writer.cut()
        return
    for name, data in tail:
        emit(name, data)
    if done:
        writer.event("[DONE]")
    writer.finish()
