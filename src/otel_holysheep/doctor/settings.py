"""Configuration: the ``OTEL_INSTRUMENTATION_HOLYSHEEP_*`` values (validated by the same ``Settings.from_env`` the
instrumentor runs), the price file, and whether the URL the app calls is one the instrumentation measures."""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from .. import _config as c
from .._pricing import PriceBook, PriceBookError, read_price_file
from .result import Finding, fail, ok, skip, warn

PREFIX: Final = "OTEL_INSTRUMENTATION_HOLYSHEEP_"
# Where apps usually keep the gateway URL: the openai SDK reads OPENAI_BASE_URL; the tutorial uses HOLYSHEEP_BASE_URL.
APP_URL_VARS: Final = ("OPENAI_BASE_URL", "HOLYSHEEP_BASE_URL")
# The path the openai SDK appends to its base_url for a chat completion: what the instrumentation must match.
CHAT_PATH: Final = "/chat/completions"
_VALUES: Final = {
    c.ENV_BASE_URLS: "comma-separated http(s) base URLs, e.g. https://api.holysheep.ai/v1",
    c.ENV_GENAI_METRICS: "true or false",
    c.ENV_SEMCONV_STABILITY_OPT_IN: "a comma-separated opt-in list, e.g. gen_ai_latest_experimental",
    c.ENV_DETAIL_HISTOGRAMS: "true or false",
    c.ENV_TIME_TO_HEADERS: "streams or all",
    c.ENV_REQUEST_STREAM_USAGE: "true or false",
    c.ENV_CAPTURE_CONTENT: "true or false",
    c.ENV_MAX_MODELS: "a whole number in the range above",
    c.ENV_CONTENT_MAX_CHARS: "a whole number in the range above",
    c.ENV_ATTRIBUTION: "comma-separated route and baggage.<key> items, e.g. route,baggage.team",
    c.ENV_MAX_ATTRIBUTION_VALUES: "a whole number in the range above",
}


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def load_settings(env: Mapping[str, str]) -> tuple[c.Settings, list[str]]:
    """``Settings.from_env(env)`` and the warnings it logged (what the app would log once at start-up)."""
    logger = logging.getLogger("otel_holysheep")
    collector = _Collector()
    propagate, level = logger.propagate, logger.level
    logger.addHandler(collector)
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    try:
        settings = c.Settings.from_env(env)
    finally:
        logger.removeHandler(collector)
        logger.propagate, logger.level = propagate, level
    return settings, [message.removeprefix("otel-holysheep: ") for message in collector.messages]


def check_values(env: Mapping[str, str], settings: c.Settings, warnings: Sequence[str]) -> list[Finding]:
    """One fail line per value the instrumentor would reject (it would log a warning and use the default), one warn
    per unknown ``OTEL_INSTRUMENTATION_HOLYSHEEP_*`` name, else one ok line with the effective settings."""
    findings = []
    for message in warnings:
        var = next((name for name in c.ENV_VARS if name in message), None)
        target = var or c.ENV_BASE_URLS
        findings.append(
            fail(
                "config.value",
                f"{message}: the app would log this warning and ignore the value",
                f"set {target} to {_VALUES.get(target, 'a valid value')}, or unset it for the default",
            )
        )
    known = set(c.ENV_VARS)
    for name in sorted(n for n in env if n.startswith(PREFIX) and n not in known):
        ours = [var.removeprefix(PREFIX) for var in c.ENV_VARS if var.startswith(PREFIX)]
        close = difflib.get_close_matches(name.removeprefix(PREFIX), ours, n=1, cutoff=0.8)
        fix = f"rename it to {PREFIX}{close[0]}" if close else "remove it (the README's Configuration table lists them)"
        findings.append(warn("config.unknown", f"{name} is not a setting otel-holysheep reads", fix))
    if not warnings:
        findings.append(ok("config.settings", "settings parse: " + describe(settings)))
    return findings


def describe(settings: c.Settings) -> str:
    def on(flag: bool) -> str:
        return "on" if flag else "off"

    return (
        f"base URLs {', '.join(map(str, settings.base_urls))}; gen_ai metrics {on(settings.genai_metrics)}; "
        f"detail histograms {on(settings.detail_histograms)}; {_time_to_headers(settings)}; "
        f"stream usage opt-in {on(settings.request_stream_usage)}; max models {settings.max_models}; "
        f"message content capture {on(settings.capture_content)}; {_attribution(settings)}"
    )


