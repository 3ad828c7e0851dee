"""Pure parsing of the response headers a call reads: which ones, picked out in one pass, and what they say.

No OpenTelemetry or httpx imports. Values that are not sane (negative, not finite, a wait of more than a day) are
read as absent, never as a guess.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Iterable, Mapping
from typing import Final, NamedTuple

RATELIMIT_KINDS: Final = ("requests", "tokens")
_RATELIMIT_HEADERS: Final = tuple(
    (kind, f"x-ratelimit-remaining-{kind}", f"x-ratelimit-limit-{kind}") for kind in RATELIMIT_KINDS
)
# Every response header a call reads, lower-cased (adapters pick these out of a response's headers in one pass).
RESPONSE_HEADER_NAMES: Final = frozenset(
    {"content-type", "content-encoding", "retry-after", "retry-after-ms"}
    | {name for _, remaining, limit in _RATELIMIT_HEADERS for name in (remaining, limit)}
)
_RESPONSE_HEADERS: Final = frozenset(name.encode() for name in RESPONSE_HEADER_NAMES)
# Statuses whose retry-after is recorded: rate limited, unavailable.
RETRY_AFTER_STATUSES: Final = frozenset({429, 503})


class RateLimit(NamedTuple):
    """One ``x-ratelimit-*-{kind}`` pair as the response reported it (``None`` where absent or not a number)."""

    kind: str  # requests | tokens
    remaining: float | None
    limit: float | None


class ResponseHeaders(NamedTuple):
    """What a response's headers tell a call."""

    content_type: str
    content_encoding: str | None
    rate_limits: tuple[RateLimit, ...]  # only the kinds the response reported
    retry_after: float | None  # seconds, on a 429 or 503 only


def response_headers(items: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The ``RESPONSE_HEADER_NAMES`` among (lower-cased name, raw value) pairs, repeats joined by ", ".

    One pass decoding only the wanted values as latin-1 (httpx's own fallback): these values are ASCII tokens and
    numbers, so this gives the text a ``Headers.get`` per name would, without scanning all headers per look-up.
    """
    found: dict[str, str] = {}
    for key, raw_value in items:
        if key in _RESPONSE_HEADERS:
            name, value = key.decode("ascii"), raw_value.decode("latin-1")
            found[name] = f"{found[name]}, {value}" if name in found else value
    return found


def parse_response_headers(status_code: int, headers: Mapping[str, str]) -> ResponseHeaders:
    """``headers`` holds (at least) the ``RESPONSE_HEADER_NAMES`` present, lower-cased, repeats joined by ", "."""
    # Every request pays this: the records are built with tuple.__new__, without the NamedTuples' Python __new__.
    limits = []
    for kind, remaining_header, limit_header in _RATELIMIT_HEADERS:
        remaining = _number(headers.get(remaining_header))
        limit = _number(headers.get(limit_header))
        if remaining is not None or limit is not None:
            limits.append(tuple.__new__(RateLimit, (kind, remaining, limit)))
    wait = retry_after_seconds(headers) if status_code in RETRY_AFTER_STATUSES else None
    content_type, encoding = headers.get("content-type", ""), headers.get("content-encoding")
    return tuple.__new__(ResponseHeaders, (content_type, encoding, tuple(limits), wait))


def _number(raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The advised wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), if sane."""
    ms = _number(headers.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000.0 if ms <= 86_400_000 else None
    raw = headers.get("retry-after")
    seconds = _number(raw)
    if seconds is None and raw:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        seconds = max(when.timestamp() - time.time(), 0.0)
    return seconds if seconds is not None and seconds <= 86_400 else None
