"""The compatibility matrix of `make test`: the Python and library versions we claim, each cell a virtualenv built
from a pinned file in requirements/compat/ under .cache/compat/ (git-ignored), running the smoke subset below.

    python scripts/compat_matrix.py            # build what changed, run every cell, print the matrix
    python scripts/compat_matrix.py --lock     # refresh requirements/compat/*.txt from the *.in files

The main suite (Python 3.11, requirements/dev.txt) is the matrix's 3.11 cell: `make test` runs it first with
--junitxml into .cache/compat/results/, and this script reads that file for its row. A cell whose interpreter is
missing is skipped and says which interpreter and how to get it. Packages come from the machine's configured package
index, through pip. Exit status: 1 when a cell failed, else 0. Stdlib only.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "compat"
RESULTS = CACHE / "results"
COMPAT = REPO / "requirements" / "compat"
PIP = ("-m", "pip", "--disable-pip-version-check", "--quiet")
# Two cells side by side: their tests wait on loopback servers and subprocesses more than they compute (measured:
# one cell at a time used 40% of one core), and the machine has two cores.
JOBS = 2

# What differs between versions: auto-instrumentation under opentelemetry-instrument (Prometheus and OTLP
# exporters, every client library once), streams of each client library, attribution through the SDK's span
# fields and through the public API, the openai SDK.
SMOKE = (
    "tests/integration/test_auto_instrumentation.py",
    "tests/integration/test_gateway_loopback.py",
    "tests/integration/test_requests_client.py",
    "tests/integration/test_aiohttp_client.py",
    "tests/integration/test_openai_sdk.py",
    "tests/unit/test_attribution.py",
)
# httpx2 MockTransport through the instrumentor: needs httpx2, which the oldest cell cannot have beside httpx 0.23
WITH_HTTPX2 = (*SMOKE, "tests/test_attribution_instrumentor.py")
# the versions a row shows
SHOWN = ("opentelemetry-api", "opentelemetry-instrumentation", "httpx", "httpx2", "requests", "aiohttp", "openai")


@dataclass(frozen=True)
class Cell:
    name: str
    python: str  # major.minor
    lock: str  # requirements/compat/<lock>.txt
    tests: tuple[str, ...]


CELLS = (
    Cell("py3.10-oldest", "3.10", "oldest", SMOKE),
    Cell("py3.10-oldest-httpx2", "3.10", "oldest-httpx2", WITH_HTTPX2),
    Cell("py3.12-newest", "3.12", "newest", WITH_HTTPX2),
    Cell("py3.13-newest", "3.13", "newest", WITH_HTTPX2),
)
MAIN = ("py3.11-main", ("main.xml", "openai2.xml"))  # the main suite's row: make test's two pytest runs


@dataclass
class Row:
    cell: str
    versions: str
    status: str  # passed / failed / skipped / not run
    counts: str
    note: str = ""


def find_python(minor: str) -> Path | None:
    """The newest pyenv-installed ``minor`` interpreter, else ``python<minor>`` on PATH (verified by running it)."""
    roots = []
    if shutil.which("pyenv"):
        proc = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            roots.append(proc.stdout.strip())
    roots.append(os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv")))
    found = [p for root in roots for p in glob.glob(f"{root}/versions/{minor}.*/bin/python{minor}")]
    found.sort(key=lambda p: [int(x) if x.isdigit() else 0 for x in re.split(r"[./-]", p.split("/versions/")[1])])
    candidates = [*reversed(found), shutil.which(f"python{minor}")]
    for candidate in candidates:
        if candidate and _runs(Path(candidate), minor):
            return Path(candidate)
    return None


def _runs(python: Path, minor: str) -> bool:
    code = "import sys; print('%d.%d' % sys.version_info[:2])"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False, timeout=60)
    return proc.returncode == 0 and proc.stdout.strip() == minor


def clean_env() -> dict[str, str]:
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("OTEL_")}


def run(argv: list[str], log: IO[str] | None = None) -> None:
    subprocess.run(argv, check=True, env=clean_env(), stdout=log, stderr=subprocess.STDOUT if log else None)


def build_venv(cell: Cell, python: Path, log: IO[str]) -> Path:
    """The cell's venv, rebuilt only when its pinned file or interpreter changed."""
    venv = CACHE / cell.name
    lock = COMPAT / f"{cell.lock}.txt"
    key = hashlib.sha256(lock.read_bytes() + str(python.resolve()).encode()).hexdigest()
    stamp = venv / ".installed"
    if stamp.exists() and stamp.read_text() == key:
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    print(f"--- building {cell.name} from {lock.relative_to(REPO)} with {python}", file=log, flush=True)
    run([str(python), "-m", "venv", str(venv)], log)
    # every package of the file is pinned, transitive ones too: --no-deps installs exactly that set, pip check proves
    # it is complete and consistent
    run([str(venv / "bin" / "python"), *PIP, "install", "--no-deps", "-r", str(lock)], log)
    run([str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "check"], log)
    stamp.write_text(key)
    return venv


