"""Headless Chromium for the HTML report's tests: Debian's chromium-headless-shell, fetched by
scripts/fetch-chromium.sh into .cache/chromium (or the one on PATH), driven with --dump-dom and --screenshot.

The page sets ``data-rendered`` on ``<body>`` once every chart is drawn ("true", or "error" with
``data-render-error``) and writes on each canvas the series it drew. ``render`` opens the file from disk (file://),
dumps the DOM until that attribute is there (a generous deadline, no fixed sleeps: each dump runs the page's scripts
to completion under a virtual time budget), then keeps a screenshot under .cache/artifacts/ (printed).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FETCH = REPO / "scripts" / "fetch-chromium.sh"
ARTIFACTS = REPO / ".cache" / "artifacts"
DEADLINE_S = 120.0
_found: list[str | None] = []


def chromium() -> tuple[str | None, str]:
    """(path to a runnable headless Chromium, or None; why not), fetched once per test session."""
    if not _found:
        try:
            run = subprocess.run(["bash", str(FETCH)], capture_output=True, text=True, timeout=600, check=False)
        except subprocess.TimeoutExpired:
            _found.append(None)
            return None, "scripts/fetch-chromium.sh did not finish within 10 minutes"
        lines = run.stdout.strip().splitlines()
        _found.append(lines[-1] if run.returncode == 0 and lines else None)
        if _found[0] is None:
            return None, (
                "no headless Chromium: scripts/fetch-chromium.sh failed (install Debian's chromium-headless-shell, "
                f"e.g. `apt-get install chromium-headless-shell` as root): {run.stderr.strip()[-600:]}"
            )
    return _found[0], "" if _found[0] else "no headless Chromium (scripts/fetch-chromium.sh failed earlier)"


@dataclass
class Canvas:
    id: str
    series: list[str]
    points: list[int]
    painted: int


@dataclass
class Rendered:
    body: dict[str, str]
    canvases: dict[str, Canvas]
    screenshot: Path
    dom: str


class _Attributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.canvases: dict[str, Canvas] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = found
        elif tag == "canvas" and "data-series" in found:
            self.canvases[found["id"]] = Canvas(
                found["id"],
                json.loads(found["data-series"]),
                json.loads(found["data-points"]),
                int(found["data-painted"]),
            )


def _browser_args(browser: str, profile: str) -> list[str]:
    return [
        browser,
        "--headless",
        "--no-sandbox",  # as root in a container; the page is our own file
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1280,3400",
    ]


def render(browser: str, page: Path, name: str) -> Rendered:
    url = page.resolve().as_uri()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / f"{name}.png"
    deadline = time.monotonic() + DEADLINE_S
    with tempfile.TemporaryDirectory(prefix="holysheep-chromium-") as profile:
        args = _browser_args(browser, profile)
        parsed = _Attributes()
        dom = ""
        while True:
            run = subprocess.run(
                [*args, "--virtual-time-budget=15000", "--dump-dom", url],
                capture_output=True,
                text=True,
                timeout=DEADLINE_S,
                check=False,
                env={**os.environ, "HOME": profile},
            )
            dom = run.stdout
            parsed = _Attributes()
            parsed.feed(dom)
            if parsed.body.get("data-rendered") in ("true", "error") or time.monotonic() > deadline:
                break
        shot = subprocess.run(
            [*args, "--virtual-time-budget=15000", f"--screenshot={screenshot}", url],
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
            check=False,
            env={**os.environ, "HOME": profile},
        )
    print(f"screenshot of {page.name}: {screenshot}")
    assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
    return Rendered(parsed.body, parsed.canvases, screenshot, dom)
