"""The benchmark cases. Each returns a JSON-able dict; ``__main__`` prints them and checks the targets."""

from __future__ import annotations

import asyncio
import json
import statistics
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from benchmarks import _fakes as f
from benchmarks import _setup as s
from benchmarks._harness import Timing, Variant, interleaved, nothing

JSON_HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
CHAT_BODY = json.dumps(f.CHAT_REQUEST, separators=(",", ":")).encode()
STREAM_BODY = json.dumps(
    {**f.CHAT_REQUEST, "stream": True, "stream_options": {"include_usage": True}}, separators=(",", ":")
).encode()


def _summary(timings: dict[str, Timing], per: str = "request", scale: float = 1e6) -> dict[str, Any]:
    """Medians per variant; the overhead is paired: the median over rounds of (variant - plain in the same round).

    Each round runs every variant back to back, so a slow spell of the machine (other processes) shifts a round's
    variants together; pairing cancels it, where a difference of medians taken over different rounds would not.
    """
    plain = timings["plain"]
    rows = {}
    for name, t in timings.items():
        rows[name] = {
            f"cpu_us_per_{per}": t.cpu_median * scale,
            f"wall_us_per_{per}": t.wall_median * scale,
            "overhead_cpu_us": statistics.median(a - b for a, b in zip(t.cpu, plain.cpu, strict=True)) * scale,
            "overhead_wall_us": statistics.median(a - b for a, b in zip(t.wall, plain.wall, strict=True)) * scale,
            "overhead_cpu_us_unpaired": (t.cpu_median - plain.cpu_median) * scale,
            "rounds_cpu_us": [round(x * scale, 3) for x in t.cpu],
        }
    return rows


def _spans_per_request(p: s.Providers, variants: list[Variant]) -> dict[str, float]:
    """Sanity: each variant really produced telemetry (spans per request, after one warm request)."""
    out = {}
    for v in variants:
        with v.setup():
            before = p.spans_exported()
            v.run(10)
            out[v.name] = (p.spans_exported() - before) / 10
    return out