def build_wheel() -> Path:
    """The project's wheel, built by this interpreter's pinned hatchling (make test runs this script from .venv)."""
    out = CACHE / "wheel"
    shutil.rmtree(out, ignore_errors=True)
    run([sys.executable, *PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(REPO)])
    (wheel,) = out.glob("*.whl")
    return wheel


def versions(venv: Path) -> str:
    code = (
        "import sys\nfrom importlib.metadata import version, PackageNotFoundError\n"
        "def v(n):\n    try: return version(n)\n    except PackageNotFoundError: return '-'\n"
        f"print(' '.join(['python ' + '.'.join(map(str, sys.version_info[:3]))] + [n + ' ' + v(n) for n in {SHOWN!r}]))"
    )
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True, env=clean_env()
    )
    return shorten(proc.stdout.strip())


def shorten(text: str) -> str:
    return text.replace("opentelemetry-instrumentation", "otel-instr").replace("opentelemetry-api", "otel-api")


def counts(xml_files: list[Path]) -> tuple[int, int, int]:
    """(passed, failed, skipped) from pytest's JUnit XML files; errors count as failed."""
    passed = failed = skipped = 0
    for path in xml_files:
        for suite in ET.parse(path).getroot().iter("testsuite"):
            tests, fails = int(suite.get("tests", 0)), int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skips = int(suite.get("skipped", 0))
            passed += tests - fails - skips
            failed += fails
            skipped += skips
    return passed, failed, skipped


def row_for(name: str, versions_text: str, xml_files: list[Path], returncodes: list[int], seconds: float) -> Row:
    passed, failed, skipped = counts(xml_files)
    bad = failed or any(code not in (0,) for code in returncodes)
    return Row(
        name,
        versions_text,
        "failed" if bad else "passed",
        f"{passed} passed, {failed} failed, {skipped} skipped",
        f"{seconds:.0f} s" if seconds else "",
    )


