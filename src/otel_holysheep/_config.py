"""Settings: each environment variable a documented constant; bad values warn once and fall back.

Pure module: no OpenTelemetry or httpx imports.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, NamedTuple
from urllib.parse import urlsplit

from otel_holysheep._semconv import opted_in

_logger = logging.getLogger("otel_holysheep")

DEFAULT_BASE_URL: Final = "https://api.holysheep.ai/v1"

ENV_BASE_URLS: Final = "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS"
"""Comma-separated base URLs whose requests are measured (default ``https://api.holysheep.ai/v1``)."""
ENV_GENAI_METRICS: Final = "OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS"
"""``true`` adds the ``gen_ai.client.*`` semantic-convention metrics (off by default: they repeat ``holysheep_*``)."""
ENV_SEMCONV_STABILITY_OPT_IN: Final = "OTEL_SEMCONV_STABILITY_OPT_IN"
"""The standard comma-separated opt-in list: ``gen_ai_latest_experimental`` in it switches the ``gen_ai.*`` metrics
and span attributes to the latest GenAI conventions (with ``OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS`` on; see
``_semconv``). Other values in the list are for other instrumentations and ignored."""
ENV_DETAIL_HISTOGRAMS: Final = "OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS"
"""``true`` adds the three secondary histograms: ``holysheep.time_to_headers`` (streams), ``holysheep.output_tokens``
per second and ``holysheep.retry_after``. Off by default: about 28 series per model that no alert or report needs."""
ENV_TIME_TO_HEADERS: Final = "OTEL_INSTRUMENTATION_HOLYSHEEP_TIME_TO_HEADERS"
"""Which responses record ``holysheep.time_to_headers``: ``streams`` or ``all``. Unset: streams when
``OTEL_INSTRUMENTATION_HOLYSHEEP_DETAIL_HISTOGRAMS=true``, else none. Set, it is recorded whatever the detail
setting says (the user asked for it).

For a non-streaming response the headers come with the finished completion, so the value repeats the duration.
"""
ENV_REQUEST_STREAM_USAGE: Final = "OTEL_INSTRUMENTATION_HOLYSHEEP_REQUEST_STREAM_USAGE"
"""``true`` adds ``stream_options.include_usage`` to streaming chat requests that lack it."""
ENV_PRICES_FILE: Final = "OTEL_INSTRUMENTATION_HOLYSHEEP_PRICES_FILE"
"""A YAML or JSON price file merged over the built-in price book."""
ENV_MAX_MODELS: Final = "OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_MODELS"
"""Most distinct ``model`` label values per process (default 50); later ones become ``other``."""
ENV_CAPTURE_CONTENT: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""``true`` records prompts and completions on spans (size-capped). Off by default."""
ENV_CONTENT_MAX_CHARS: Final = "OTEL_INSTRUMENTATION_HOLYSHEEP_CONTENT_MAX_CHARS"
"""Cap on captured message content per span attribute (default 4096 characters)."""
ENV_ATTRIBUTION: Final = "OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION"
"""Comma-separated attribution labels for the request, token, cost and error counters: ``route`` (the ``http.route``
of the server span) and ``baggage.<key>`` (a W3C baggage entry, label ``<key>``). Off by default."""
ENV_MAX_ATTRIBUTION_VALUES: Final = "OTEL_INSTRUMENTATION_HOLYSHEEP_MAX_ATTRIBUTION_VALUES"
"""Most distinct values per attribution label per process (default 100); later ones become ``other``."""

ENV_VARS: Final = (
    ENV_BASE_URLS,
    ENV_GENAI_METRICS,
    ENV_SEMCONV_STABILITY_OPT_IN,
    ENV_DETAIL_HISTOGRAMS,
    ENV_TIME_TO_HEADERS,
    ENV_REQUEST_STREAM_USAGE,
    ENV_PRICES_FILE,
    ENV_MAX_MODELS,
    ENV_CAPTURE_CONTENT,
    ENV_CONTENT_MAX_CHARS,
    ENV_ATTRIBUTION,
    ENV_MAX_ATTRIBUTION_VALUES,
)
"""Every environment variable ``Settings.from_env`` reads."""

TIME_TO_HEADERS_STREAMS: Final = "streams"
TIME_TO_HEADERS_ALL: Final = "all"

ATTRIBUTION_ROUTE: Final = "route"
ATTRIBUTION_BAGGAGE_PREFIX: Final = "baggage."
MAX_ATTRIBUTION_LABELS: Final = 5
# Labels the attributed counters already carry, or that Prometheus and the OTel exporter add: an attribution label by
# one of these names would overwrite or be renamed, so it is refused.
RESERVED_LABELS: Final = frozenset(
    {"model", "endpoint", "status", "error_type", "token_type", "job", "instance", "le", "quantile", "target_info"}
)
_LABEL_INVALID: Final = re.compile(r"[^A-Za-z0-9_]")
# W3C baggage keys are HTTP tokens.
_BAGGAGE_KEY: Final = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")

_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class BaseUrl:
    """A normalised base URL: requests whose URL starts with it are measured."""

    scheme: str
    host: str
    port: int
    path: str  # no trailing slash; "" for the root

    @classmethod
    def parse(cls, text: str) -> BaseUrl:
        """Parse ``text``; raise ``ValueError`` with a readable reason when it is not an http(s) URL."""
        raw = text.strip()
        parts = urlsplit(raw)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"{raw!r} is not an http(s) URL")
        if not parts.hostname:
            raise ValueError(f"{raw!r} has no host")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError as exc:
            raise ValueError(f"{raw!r} has a bad port") from exc
        if parts.query or parts.fragment:
            raise ValueError(f"{raw!r} must not have a query or fragment")
        return cls(scheme, parts.hostname.lower(), port, parts.path.rstrip("/"))

    def __str__(self) -> str:
        default = 443 if self.scheme == "https" else 80
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}{self.path}"


class AttributionSource(NamedTuple):
    """One attribution label: where its value comes from and the label (and span attribute suffix) it gets."""

    source: str  # "route" | "baggage"
    key: str  # "http.route", or the baggage key
    label: str  # a valid Prometheus label name


@dataclass(frozen=True)
class Settings:
    """Everything the instrumentor is configured with."""

    base_urls: tuple[BaseUrl, ...] = field(default_factory=lambda: (BaseUrl.parse(DEFAULT_BASE_URL),))
    genai_metrics: bool = False
    genai_latest: bool = False  # gen_ai_latest_experimental opted in (effective with genai_metrics)
    detail_histograms: bool = False
    time_to_headers: str | None = None  # None: not set (streams with the detail histograms, else not recorded)
    request_stream_usage: bool = False
    prices_file: str | None = None
    max_models: int = 50
    capture_content: bool = False
    content_max_chars: int = 4096
    attribution: tuple[AttributionSource, ...] = ()
    max_attribution_values: int = 100

    @property
    def genai_form_latest(self) -> bool:
        """The ``gen_ai.*`` output follows the latest GenAI conventions: opted in, and the gen_ai metrics on."""
        return self.genai_metrics and self.genai_latest

    @property
    def time_to_headers_for(self) -> str | None:
        """Which responses record time to headers: ``streams``, ``all``, or ``None`` (none)."""
        if self.time_to_headers is not None:
            return self.time_to_headers
        return TIME_TO_HEADERS_STREAMS if self.detail_histograms else None

    @classmethod
    def from_env(cls, env: Mapping[str, str], base_urls: Iterable[str] | None = None) -> Settings:
        """Build settings from ``env``; ``base_urls`` (from code) wins over the environment."""
        if base_urls is not None:
            urls = _parse_base_urls(list(base_urls), "base_urls")
        else:
            urls = _parse_base_urls(env[ENV_BASE_URLS].split(","), ENV_BASE_URLS) if env.get(ENV_BASE_URLS) else None
        return cls(
            base_urls=urls or (BaseUrl.parse(DEFAULT_BASE_URL),),
            genai_metrics=_bool(env, ENV_GENAI_METRICS, False),
            genai_latest=opted_in(env.get(ENV_SEMCONV_STABILITY_OPT_IN)),
            detail_histograms=_bool(env, ENV_DETAIL_HISTOGRAMS, False),
            time_to_headers=_choice(env, ENV_TIME_TO_HEADERS, None, (TIME_TO_HEADERS_STREAMS, TIME_TO_HEADERS_ALL)),
            request_stream_usage=_bool(env, ENV_REQUEST_STREAM_USAGE, False),
            prices_file=(env.get(ENV_PRICES_FILE) or "").strip() or None,
            max_models=_int(env, ENV_MAX_MODELS, 50, 1, 10_000),
            capture_content=_bool(env, ENV_CAPTURE_CONTENT, False),
            content_max_chars=_int(env, ENV_CONTENT_MAX_CHARS, 4096, 16, 1 << 20),
            attribution=parse_attribution(env.get(ENV_ATTRIBUTION) or ""),
            max_attribution_values=_int(env, ENV_MAX_ATTRIBUTION_VALUES, 100, 1, 10_000),
        )


def attribution_label(key: str) -> str:
    """The Prometheus label name for a baggage key: characters outside ``[A-Za-z0-9_]`` become ``_``, and a name
    that would start with a digit gets a leading ``_`` (what the OTel Prometheus exporter would do to the key)."""
    label = _LABEL_INVALID.sub("_", key)
    return f"_{label}" if label[:1].isdigit() else label


def parse_attribution(raw: str) -> tuple[AttributionSource, ...]:
    """``route,baggage.team,...`` -> the attribution labels, in order. Each bad item (unknown source, bad baggage key,
    a label that collides with an existing one, a repeat, more than ``MAX_ATTRIBUTION_LABELS``) logs one warning naming
    ``OTEL_INSTRUMENTATION_HOLYSHEEP_ATTRIBUTION`` and is left out; the others stand."""
    sources: list[AttributionSource] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        problem: str | None = None
        source: AttributionSource | None = None
        if item.lower() == ATTRIBUTION_ROUTE:
            source = AttributionSource(ATTRIBUTION_ROUTE, "http.route", "route")
        elif item.lower().startswith(ATTRIBUTION_BAGGAGE_PREFIX):
            key = item[len(ATTRIBUTION_BAGGAGE_PREFIX) :]
            if not _BAGGAGE_KEY.match(key):
                problem = f"{key!r} is not a W3C baggage key"
            else:
                source = AttributionSource("baggage", key, attribution_label(key))
        else:
            problem = "expected route or baggage.<key>"
        if source is not None:
            label = source.label
            if label in RESERVED_LABELS or label.startswith(("__", "otel_scope_")):
                problem = f"label {label!r} collides with a label the metrics already carry"
            elif any(s.label == label for s in sources):
                problem = f"label {label!r} is already taken by an earlier item"
            elif len(sources) >= MAX_ATTRIBUTION_LABELS:
                problem = f"at most {MAX_ATTRIBUTION_LABELS} attribution labels (each one multiplies the series)"
        if problem is not None or source is None:
            _logger.warning("otel-holysheep: %s: ignoring %r: %s", ENV_ATTRIBUTION, item, problem)
            continue
        sources.append(source)
    return tuple(sources)


def index_base_urls(base_urls: Iterable[BaseUrl]) -> dict[str, tuple[BaseUrl, ...]]:
    """Base URLs by host, longest path first, so the most specific one decides (what ``match_base_url`` takes)."""
    hosts: dict[str, list[BaseUrl]] = {}
    for base in base_urls:
        hosts.setdefault(base.host, []).append(base)
    return {host: tuple(sorted(bases, key=lambda b: -len(b.path))) for host, bases in hosts.items()}


def match_base_url(bases: Iterable[BaseUrl], scheme: str, port: int | None, path: str) -> BaseUrl | None:
    """The first of ``bases`` (one host's, from ``index_base_urls``) that a request to ``scheme``, ``port`` (None:
    the scheme's default) and ``path`` falls under, or ``None``: that request is not measured."""
    port = port or (443 if scheme == "https" else 80)
    for base in bases:
        if (
            base.scheme == scheme
            and base.port == port
            and (not base.path or path == base.path or path.startswith(base.path + "/"))
        ):
            return base
    return None


def _parse_base_urls(items: list[str], source: str) -> tuple[BaseUrl, ...] | None:
    good: list[BaseUrl] = []
    for item in items:
        if not item.strip():
            continue
        try:
            url = BaseUrl.parse(item)
        except ValueError as exc:
            _logger.warning("otel-holysheep: ignoring a base URL in %s: %s", source, exc)
            continue
        if url not in good:
            good.append(url)
    if not good:
        _logger.warning("otel-holysheep: %s has no usable base URL; using %s", source, DEFAULT_BASE_URL)
        return None
    return tuple(good)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    _logger.warning("otel-holysheep: %s=%r is not true/false; using %s", name, raw, str(default).lower())
    return default


def _choice(env: Mapping[str, str], name: str, default: str | None, allowed: tuple[str, ...]) -> str | None:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in allowed:
        return value
    _logger.warning(
        "otel-holysheep: %s=%r is not one of %s; using %s", name, raw, " | ".join(allowed), default or "the default"
    )
    return default


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        _logger.warning("otel-holysheep: %s=%r is not a whole number; using %d", name, raw, default)
        return default
    if not low <= value <= high:
        _logger.warning("otel-holysheep: %s=%d is outside %d..%d; using %d", name, value, low, high, default)
        return default
    return value