def per_request(p: s.Providers, module_name: str, rounds: int, iterations: int) -> dict[str, Any]:
    """Non-streaming chat completion through a real client and transport over the fake pool."""
    module = __import__(module_name)
    client = module.Client(transport=f.transport(module_name, f.chat_json()))

    def run(n: int) -> None:
        post = client.post
        for _ in range(n):
            post(f.CHAT_URL, content=CHAT_BODY, headers=JSON_HEADERS)

    generic, hs = s.generic_httpx(p, module_name), s.holysheep(p)
    variants = [
        Variant("plain", nothing, run),
        Variant("generic-httpx", generic, run),
        Variant("otel-holysheep", hs, run),
        Variant("both", s.combined(generic, hs), run),
    ]
    timings = interleaved(variants, iterations, rounds, warmup=max(50, iterations // 10))
    result = {"variants": _summary(timings), "spans_per_request": _spans_per_request(p, variants)}
    client.close()
    return result


def decomposition(p: s.Providers, rounds: int, iterations: int) -> dict[str, Any]:
    """Where each instrumentation's overhead goes: its own code (no-op tracer and meter), tracing, metrics."""
    import httpx  # noqa: PLC0415
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor  # noqa: PLC0415
    from opentelemetry.metrics import NoOpMeterProvider  # noqa: PLC0415
    from opentelemetry.trace import NoOpTracerProvider  # noqa: PLC0415

    from otel_holysheep import HolySheepInstrumentor  # noqa: PLC0415

    client = httpx.Client(transport=f.transport("httpx", f.chat_json()))

    def run(n: int) -> None:
        post = client.post
        for _ in range(n):
            post(f.CHAT_URL, content=CHAT_BODY, headers=JSON_HEADERS)

    tracers = {"sdk": p.tracer_provider, "noop": NoOpTracerProvider()}
    meters = {"sdk": p.meter_provider, "noop": NoOpMeterProvider()}
    variants = [Variant("plain", nothing, run)]
    for short, cls in (("holysheep", HolySheepInstrumentor), ("generic", HTTPXClientInstrumentor)):
        for tracer, meter in (("sdk", "sdk"), ("sdk", "noop"), ("noop", "sdk"), ("noop", "noop")):
            setup = s._instrumented(cls(), tracer_provider=tracers[tracer], meter_provider=meters[meter])
            variants.append(Variant(f"{short} T={tracer} M={meter}", setup, run))
    timings = interleaved(variants, iterations, rounds, warmup=max(50, iterations // 10))
    client.close()
    rows = _summary(timings)
    split = {}
    for short in ("holysheep", "generic"):
        full = rows[f"{short} T=sdk M=sdk"]["overhead_cpu_us"]
        own = rows[f"{short} T=noop M=noop"]["overhead_cpu_us"]
        split[short] = {
            "total_us": full,
            "own_code_us": own,
            "tracing_us": full - rows[f"{short} T=noop M=sdk"]["overhead_cpu_us"],
            "metrics_us": full - rows[f"{short} T=sdk M=noop"]["overhead_cpu_us"],
        }
    return {"variants": rows, "split": split}


@contextmanager
def _reverted(obj: Any, name: str, old: Any) -> Iterator[None]:
    """Temporarily put back the code an optimisation replaced (the before side of an in-process A/B)."""
    current = getattr(obj, name)
    setattr(obj, name, old)
    try:
        yield
    finally:
        setattr(obj, name, current)


def optimisations(p: s.Providers, rounds: int, iterations: int) -> dict[str, Any]:
    """Each optimisation against its own before, in the same run: the JSON chat request through httpx."""
    import httpx  # noqa: PLC0415

    from otel_holysheep import _httpx  # noqa: PLC0415

    client = httpx.Client(transport=f.transport("httpx", f.chat_json()))

    def run(n: int) -> None:
        post = client.post
        for _ in range(n):
            post(f.CHAT_URL, content=CHAT_BODY, headers=JSON_HEADERS)

    hs = s.holysheep(p)
    # Before "one pass over the response headers": every look-up went through Headers.get (a scan of all headers
    # each, raising and catching KeyError for an absent one). The identity puts the Headers object back.
    before_headers = s.combined(hs, lambda: _reverted(_httpx, "wanted_headers", lambda headers: headers))
    variants = [
        Variant("plain", nothing, run),
        Variant("otel-holysheep", hs, run),
        Variant("before: header look-ups", before_headers, run),
    ]
    timings = interleaved(variants, iterations, rounds, warmup=max(50, iterations // 10))
    client.close()
    return {"variants": _summary(timings)}


# What each change of the series cut bought, in one run: the recording before (gen_ai.* on, time to headers for every
# response: 5 histogram records per JSON chat request), each documented setting alone, and the defaults (1 record).
SETTINGS_VARIANTS = {
    "before: GENAI_METRICS=true, TIME_TO_HEADERS=all": {
        "OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS": "true",
        "OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS": "all",
    },
    "GENAI_METRICS=true": {"OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS": "true"},
    "TIME_TO_HEADERS=all": {"OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS": "all"},
}


def settings(p: s.Providers, rounds: int, iterations: int) -> dict[str, Any]:
    """The JSON chat request through httpx with the defaults, each recording setting, and the generic peer."""
    import httpx  # noqa: PLC0415

    client = httpx.Client(transport=f.transport("httpx", f.chat_json()))

    def run(n: int) -> None:
        post = client.post
        for _ in range(n):
            post(f.CHAT_URL, content=CHAT_BODY, headers=JSON_HEADERS)

    variants = [
        Variant("plain", nothing, run),
        Variant("generic-httpx", s.generic_httpx(p, "httpx"), run),
        Variant("otel-holysheep", _env_instrumented(p), run),
    ]
    variants += [Variant(name, _env_instrumented(p, **env), run) for name, env in SETTINGS_VARIANTS.items()]
    timings = interleaved(variants, iterations, rounds, warmup=max(50, iterations // 10))
    client.close()
    return {"variants": _summary(timings)}


AA_CONTROL = "defaults again (A/A control)"
ATTRIBUTION_ENV = {"OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION": "route,baggage.team"}


def attribution(p: s.Providers, rounds: int, iterations: int) -> dict[str, Any]:
    """The JSON chat request through httpx as a web app makes it: each one inside its own SERVER span with
    ``http.route``, with W3C baggage ``team``; the defaults against ``ATTRIBUTION=route,baggage.team``. Twice: with the
    server span current when the call starts, and under a child span (an INTERNAL span of the app's, as the
    requests instrumentation's or a GenAI instrumentation's span would be), where the route is found through the span
    processor that follows the server spans. The attributed variant has a tracer provider of its own: the processor
    it adds stays on its provider, and the defaults' spans must not pay for it."""
    import httpx  # noqa: PLC0415

    client = httpx.Client(transport=f.transport("httpx", f.chat_json()))
    attributed = p.own_tracer_provider()

    def make_run(providers: s.Providers, child: bool) -> Any:
        return web_requests(providers.tracer_provider.get_tracer("bench-app"), client, child)

    out: dict[str, Any] = {}
    for name, child in (("server_span", False), ("child_span", True)):
        run = make_run(p, child)
        variants = [
            Variant("plain", nothing, run),
            Variant("otel-holysheep", _env_instrumented(p), run),
            Variant(
                "ATTRIBUTION=route,baggage.team",
                _env_instrumented(attributed, **ATTRIBUTION_ENV),
                make_run(attributed, child),
            ),
            # A/A control: the defaults again; its difference to the defaults is what the harness calls noise
            Variant(AA_CONTROL, _env_instrumented(p), run),
        ]
        timings = interleaved(variants, iterations, rounds, warmup=max(50, iterations // 10))
        out[name] = {"variants": _summary(timings)}
    client.close()
    return out


def chat_requests(client: Any, body_keyword: str) -> Any:
    """``run(n)``: ``n`` JSON chat completions through ``client.post``, the body passed as ``body_keyword``
    (``data`` for a ``requests.Session``, ``content`` for an ``httpx.Client``), each response parsed."""
    post = client.post
    body = {body_keyword: CHAT_BODY}

    def run(n: int) -> None:
        for _ in range(n):
            post(f.CHAT_URL, headers=JSON_HEADERS, **body).json()

    return run


def web_requests(tracer: Any, client: Any, child: bool) -> Any:
    """``run(n)``: ``n`` JSON chat requests through the httpx ``client``, each inside its own SERVER span with
    ``http.route`` and W3C baggage ``team``, as a web app makes them; with ``child``, under an INTERNAL span of the
    app's inside the server span."""
    from opentelemetry import baggage  # noqa: PLC0415
    from opentelemetry import context as otel_context  # noqa: PLC0415
    from opentelemetry.trace import SpanKind  # noqa: PLC0415

    route = {"http.route": "/chat/{thread_id}"}

    def run(n: int) -> None:
        post, start = client.post, tracer.start_as_current_span
        token = otel_context.attach(baggage.set_baggage("team", "search"))
        try:
            for _ in range(n):
                with start("POST /chat/{thread_id}", kind=SpanKind.SERVER, attributes=route):
                    if child:
                        with start("answer"):
                            post(f.CHAT_URL, content=CHAT_BODY, headers=JSON_HEADERS)
                    else:
                        post(f.CHAT_URL, content=CHAT_BODY, headers=JSON_HEADERS)
        finally:
            otel_context.detach(token)

    return run


def _env_instrumented(p: s.Providers, **env: str) -> Any:
    @contextmanager
    def on() -> Iterator[None]:
        with s.settings_environment(env), s.holysheep(p)():
            yield

    return on


def openai_sdk(p: s.Providers, rounds: int, iterations: int) -> dict[str, Any]:
    """``client.chat.completions.create`` with openai 3.x over httpx2 and the fake pool."""
    import httpx2  # noqa: PLC0415
    import openai  # noqa: PLC0415

    http_client = httpx2.Client(transport=f.transport("httpx2", f.chat_json()))
    client = openai.OpenAI(api_key="sk-bench", base_url=f.GATEWAY, http_client=http_client, max_retries=0)
    messages: Any = f.CHAT_REQUEST["messages"]

    def run(n: int) -> None:
        create = client.chat.completions.create
        for _ in range(n):
            create(model=f.MODEL, messages=messages)

    variants = [Variant("plain", nothing, run), Variant("otel-holysheep", s.holysheep(p), run)]
    official = s.official_openai(p)
    if official is not None:
        variants.insert(1, Variant("official-openai", official, run))
    timings = interleaved(variants, iterations, rounds, warmup=max(50, iterations // 10))
    result = {
        "openai": openai.__version__,
        "variants": _summary(timings),
        "spans_per_request": _spans_per_request(p, variants),
    }
    client.close()
    return result


def not_gateway(p: s.Providers, rounds: int, iterations: int) -> dict[str, Any]:
    """What every other HTTP call of the application pays: end to end, and each library's wrapper alone."""
    import httpx  # noqa: PLC0415
    import requests  # noqa: PLC0415

    from otel_holysheep import _aiohttp, _httpx, _requests  # noqa: PLC0415

    client = httpx.Client(transport=f.transport("httpx", f.chat_json()))
    session = f.requests_session(f.chat_json())

    def run(n: int) -> None:
        get = client.get
        for _ in range(n):
            get(f.OTHER_URL)

    def run_requests(n: int) -> None:
        get = session.get
        for _ in range(n):
            get(f.OTHER_URL)

    hs = s.holysheep(p)
    e2e = interleaved(
        [Variant("plain", nothing, run), Variant("otel-holysheep", hs, run)], iterations, rounds, warmup=200
    )
    e2e_requests = interleaved(
        [Variant("plain", nothing, run_requests), Variant("otel-holysheep", hs, run_requests)],
        iterations,
        rounds,
        warmup=200,
    )

    # Each wrapper alone, around a no-op original: the exact cost added to a request that is not the gateway's.
    def original(*_args: Any, **_kwargs: Any) -> None:
        return None

    async def original_async(*_args: Any, **_kwargs: Any) -> None:
        return None

    request = client.build_request("GET", f.OTHER_URL)
    prepared = requests.Request("GET", f.OTHER_URL).prepare()
    flavor: Any = None  # never reached for a URL that is not the gateway's
    calls = {
        "httpx": (original, _httpx._sync_wrapper(original, flavor), (client, request), {}),
        "requests": (original, _requests._wrapper(original, flavor), (None, prepared), {"timeout": 5}),
        "aiohttp": (original_async, _aiohttp._wrapper(original_async, flavor), (None, "GET", f.OTHER_URL), {}),
    }
    micro = {}
    for library, (plain_fn, wrapped_fn, args, kwargs) in calls.items():
        is_async = library == "aiohttp"

        def make(fn: Any, is_async: bool = is_async, args: Any = args, kwargs: Any = kwargs) -> Any:
            def run_fn(n: int) -> None:
                for _ in range(n):
                    if is_async:  # drive the coroutine by hand: no event loop cost on either side
                        with suppress(StopIteration):
                            fn(*args, **kwargs).send(None)
                    else:
                        fn(*args, **kwargs)

            return run_fn

        micro[library] = _summary(
            interleaved(
                [Variant("plain", nothing, make(plain_fn)), Variant("otel-holysheep", hs, make(wrapped_fn))],
                iterations * 20,
                rounds,
                warmup=1000,
            )
        )
    client.close()
    session.close()
    return {
        "end_to_end": _summary(e2e),
        "end_to_end_requests": _summary(e2e_requests),
        "wrapper_only": micro["httpx"],
        "wrapper_only_requests": micro["requests"],
        "wrapper_only_aiohttp": micro["aiohttp"],
    }


def _paired(timings: dict[str, Timing], baselines: dict[str, str]) -> dict[str, Any]:
    """Like ``_summary`` (paired per-round overheads), each variant's against its own library's plain variant."""
    rows = {}
    for name, t in timings.items():
        plain = timings[baselines[name]]
        rows[name] = {
            "cpu_us_per_request": t.cpu_median * 1e6,
            "wall_us_per_request": t.wall_median * 1e6,
            "overhead_cpu_us": statistics.median(a - b for a, b in zip(t.cpu, plain.cpu, strict=True)) * 1e6,
            "overhead_wall_us": statistics.median(a - b for a, b in zip(t.wall, plain.wall, strict=True)) * 1e6,
            "overhead_cpu_us_unpaired": (t.cpu_median - plain.cpu_median) * 1e6,
            "rounds_cpu_us": [round(x * 1e6, 3) for x in t.cpu],
        }
    return rows


def requests_vs_httpx(p: s.Providers, rounds: int, iterations: int) -> dict[str, Any]:
    """A JSON chat completion through requests and through httpx, each over its fake connection pool, one run."""
    import httpx  # noqa: PLC0415

    session = f.requests_session(f.chat_json())
    client = httpx.Client(transport=f.transport("httpx", f.chat_json()))
    run_requests, run_httpx = chat_requests(session, "data"), chat_requests(client, "content")

    hs = s.holysheep(p)
    variants = [
        Variant("plain", nothing, run_requests),
        Variant("generic-requests", s.generic_requests(p), run_requests),
        Variant("otel-holysheep", hs, run_requests),
        Variant("httpx plain", nothing, run_httpx),
        Variant("httpx otel-holysheep", hs, run_httpx),
    ]
    baselines = {v.name: "httpx plain" if v.name.startswith("httpx") else "plain" for v in variants}
    timings = interleaved(variants, iterations, rounds, warmup=max(50, iterations // 10))
    result = {"variants": _paired(timings, baselines), "spans_per_request": _spans_per_request(p, variants)}
    session.close()
    client.close()
    return result


def aiohttp_vs_httpx(p: s.Providers, rounds: int, iterations: int) -> dict[str, Any]:
    """A JSON chat completion through aiohttp and through httpx.AsyncClient, both to a loopback server in the same
    event loop (aiohttp has no injectable transport), one run."""
    import httpx  # noqa: PLC0415

    loop = asyncio.new_event_loop()
    server = f.LoopbackServer(f.chat_json())
    loop.run_until_complete(server.start())
    base = f"http://127.0.0.1:{server.port}/v1"
    url = f"{base}/chat/completions"

    async def aiohttp_batch(n: int) -> None:
        import aiohttp  # noqa: PLC0415

        async with aiohttp.ClientSession() as session:  # per batch: the generic instrumentation hooks __init__
            for _ in range(n):
                async with session.post(url, data=CHAT_BODY, headers=JSON_HEADERS) as response:
                    await response.json()

    client = httpx.AsyncClient()

    async def httpx_batch(n: int) -> None:
        for _ in range(n):
            (await client.post(url, content=CHAT_BODY, headers=JSON_HEADERS)).json()

    def run_aiohttp(n: int) -> None:
        loop.run_until_complete(aiohttp_batch(n))

    def run_httpx(n: int) -> None:
        loop.run_until_complete(httpx_batch(n))

    hs = s._instrumented(_holysheep_instrumentor(), **p.kwargs(), base_urls=[base])
    variants = [Variant("plain", nothing, run_aiohttp)]
    generic = s.generic_aiohttp(p)
    if generic is not None:
        variants.append(Variant("generic-aiohttp", generic, run_aiohttp))
    variants += [
        Variant("otel-holysheep", hs, run_aiohttp),
        Variant("httpx plain", nothing, run_httpx),
        Variant("httpx otel-holysheep", hs, run_httpx),
    ]
    baselines = {v.name: "httpx plain" if v.name.startswith("httpx") else "plain" for v in variants}
    timings = interleaved(variants, iterations, rounds, warmup=max(50, iterations // 10))
    result = {"variants": _paired(timings, baselines), "spans_per_request": _spans_per_request(p, variants)}
    loop.run_until_complete(client.aclose())
    loop.run_until_complete(server.stop())
    loop.close()
    return result


def _holysheep_instrumentor() -> Any:
    from otel_holysheep import HolySheepInstrumentor  # noqa: PLC0415

    return HolySheepInstrumentor()


def streaming(p: s.Providers, rounds: int, chunks: int) -> dict[str, Any]:
    """A ``chunks``-event SSE chat stream read with ``iter_raw``: per-chunk overhead and peak memory growth."""
    import httpx  # noqa: PLC0415

    events = f.sse_chunks(chunks)
    client = httpx.Client(transport=f.transport("httpx", (200, f.SSE_HEADERS, lambda: iter(events))))

    def read_stream() -> int:
        n = 0
        with client.stream("POST", f.CHAT_URL, content=STREAM_BODY, headers=JSON_HEADERS) as response:
            for _ in response.iter_raw():
                n += 1
        return n

    def run(n: int) -> None:
        for _ in range(n):
            read_stream()

    hs = s.holysheep(p)
    variants = [Variant("plain", nothing, run), Variant("otel-holysheep", hs, run)]
    timings = interleaved(variants, 1, rounds, warmup=0)
    summary = _summary(timings, per="chunk", scale=1e6 / chunks)

    memory = {}
    for v in variants:
        with v.setup():
            read_stream()  # warm: first-use allocations are not growth
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            assert read_stream() == chunks
            memory[v.name] = tracemalloc.get_traced_memory()[1] - base
            tracemalloc.stop()
    client.close()
    return {"chunks": chunks, "bytes": sum(map(len, events)), "variants": summary, "peak_growth_bytes": memory}


def embeddings(p: s.Providers, rounds: int, size: int) -> dict[str, Any]:
    """A ~2 MB embeddings body: usage extraction as a response read drives it, against ``json.loads``."""
    import httpx  # noqa: PLC0415

    from otel_holysheep._parsing import JsonScanner  # noqa: PLC0415

    body = f.embeddings_body(size)
    pieces = f.chunked(body)
    expected = json.loads(body)["usage"]["prompt_tokens"]

    def scan() -> Any:
        scanner = JsonScanner(False)  # what Call.on_chunk / on_eof do for an identity-encoded JSON body
        for piece in pieces:
            scanner.feed(piece)
        return scanner.finish()

    info = scan()
    assert info.usage is not None and info.usage.prompt == expected, info.usage

    def run_loads(n: int) -> None:
        for _ in range(n):
            json.loads(body)

    def run_scan(n: int) -> None:
        for _ in range(n):
            scan()

    micro = interleaved(
        [Variant("plain", nothing, run_loads), Variant("otel-holysheep", nothing, run_scan)], 20, rounds, warmup=2
    )

    # End to end: the whole instrumented request (span, metrics, scanning) minus the plain one, body read by httpx.
    headers = [(b"content-type", b"application/json")]
    client = httpx.Client(transport=f.transport("httpx", (200, headers, lambda: iter(pieces))))
    url = f"{f.GATEWAY}/embeddings"
    req = json.dumps({"model": "text-embedding-3-small", "input": ["x"] * 16}).encode()

    def run_e2e(n: int) -> None:
        for _ in range(n):
            client.post(url, content=req, headers=JSON_HEADERS)

    e2e = interleaved(
        [Variant("plain", nothing, run_e2e), Variant("otel-holysheep", s.holysheep(p), run_e2e)], 20, rounds, warmup=2
    )
    client.close()
    return {
        "bytes": len(body),
        "json_loads_vs_scanner": _summary(micro, per="body"),
        "end_to_end": _summary(e2e, per="request"),
    }


def concurrency(p: s.Providers, rounds: int, batches: int, width: int = 500) -> dict[str, Any]:
    """``width`` concurrent requests on one AsyncClient over an async fake pool: throughput."""
    import httpx  # noqa: PLC0415

    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(
        transport=f.async_transport("httpx", f.chat_json()), limits=httpx.Limits(max_connections=width)
    )

    async def batch() -> None:
        post = client.post
        await asyncio.gather(*(post(f.CHAT_URL, content=CHAT_BODY, headers=JSON_HEADERS) for _ in range(width)))

    def run(n: int) -> None:
        for _ in range(n):
            loop.run_until_complete(batch())

    variants = [
        Variant("plain", nothing, run),
        Variant("generic-httpx", s.generic_httpx(p, "httpx"), run),
        Variant("otel-holysheep", s.holysheep(p), run),
    ]
    timings = interleaved(variants, batches, rounds, warmup=1)
    summary = _summary(timings, per="request", scale=1e6 / width)
    for name, row in summary.items():
        row["requests_per_second"] = width / timings[name].wall_median
    loop.run_until_complete(client.aclose())
    loop.close()
    return {"concurrent": width, "variants": summary}


@contextmanager
def providers() -> Iterator[s.Providers]:
    p = s.Providers()
    try:
        yield p
    finally:
        p.tracer_provider.shutdown()
        p.meter_provider.shutdown()
