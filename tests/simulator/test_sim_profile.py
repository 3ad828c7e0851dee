"""Profiles: lognormal latency fit, error mix, file loading; directive parsing and rate-limit formatting."""

from __future__ import annotations

import json
import random
import statistics
from collections import Counter
from pathlib import Path

import pytest

from otel_holysheep.simulator import ModelProfile, Profile, Scenario
from otel_holysheep.simulator.ratelimit import RateLimiter, format_reset

TARGETS = {
    "gpt-4.1": (1.85, 3.2, 0.992),
    "claude-sonnet-4": (2.1, 3.8, 0.995),
    "gemini-2.5-flash": (0.58, 1.1, 0.998),
    "deepseek-v3.2": (0.95, 1.6, 0.996),
}


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


@pytest.mark.parametrize("model", sorted(TARGETS))
def test_default_profile_latency_matches_targets(model: str) -> None:
    mean, target_p95, _ = TARGETS[model]
    mp = Profile.default().for_model(model)
    assert (mp.mean_s, mp.p95_s) == (mean, target_p95)
    rng = random.Random(1234)
    samples = [mp.sample_latency(rng, time_scale=0.01) for _ in range(200)]
    assert statistics.fmean(samples) == pytest.approx(mean * 0.01, rel=0.25)
    assert p95(samples) == pytest.approx(target_p95 * 0.01, rel=0.25)


def test_gemini_is_faster_than_gpt() -> None:
    profile, rng = Profile.default(), random.Random(7)
    gpt = [profile.for_model("gpt-4.1").sample_latency(rng, 0.01) for _ in range(200)]
    gemini = [profile.for_model("gemini-2.5-flash").sample_latency(rng, 0.01) for _ in range(200)]
    assert statistics.fmean(gemini) < statistics.fmean(gpt)


def test_default_success_rates() -> None:
    rng = random.Random(99)
    for model, (_, _, success) in TARGETS.items():
        mp = Profile.default().for_model(model)
        outcomes = Counter(mp.decide(rng) for _ in range(20_000))
        assert outcomes["ok"] / 20_000 == pytest.approx(success, abs=0.003)


def test_error_mix_proportions() -> None:
    mp = ModelProfile(success_rate=0.5, errors={"429": 3, "500": 1, "timeout": 1, "cut_stream": 0})
    rng = random.Random(5)
    counts = Counter(mp.decide(rng) for _ in range(20_000))
    assert counts["ok"] / 20_000 == pytest.approx(0.5, abs=0.02)
    failures = 20_000 - counts["ok"]
    assert counts["429"] / failures == pytest.approx(0.6, abs=0.03)
    assert counts["500"] / failures == pytest.approx(0.2, abs=0.03)
    assert counts["timeout"] / failures == pytest.approx(0.2, abs=0.03)
    assert counts["cut_stream"] == 0 and counts["401"] == 0


def test_instant_profile_and_model_lookup() -> None:
    instant = Profile.instant()
    rng = random.Random(0)
    mp = instant.for_model("gpt-4.1")
    assert mp.sample_latency(rng) == 0.0
    assert {mp.decide(rng) for _ in range(1000)} == {"ok"}
    default = Profile.default()
    assert default.for_model("gpt-4.1-2025-04-14") is default.models["gpt-4.1"]
    assert default.for_model("unknown-model") is default.generic
    assert default.for_model(None) is default.generic


def test_invalid_model_profiles() -> None:
    with pytest.raises(ValueError, match="p95_s"):
        ModelProfile(mean_s=2.0, p95_s=1.0)
    with pytest.raises(ValueError, match="lognormal"):
        ModelProfile(mean_s=1.0, p95_s=10.0)
    with pytest.raises(ValueError, match="success_rate"):
        ModelProfile(success_rate=1.5)
    with pytest.raises(ValueError, match="unknown error kind"):
        ModelProfile(errors={"418": 1})


GOOD_YAML = """
name: staging
rate_limits: {requests_per_minute: 60, tokens_per_minute: 1000, enforce: true}
generic: {mean_s: 0.5, p95_s: 0.9}
models:
  gpt-4.1:
    mean_s: 1.0
    p95_s: 2.0
    success_rate: 0.9
    ttft_fraction: 0.2
    errors: {"429": 1, timeout: 0.5}
"""


