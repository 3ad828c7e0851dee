"""The `simulate` command: subprocess on port 0, clean exit on SIGTERM/SIGINT, argument errors."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest

from otel_holysheep.simulator.cli import main

AUTH = {"Authorization": "Bearer sk-test"}
CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Say hello to the gateway"}]}

LINE = re.compile(
    r"^HolySheep gateway simulator listening on (http://127\.0\.0\.1:(\d+)/v1) \(profile: (.+), time scale (.+)\)$"
)


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "0"}
    return subprocess.Popen(
        [sys.executable, "-m", "otel_holysheep.simulator", "--host", "127.0.0.1", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_and_stops_cleanly(sig: signal.Signals) -> None:
    proc = _spawn("--instant", "--seed", "3")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        match = LINE.match(line)
        assert match, line
        base_url, port = match.group(1), int(match.group(2))
        assert port > 0
        assert match.group(3) == "instant" and match.group(4) == "1"
        with httpx2.Client(base_url=base_url) as client:
            r = client.post("/chat/completions", json=CHAT, headers=AUTH)
            assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 8
            proc.send_signal(sig)
            assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_cli_default_profile_with_time_scale() -> None:
    proc = _spawn("--time-scale", "0.05", "--seed", "1")
    try:
        assert proc.stdout is not None
        match = LINE.match(proc.stdout.readline().strip())
        assert match and match.group(3) == "default" and match.group(4) == "0.05"
        proc.terminate()
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_cli_bad_profile_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: {gpt-4.1: {mean_s: nope}}")
    assert main(["--port", "0", "--profile", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "models.gpt-4.1.mean_s" in err


def test_cli_rejects_conflicting_options(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--instant", "--profile", str(tmp_path / "x.yaml")])
    assert info.value.code == 2