def run_cell(cell: Cell, wheel: Path) -> Row:
    """Build (if needed) and run one cell; its output goes to .cache/compat/results/<cell>.log, printed when done
    (cells run side by side: their lines never interleave)."""
    python = find_python(cell.python)
    if python is None:
        how = f"pyenv install {cell.python} (pyenv root: $(pyenv root)), or the distribution's python{cell.python}"
        print(f"--- {cell.name}: SKIPPED, no Python {cell.python} interpreter found; get it with: {how}", flush=True)
        return Row(cell.name, f"python {cell.python}", "skipped", "-", f"no Python {cell.python}: {how}")
    started = time.monotonic()
    RESULTS.mkdir(parents=True, exist_ok=True)
    xml, log_path = RESULTS / f"{cell.name}.xml", RESULTS / f"{cell.name}.log"
    xml.unlink(missing_ok=True)
    with log_path.open("w") as log:
        try:
            venv = build_venv(cell, python, log)
            run([str(venv / "bin" / "python"), *PIP, "install", "--no-deps", "--force-reinstall", str(wheel)], log)
            shown = versions(venv)
            print(f"--- compatibility cell {cell.name}: {shown}", file=log, flush=True)
            argv = [str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={xml}"]
            code = subprocess.run(
                [*argv, *cell.tests], cwd=REPO, env=clean_env(), stdout=log, stderr=subprocess.STDOUT, check=False
            ).returncode
        except subprocess.CalledProcessError as exc:  # the venv could not be built: the cell failed, say why
            print(f"--- {cell.name}: set-up failed: {exc}", file=log, flush=True)
            shown, code = f"python {cell.python}", 1
    print(log_path.read_text(), end="", flush=True)
    return row_for(cell.name, shown, [xml] if xml.exists() else [], [code], time.monotonic() - started)


def main_row() -> Row:
    name, files = MAIN
    xml_files = [RESULTS / f for f in files if (RESULTS / f).exists()]
    shown = shorten(
        "python {} ".format(".".join(map(str, sys.version_info[:3])))
        + " ".join(f"{n} {_version(n)}" for n in SHOWN)
        + " (openai 2.x in .cache/venv-openai2)"
    )
    if not xml_files:
        return Row(name, shown, "not run", "-", "make test runs it before the matrix")
    return row_for(name, shown, xml_files, [], 0)


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


def print_matrix(rows: list[Row]) -> None:
    print("\n=== compatibility matrix ===")
    width = max(len(r.cell) for r in rows)
    for r in rows:
        print(f"{r.cell:<{width}}  {r.status:<7}  {r.counts:<34}  {r.versions}" + (f"  [{r.note}]" if r.note else ""))
    totals = [0, 0, 0]
    for r in rows:
        if r.counts != "-":
            for i, n in enumerate(re.findall(r"(\d+) \w+", r.counts)):
                totals[i] += int(n)
    cells = {s: sum(r.status == s for r in rows) for s in ("passed", "failed", "skipped")}
    print(f"cells: {cells['passed']} passed, {cells['failed']} failed, {cells['skipped']} skipped")
    print(f"matrix: {totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")


def lock() -> None:
    """Each requirements/compat/<name>.in resolved by pip in a throw-away venv of its cell's Python, frozen."""
    for name in sorted({c.lock for c in CELLS}):
        cell = next(c for c in CELLS if c.lock == name)
        python = find_python(cell.python)
        if python is None:
            sys.exit(f"no Python {cell.python} to lock {name} with")
        venv = CACHE / f"lock-{name}"
        shutil.rmtree(venv, ignore_errors=True)
        run([str(python), "-m", "venv", str(venv)])
        run([str(venv / "bin" / "python"), *PIP, "install", "-r", str(COMPAT / f"{name}.in")])
        frozen = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "freeze",
                "--all",
                "--exclude",
                "pip",
                "--exclude",
                "setuptools",
            ],
            capture_output=True,
            text=True,
            check=True,
            env=clean_env(),
        ).stdout
        header = f"# Generated by 'python scripts/compat_matrix.py --lock' from {name}.in (Python {cell.python}).\n"
        (COMPAT / f"{name}.txt").write_text(header + frozen)
        print(f"locked {name}.txt")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lock", action="store_true", help="refresh requirements/compat/*.txt from the *.in files")
    parser.add_argument("--cell", action="append", help="run only this cell (repeatable)")
    parser.add_argument("--jobs", type=int, default=JOBS, help=f"cells run side by side (default {JOBS})")
    args = parser.parse_args()
    if args.lock:
        lock()
        return 0
    CACHE.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    wheel = build_wheel()
    cells = [cell for cell in CELLS if not args.cell or cell.name in args.cell]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = [main_row(), *pool.map(lambda cell: run_cell(cell, wheel), cells)]
    print(f"\n(the matrix's cells took {time.monotonic() - started:.0f} s, {args.jobs} at a time)")
    print_matrix(rows)
    return 1 if any(r.status == "failed" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