def test_load_yaml_and_json(tmp_path: Path) -> None:
    path = tmp_path / "staging.yaml"
    path.write_text(GOOD_YAML)
    profile = Profile.load(path)
    assert profile.name == "staging"
    assert (profile.requests_per_minute, profile.tokens_per_minute, profile.enforce_rate_limits) == (60, 1000, True)
    gpt = profile.for_model("gpt-4.1")
    assert (gpt.mean_s, gpt.p95_s, gpt.success_rate, gpt.ttft_fraction) == (1.0, 2.0, 0.9, 0.2)
    assert dict(gpt.errors) == {"429": 1, "timeout": 0.5}
    assert profile.generic.mean_s == 0.5
    jpath = tmp_path / "p.json"
    jpath.write_text(json.dumps({"models": {"m": {"mean_s": 0.1, "p95_s": 0.2}}}))
    loaded = Profile.load(jpath)
    assert loaded.name == "p" and loaded.for_model("m").p95_s == 0.2


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("bad.yaml", "models: [1, 2", "not valid YAML"),
        ("bad.json", "{", "not valid JSON"),
        ("list.yaml", "- 1", "top level"),
        ("unknown.yaml", "modles: {}", "'modles'"),
        ("type.yaml", "models: {gpt-4.1: {mean_s: fast}}", "'models.gpt-4.1.mean_s'"),
        ("order.yaml", "models: {gpt-4.1: {mean_s: 2, p95_s: 1}}", "'models.gpt-4.1'"),
        ("kind.yaml", "models: {x: {errors: {'418': 1}}}", "'models.x'"),
        ("limits.yaml", "rate_limits: {requests_per_minute: -1}", "'rate_limits.requests_per_minute'"),
        ("field.yaml", "generic: {mean: 1}", "'generic.mean'"),
    ],
)
def test_load_bad_files_name_file_and_field(tmp_path: Path, name: str, text: str, needle: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        Profile.load(path)
    assert str(path) in str(info.value)
    assert needle in str(info.value)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        Profile.load(tmp_path / "missing.yaml")


def test_scenario_parse() -> None:
    sc = Scenario.parse(" status=429 , retry_after=3,gzip, bogus, chunks=x, key=k1,cut_after=-1,no-usage")
    assert (sc.status, sc.retry_after, sc.gzip, sc.chunks, sc.key, sc.cut_after, sc.no_usage) == (
        429,
        3,
        True,
        None,
        "k1",
        None,
        True,
    )
    assert Scenario.parse(None) == Scenario()
    assert Scenario.parse("stall_headers,fail_first=2").describe() == "fail_first=2,stall_headers"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.12, "120ms"), (1.0, "1s"), (8.64, "8.64s"), (360.0, "6m0s"), (90.5, "1m30.5s"), (3723.0, "1h2m3s")],
)
def test_format_reset(seconds: float, text: str) -> None:
    assert format_reset(seconds) == text


def test_rate_limiter_window() -> None:
    now = [100.0]
    limiter = RateLimiter(3, 100, clock=lambda: now[0])
    h1, ok1 = limiter.consume("k", 40)
    h2, ok2 = limiter.consume("k", 40)
    assert ok1 and ok2
    assert (h1["x-ratelimit-remaining-requests"], h2["x-ratelimit-remaining-requests"]) == ("2", "1")
    assert h2["x-ratelimit-remaining-tokens"] == "20"
    assert h2["x-ratelimit-reset-requests"] == "1m0s"
    _, ok3 = limiter.consume("k", 40)
    assert not ok3
    assert limiter.consume("other", 1)[1]
    now[0] += 30
    assert limiter.consume("k", 1)[0]["x-ratelimit-reset-tokens"] == "30s"
    now[0] += 30
    headers, ok = limiter.consume("k", 40)
    assert ok and headers["x-ratelimit-remaining-requests"] == "2" and headers["x-ratelimit-remaining-tokens"] == "60"


def test_enforced_rate_limit_returns_429() -> None:
    import httpx2

    from otel_holysheep.simulator import GatewaySimulator

    profile = Profile(requests_per_minute=2, enforce_rate_limits=True)
    auth = {"Authorization": "Bearer sk-test"}
    body = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}
    with GatewaySimulator(profile=profile) as sim, httpx2.Client(base_url=sim.base_url) as client:
        statuses = [client.post("/chat/completions", json=body, headers=auth).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        other = client.post("/chat/completions", json=body, headers={"Authorization": "Bearer sk-other"})
        assert other.status_code == 200
