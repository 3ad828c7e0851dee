"""Plain stdlib HTTP GET (urllib, deliberately not httpx: the report's own traffic must never be instrumented)."""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from ..version import __version__
from .errors import ReportError

USER_AGENT = f"otel-holysheep-report/{__version__}"
MAX_BODY = 64 * 1024 * 1024


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    reason: str
    content_type: str
    text: str

    def json(self) -> Any:
        """The body parsed as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.text)
        except ValueError:
            return None


def normalize_url(url: str) -> str:
    """Accept ``host:port`` as ``http://host:port``; refuse anything but http(s)."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ReportError(f"invalid URL {url!r}: expected http://host:port[/path]")
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        error = error.reason if isinstance(error.reason, BaseException) else error
    if isinstance(error, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(error, socket.gaierror):
        return f"unknown host ({error.strerror})"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower() if error.strerror[:1].isupper() else error.strerror
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def http_get(
    url: str,
    *,
    what: str,
    timeout: float,
    accept: str,
    params: dict[str, str] | None = None,
    shown_as: str | None = None,
) -> Response:
    """GET ``url`` (+ query ``params``). Connection problems raise ``ReportError`` naming ``what`` at ``shown_as``
    (default ``url``); HTTP error statuses come back as a ``Response``."""
    full = url + ("&" if "?" in url else "?") + urllib.parse.urlencode(params) if params else url
    return http_request(full, what=what, timeout=timeout, accept=accept, shown_as=shown_as)


def http_request(
    url: str,
    *,
    what: str,
    timeout: float,
    accept: str,
    shown_as: str | None = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """GET ``url``, or POST ``data`` with extra ``headers``; errors as for ``http_get``. Proxies are used except for
    loopback hosts."""
    request = urllib.request.Request(
        url, data=data, headers={"Accept": accept, "User-Agent": USER_AGENT, **(headers or {})}
    )
    host = urllib.parse.urlsplit(url).hostname or ""
    handlers = [urllib.request.ProxyHandler({})] if _is_loopback(host) else []
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as answer:
            status, reason = answer.status, answer.reason
            content_type = answer.headers.get("Content-Type", "")
            charset = answer.headers.get_content_charset() or "utf-8"
            body = answer.read(MAX_BODY)
    except urllib.error.HTTPError as error:
        status, reason = error.code, error.reason
        content_type = error.headers.get("Content-Type", "") if error.headers else ""
        charset = (error.headers.get_content_charset() if error.headers else None) or "utf-8"
        try:
            body = error.read(MAX_BODY)
        except OSError:
            body = b""
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        raise ReportError(f"cannot reach {what} at {shown_as or url}: {_reason(error)}") from None
    try:
        text = body.decode(charset, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    return Response(url=url, status=status, reason=str(reason), content_type=content_type, text=text)
