"""The built wheel, installed from its file with the `[prometheus,cli]` extras into a clean virtualenv, measures an app
run under that virtualenv's `opentelemetry-instrument`, as the README tells a user to run it: the entry point, the
price book and the console script all come from the installed wheel, not from the source tree."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from otel_holysheep.simulator import GatewaySimulator
from otel_holysheep.version import __version__
from tests.engines import free_port
from tests.support import Samples, scrape

from .release_helpers import REPO, WheelVenv, clean_env

pytestmark = pytest.mark.slow

APP = Path(__file__).parent / "apps" / "wheel_app.py"


def app_env(gateway: GatewaySimulator, port: int) -> dict[str, str]:
    """The README's variables, pointed at the simulator and a free loopback port."""
    return {
        **clean_env(),
        "GATEWAY_URL": gateway.base_url,
        "OTEL_SERVICE_NAME": "wheel-app",
        "OTEL_METRICS_EXPORTER": "prometheus",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
        "OTEL_EXPORTER_PROMETHEUS_PORT": str(port),
        "OTEL_INSTRUMENTATION_HOLYSHEEP_BASE_URLS": gateway.base_url,
    }


@contextmanager
def running_app(venv: WheelVenv, env: dict[str, str], cwd: Path) -> Iterator[str]:
    """Start the app under the venv's opentelemetry-instrument; yield its READY line; stop it."""
    proc = subprocess.Popen(
        [str(venv.bin / "opentelemetry-instrument"), str(venv.python), str(APP)],
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("READY "):
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"the app did not start: {line!r}\n{err}")
        yield line
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for got, v in samples.get(name, []) if all(got.get(k) == val for k, val in labels.items()))


def test_installed_wheel_measures_an_app_under_opentelemetry_instrument(wheel_venv: WheelVenv, tmp_path: Path) -> None:
    port = free_port()
    with GatewaySimulator() as gateway:
        env = app_env(gateway, port)
        with running_app(wheel_venv, env, cwd=tmp_path) as ready:
            samples = scrape(f"http://127.0.0.1:{port}/metrics")
            page = tmp_path / "week.html"
            html = subprocess.run(
                [
                    str(wheel_venv.bin / "otel-holysheep"),
                    "report",
                    "--metrics",
                    f"http://127.0.0.1:{port}/metrics",
                    "--format",
                    "html",
                    "-o",
                    str(page),
                ],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            doctor = subprocess.run(
                [
                    str(wheel_venv.bin / "otel-holysheep"),
                    "doctor",
                    "--metrics",
                    f"http://127.0.0.1:{port}/metrics",
                    "--format",
                    "json",
                ],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        served = [r for r in gateway.requests if r.path.startswith("/v1/")]

    # the package the app ran with is the wheel's copy in the venv, at the version we built
    _, module_file, installed_version = ready.split(" ")
    assert Path(module_file).resolve() == (wheel_venv.site_packages / "otel_holysheep" / "__init__.py").resolve()
    assert not Path(module_file).resolve().is_relative_to(REPO)
    assert installed_version == __version__

    # the holysheep entry point loaded and measured both calls; costs come from the wheel's price book
    assert len(served) == 2
    assert total(samples, "holysheep_requests_total") == 2
    assert (
        total(samples, "holysheep_requests_total", model="gpt-4.1", endpoint="chat/completions", status="success") == 1
    )
    assert total(samples, "holysheep_requests_total", model="deepseek-v3.2", status="success") == 1
    assert total(samples, "holysheep_tokens_total", model="gpt-4.1", token_type="prompt") == 100
    assert total(samples, "holysheep_tokens_total", model="gpt-4.1", token_type="completion") == 20
    assert total(samples, "holysheep_tokens_total", model="deepseek-v3.2", token_type="prompt") == 30
    assert total(samples, "holysheep_tokens_total", model="deepseek-v3.2", token_type="completion") == 12
    assert total(samples, "holysheep_cost_usd_total", model="gpt-4.1") == pytest.approx((100 * 2.00 + 20 * 8.00) / 1e6)
    assert total(samples, "holysheep_cost_usd_total", model="deepseek-v3.2") == pytest.approx(
        (30 * 0.28 + 12 * 0.42) / 1e6
    )
    assert total(samples, "holysheep_time_to_first_token_seconds_count", model="deepseek-v3.2") == 1
    assert total(samples, "holysheep_stream_outcomes_total", model="deepseek-v3.2", outcome="completed") == 1
    assert total(samples, "holysheep_active_requests") == 0
    scopes = {
        (labels["otel_scope_name"], labels["otel_scope_version"]) for labels, _ in samples["holysheep_requests_total"]
    }
    assert scopes == {("otel_holysheep", __version__)}

    # the wheel's report writes the page with the charting library it carries (package data, no network)
    assert html.returncode == 0, html.stderr
    written = page.read_text(encoding="utf-8")
    assert "Chart.js v4.5.1" in written and "<td>gpt-4.1</td>" in written and "<td>deepseek-v3.2</td>" in written

    # the console script of the wheel, run with the app's environment, finds the install healthy and the app serving
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    checks = {c["check"]: c["status"] for c in json.loads(doctor.stdout)["checks"]}
    assert checks["install.entry_point"] == "ok"
    assert checks["install.distro"] == "ok"
    assert checks["app.reachable"] == "ok"
    assert checks["app.series"] == "ok"
