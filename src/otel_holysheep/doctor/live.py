"""``--live``: one tiny real request (``max_tokens`` 1) to check the API key and the base URL. Only with the
explicit flag; the key is sent in the Authorization header and never printed (it is masked in any echoed text)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from .._config import DEFAULT_BASE_URL, Settings
from ..report.errors import ReportError
from ..report.fetch import Response, http_request
from .result import Finding, fail, ok, skip, warn

KEY_VARS: Final = ("HOLYSHEEP_API_KEY", "OPENAI_API_KEY")
DEFAULT_MODEL: Final = "gpt-4.1"
_MASK: Final = "<key>"

Request = Callable[..., Response]


def skipped() -> Finding:
    return skip("live", "not checked: --live sends one real request (max_tokens 1) to check the key and base URL")


def check_live(
    env: Mapping[str, str],
    app_urls: Sequence[tuple[str, str]],
    settings: Settings,
    *,
    model: str,
    timeout: float,
    request: Request = http_request,
) -> Finding:
    source, base = app_urls[0] if app_urls else ("the first configured base URL", str(settings.base_urls[0]))
    base = base.strip().rstrip("/")
    key_var = next((var for var in KEY_VARS if env.get(var, "").strip()), None)
    if key_var is None:
        return fail(
            "live.request",
            f"no API key in {' or '.join(KEY_VARS)}: nothing sent",
            f"export {KEY_VARS[0]}=<your key from the HolySheep console> (the variable your app reads)",
        )
    key = env[key_var].strip()
    url = f"{base}/chat/completions"
    body = {"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
    try:
        answer = request(
            url,
            what="the gateway",
            timeout=timeout,
            accept="application/json",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
    except ReportError as error:
        return fail(
            "live.request",
            _masked(error.message, key),
            f"check the base URL ({source}) and the network between here and the gateway (DNS, proxy: HTTPS_PROXY)",
        )
    detail = _masked(_error_text(answer), key)
    where = f"{url} ({source}, key from {key_var})"
    if 200 <= answer.status < 300:
        payload = answer.json()
        answered = payload.get("model", model) if isinstance(payload, dict) else model
        return ok("live.request", f"{where} accepted the key: {answered} answered one max_tokens=1 request")
    if answer.status in (401, 403):
        return fail(
            "live.request",
            f"{where} rejected the key: HTTP {answer.status} {detail}",
            f"put a valid key from the HolySheep console in {key_var} (no quotes or spaces), and have the app read it",
        )
    if answer.status == 404:
        return fail(
            "live.request",
            f"{where} answered HTTP 404 {detail}: not an OpenAI-compatible API root",
            f"set {source} to the API root the SDK appends /chat/completions to, e.g. {DEFAULT_BASE_URL}",
        )
    if answer.status == 429:
        return warn(
            "live.request",
            f"{where} accepted the request but rate-limited it: HTTP 429 {detail}",
            "wait and run again; see gateway.rate_limits for how often the app hits the limit",
        )
    if answer.status == 400:
        return fail(
            "live.request",
            f"{where} refused the request: HTTP 400 {detail}",
            f"pass --live-model with a model your key may use (default {DEFAULT_MODEL})",
        )
    return fail(
        "live.request",
        f"{where} answered HTTP {answer.status} {detail}",
        "run again later; if it persists, check the gateway's status page",
    )


def _error_text(answer: Response) -> str:
    payload = answer.json()
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return f"({payload['error'].get('message', '')})"
    text = " ".join(answer.text.split())[:200]
    return f"({text})" if text else f"({answer.reason})"


def _masked(text: str, key: str) -> str:
    return text.replace(key, _MASK) if key else text