def _time_to_headers(settings: c.Settings) -> str:
    which = settings.time_to_headers_for
    return f"time to headers for {which}" if which else "time to headers off"


def _attribution(settings: c.Settings) -> str:
    if not settings.attribution:
        return "attribution off"
    labels = ", ".join(
        f"{s.label} (http.route)" if s.source == c.ATTRIBUTION_ROUTE else f"{s.label} (baggage {s.key})"
        for s in settings.attribution
    )
    return f"attribution labels {labels}, at most {settings.max_attribution_values} values each"


def check_price_file(settings: c.Settings) -> Finding:
    """The price file loads (else the app logs a warning and prices with the built-in book only)."""
    book = PriceBook.default()
    if not settings.prices_file:
        return ok("config.price_file", f"built-in price book {book.version} ({len(book.models)} models)")
    path = Path(settings.prices_file)
    try:
        override = read_price_file(path)
    except PriceBookError as error:
        where = (
            "" if path.is_absolute() else f" (relative to the app's working directory; doctor looked in {os.getcwd()})"
        )
        return fail(
            "config.price_file",
            f"{error}{where}: the app would ignore the file and use the built-in prices",
            f"fix the file, or unset {c.ENV_PRICES_FILE} to use the built-in price book {book.version}",
        )
    merged = book.merged(override)
    return ok(
        "config.price_file",
        f"price file {path} loads: {len(override.models)} models over the built-in book "
        f"({len(merged.models)} priced, version {merged.version})",
    )


def app_urls(env: Mapping[str, str], given: Sequence[str]) -> list[tuple[str, str]]:
    """(where it came from, URL): ``--app-url`` values, else the client variables that are set."""
    if given:
        return [("--app-url", url) for url in given]
    return [(var, env[var]) for var in APP_URL_VARS if env.get(var, "").strip()]


def check_app_urls(env: Mapping[str, str], settings: c.Settings, given: Sequence[str]) -> list[Finding]:
    """Each URL the app calls must fall under a configured base URL, or its requests pass through unmeasured."""
    urls = app_urls(env, given)
    if not urls:
        return [
            skip(
                "config.app_url",
                "not checked: pass --app-url URL (the base_url your client uses) or set OPENAI_BASE_URL",
            )
        ]
    index = c.index_base_urls(settings.base_urls)
    configured = ", ".join(map(str, settings.base_urls))
    findings = []
    for source, url in urls:
        try:
            base = c.BaseUrl.parse(url)
        except ValueError as error:
            findings.append(
                fail(
                    "config.app_url",
                    f"{source}: {error}",
                    f"set {source} to the gateway's base URL, e.g. {c.DEFAULT_BASE_URL}",
                )
            )
            continue
        match = c.match_base_url(index.get(base.host, ()), base.scheme, base.port, base.path + CHAT_PATH)
        if match is not None:
            findings.append(
                ok("config.app_url", f"calls to {base}{CHAT_PATH} ({source}) are measured (base URL {match})")
            )
            continue
        wanted = base if c.ENV_BASE_URLS not in env else f"{env[c.ENV_BASE_URLS].strip().rstrip(',')},{base}"
        findings.append(
            fail(
                "config.app_url",
                f"the app calls {base} ({source}), but {c.ENV_BASE_URLS} covers only {configured}"
                f"{_why(base, settings.base_urls)}: those requests pass through unmeasured",
                f"set {c.ENV_BASE_URLS}={wanted}",
            )
        )
    return findings


def _why(url: c.BaseUrl, bases: Sequence[c.BaseUrl]) -> str:
    same_host = [b for b in bases if b.host == url.host]
    if not same_host:
        return f" (no base URL for host {url.host})"
    base = same_host[0]
    if base.scheme != url.scheme:
        return f" ({url.scheme} vs {base.scheme})"
    if base.port != url.port:
        return f" (port {url.port} vs {base.port})"
    return f" (path {url.path or '/'} vs {base.path or '/'})"
