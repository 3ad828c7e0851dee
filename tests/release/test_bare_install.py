"""The bare wheel (no extra) in a clean virtualenv: it pulls OpenTelemetry's packages and nothing else, its programs
say which extra they need, and an app whose own OpenTelemetry set-up pushes OTLP is measured with it under
`opentelemetry-instrument` (a YAML price file there, without PyYAML, is a warning with the fix, never a crash)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from otel_holysheep._pricing import NO_YAML_FIX
from otel_holysheep.simulator import GatewaySimulator
from otel_holysheep.version import __version__
from tests.otlp_receiver import OtlpReceiver

from .release_helpers import (
    APP_OTEL_SETUP,
    APP_REQUIREMENTS,
    Dist,
    WheelVenv,
    clean_env,
    new_venv,
    run,
    venv_pip_install,
)

pytestmark = pytest.mark.slow

APPS = Path(__file__).parent / "apps"
# pip and setuptools come with every venv (setuptools only on Python < 3.12), not with the wheel
VENV_SEED = {"pip", "setuptools"}
EXTRA_MODULES = ("yaml", "prometheus_client")


def importable(venv: WheelVenv, module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 3)"
    proc = subprocess.run([str(venv.python), "-c", code], env=clean_env(), timeout=60, check=False)
    return proc.returncode == 0


def test_bare_wheel_pulls_only_opentelemetry_and_still_measures_an_app(dist: Dist, tmp_path: Path) -> None:
    venv = new_venv(tmp_path / "venv", [dist.wheel])
    found = json.loads(run([venv.python, APPS / "installed_set.py"], timeout=60, env=clean_env()).stdout)

    # our own requirements are OpenTelemetry's API and instrumentation base, nothing else
    assert found["direct"] == ["opentelemetry-api", "opentelemetry-instrumentation"]
    # everything installed is the wheel, the venv's seed, or what those two OpenTelemetry packages require in turn
    assert set(found["installed"]) - VENV_SEED - {"otel-holysheep"} == set(found["closure"])
    assert not {"pyyaml", "prometheus-client"} & set(found["installed"])
    assert not any(importable(venv, m) for m in EXTRA_MODULES)

    # the programs name their extra, exit 2, no traceback
    for argv in (["otel-holysheep", "report", "--help"], ["otel-holysheep", "doctor"]):
        proc = subprocess.run(
            [str(venv.bin / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=60,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        assert "pip install 'otel-holysheep[cli]'" in proc.stderr
        assert "Traceback" not in proc.stderr

    # the app's own OpenTelemetry set-up (no extra of ours) and its openai SDK: still no PyYAML, no prometheus-client
    venv_pip_install(venv.python, [*APP_OTEL_SETUP, *APP_REQUIREMENTS], cwd=tmp_path)
    assert not any(importable(venv, m) for m in EXTRA_MODULES)

    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  gpt-4.1: {input: 99, output: 99}\n")
    with GatewaySimulator() as gateway, OtlpReceiver().running() as receiver:
        env = {
            **clean_env(),
            "GATEWAY_URL": gateway.base_url,
            "OTEL_SERVICE_NAME": "bare-wheel-app",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": gateway.base_url,
            "OTEL_INSTRUMENTATION_HOLYSHEEP_PRICES_FILE": str(prices),
        }
        # the app prints READY after its two calls, then waits for stdin: closing it at once lets it exit, and the
        # SDK's shutdown exports the totals before the process ends
        proc = subprocess.run(
            [str(venv.bin / "opentelemetry-instrument"), str(venv.python), str(APPS / "wheel_app.py")],
            input="",
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        receiver.wait_for(lambda r: r.total("holysheep.requests") >= 2)
        served = [r for r in gateway.requests if r.path.startswith("/v1/")]

    _, module_file, installed_version = proc.stdout.strip().split(" ")
    assert Path(module_file).resolve() == (venv.site_packages / "otel_holysheep" / "__init__.py").resolve()
    assert installed_version == __version__
    assert len(served) == 2
    assert receiver.total("holysheep.requests") == 2
    assert receiver.total("holysheep.requests", model="gpt-4.1", endpoint="chat/completions", status="success") == 1
    assert receiver.total("holysheep.tokens", model="deepseek-v3.2", token_type="completion") == 12
    # the YAML file could not be read without PyYAML: the built-in prices stand, and the warning says how to fix it
    assert receiver.total("holysheep.cost.usd", model="gpt-4.1") == pytest.approx((100 * 2.00 + 20 * 8.00) / 1e6)
    assert proc.stderr.count(NO_YAML_FIX) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert ("otel_holysheep", __version__) in receiver.scopes
    assert receiver.resource["service.name"] == "bare-wheel-app"
