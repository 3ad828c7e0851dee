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
import re
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
SPLIT = re.compile(r"\s{2,}")
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
            assert run.returncode == 0, f"{browser} exited {run.returncode}: {run.stderr[-2000:]}"
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


# --- reading the page's tables and the text report's, to compare them cell for cell ----------------------------------


class Tables(HTMLParser):
    """Every table of a page: its attributes and rows of cell texts (header row included)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[dict[str, str], list[list[str]]]] = []
        self._cell: list[str] | None = None
        self.json_blocks: list[str] = []
        self._in_json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "table":
            self.tables.append((found, []))
        elif tag == "tr" and self.tables:
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "script" and found.get("type") == "application/json":
            self._in_json = True
            self.json_blocks.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][1][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "script":
            self._in_json = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._in_json:
            self.json_blocks[-1] += data

    def table(self, **attrs: str) -> list[list[str]]:
        return next(rows for found, rows in self.tables if all(found.get(k) == v for k, v in attrs.items()))


def parse(page: str) -> Tables:
    parser = Tables()
    parser.feed(page)
    return parser


def text_rows(text: str) -> list[list[str]]:
    """The text table's header and rows (rules, title and notes dropped)."""
    lines = [line for line in text.splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.startswith("MODEL") or line.startswith("TEAM"))
    body = [line for line in lines[start:] if not set(line) <= {"-", " "}]
    rows = []
    for line in body:
        cells = SPLIT.split(line.strip())
        if len(cells) < 3:
            break
        rows.append(cells)
    return rows


def what_if_groups(text: str) -> list[tuple[str, list[list[str]], str]]:
    """The text what-if's groups: (heading, header and candidate rows as cells, verdict)."""
    groups = []
    for block in text.split("\n\n"):
        lines = block.splitlines()
        if len(lines) >= 3 and lines[1].strip().startswith("CANDIDATE"):
            heading, *rows, verdict = lines
            groups.append((heading, [SPLIT.split(r.strip()) for r in rows], verdict.strip().removeprefix("-> ")))
    return groups
