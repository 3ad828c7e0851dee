"""The programs need the [cli] / [demo] extras; the instrumentation does not. Run
without its extra, a program names the pip command and exits 2, with no traceback, whichever way it is started."""

from __future__ import annotations

import subprocess
import sys

import pytest

from otel_holysheep import cli

# Run in a child Python: the listed modules are made unimportable, as in an environment without the extra.
BLOCK = "import sys\nfor name in {names!r}: sys.modules[name] = None\n"


@pytest.mark.parametrize(
    ("name", "blocked", "extra"),
    [
        ("report", "prometheus_client", "cli"),
        ("doctor", "prometheus_client", "cli"),
        ("simulate", "yaml", "cli"),
        ("demo", "openai", "demo"),
        ("demo", "yaml", "demo"),
    ],
)
def test_a_program_without_its_extra_says_which_to_install(
    name: str, blocked: str, extra: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, blocked, None)
    assert cli.main([name, "--help"]) == cli.MISSING_EXTRA_EXIT
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"otel-holysheep {name}: this program needs the '{extra}' extra, which is not installed (missing: {blocked}).\n"
        f"Install it into this environment: pip install 'otel-holysheep[{extra}]'\n"
    )


def test_every_program_runs_when_its_extra_is_installed(capsys: pytest.CaptureFixture[str]) -> None:
    """This environment has every extra: each program gets as far as its own --help (argparse exits 0)."""
    for name, command in cli.COMMANDS.items():
        assert cli.missing_modules(command.needs) == [], name
        with pytest.raises(SystemExit) as info:
            cli.main([name, "--help"])
        assert info.value.code == 0, name
        assert "usage:" in capsys.readouterr().out, name


@pytest.mark.parametrize(
    ("module", "name", "blocked", "extra"),
    [
        ("otel_holysheep.report", "report", ("prometheus_client",), "cli"),
        ("otel_holysheep.doctor", "doctor", ("yaml", "prometheus_client"), "cli"),
        ("otel_holysheep.simulator", "simulate", ("yaml",), "cli"),
        ("otel_holysheep.budgets", "rules", ("yaml",), "cli"),
        ("otel_holysheep.demo", "demo", ("openai", "httpx"), "demo"),
    ],
)
def test_python_dash_m_without_the_extra_prints_the_fix_not_a_traceback(
    module: str, name: str, blocked: tuple[str, ...], extra: str
) -> None:
    code = BLOCK.format(names=blocked) + f"import runpy\nrunpy.run_module({module!r}, run_name='__main__')\n"
    proc = subprocess.run(
        [sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == cli.MISSING_EXTRA_EXIT, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr == (
        f"otel-holysheep {name}: this program needs the '{extra}' extra, which is not installed "
        f"(missing: {', '.join(blocked)}).\nInstall it into this environment: pip install 'otel-holysheep[{extra}]'\n"
    )


def test_the_instrumentation_imports_without_the_extras() -> None:
    """The package, the instrumentor and its price book load with PyYAML and prometheus-client unimportable."""
    code = BLOCK.format(names=("yaml", "prometheus_client")) + (
        "import otel_holysheep\n"
        "from otel_holysheep._instrumentor import HolySheepInstrumentor\n"
        "from otel_holysheep._pricing import load_price_book\n"
        "import otel_holysheep.simulator, otel_holysheep.demo, otel_holysheep.report, otel_holysheep.doctor\n"
        "import otel_holysheep.budgets\n"
        "print(len(load_price_book(None).models) > 0, HolySheepInstrumentor().instrumentation_dependencies())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("True ")
