"""Latency and error profiles for the gateway simulator."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ERROR_KINDS", "ModelProfile", "Profile"]

# Failure kinds a profile can mix: HTTP statuses plus a stalled request and a stream cut mid-body.
ERROR_KINDS: tuple[str, ...] = ("401", "429", "500", "503", "timeout", "cut_stream")
_Z95 = 1.6448536269514722  # standard normal 95th percentile
_DEFAULT_ERRORS: dict[str, float] = {
    "401": 0.02,
    "429": 0.45,
    "500": 0.2,
    "503": 0.2,
    "timeout": 0.08,
    "cut_stream": 0.05,
}


@dataclass(frozen=True)
class ModelProfile:
    """One model's behaviour: lognormal latency fitted to mean/P95, success rate and failure mix.

    ``errors`` are relative weights of the failure kinds (normalised), drawn with probability
    ``1 - success_rate``. ``ttft_fraction`` is the share of a stream's latency spent before the first token.
    """

    mean_s: float = 0.0
    p95_s: float = 0.0
    success_rate: float = 1.0
    errors: Mapping[str, float] = field(default_factory=lambda: dict(_DEFAULT_ERRORS))
    ttft_fraction: float = 0.35

    def __post_init__(self) -> None:
        if self.mean_s < 0 or (self.mean_s > 0 and not self.p95_s > self.mean_s):
            raise ValueError("p95_s must be greater than mean_s (and mean_s >= 0)")
        if self.mean_s > 0 and math.log(self.p95_s / self.mean_s) > _Z95**2 / 2:
            raise ValueError("p95_s is too far above mean_s for a lognormal fit (p95_s / mean_s must be <= 3.87)")
        if not 0.0 <= self.success_rate <= 1.0:
            raise ValueError("success_rate must be between 0 and 1")
        if not 0.0 <= self.ttft_fraction <= 1.0:
            raise ValueError("ttft_fraction must be between 0 and 1")
        for kind, weight in self.errors.items():
            if kind not in ERROR_KINDS:
                raise ValueError(f"unknown error kind {kind!r} (expected one of {', '.join(ERROR_KINDS)})")
            if not (isinstance(weight, (int, float)) and weight >= 0):
                raise ValueError(f"error weight for {kind!r} must be a number >= 0")

    @property
    def lognormal_params(self) -> tuple[float, float]:
        """(mu, sigma) of the lognormal with this mean and 95th percentile."""
        if self.mean_s <= 0:
            return (-math.inf, 0.0)
        d = math.log(self.p95_s / self.mean_s)
        sigma = _Z95 - math.sqrt(_Z95 * _Z95 - 2 * d)
        return (math.log(self.mean_s) - sigma * sigma / 2, sigma)

    def sample_latency(self, rng: random.Random, time_scale: float = 1.0) -> float:
        """One total request latency in seconds, multiplied by ``time_scale``."""
        if self.mean_s <= 0 or time_scale <= 0:
            return 0.0
        mu, sigma = self.lognormal_params
        return rng.lognormvariate(mu, sigma) * time_scale

    def decide(self, rng: random.Random) -> str:
        """``"ok"`` or one of :data:`ERROR_KINDS` for the next request."""
        if self.success_rate >= 1.0 or rng.random() < self.success_rate:
            return "ok"
        kinds = [k for k in ERROR_KINDS if self.errors.get(k, 0) > 0]
        if not kinds:
            return "ok"
        return rng.choices(kinds, weights=[float(self.errors[k]) for k in kinds])[0]


_INSTANT = ModelProfile()


@dataclass(frozen=True)
class Profile:
    """A named set of model profiles plus the gateway's rate limits."""

    name: str = "instant"
    models: Mapping[str, ModelProfile] = field(default_factory=dict)
    generic: ModelProfile = _INSTANT
    requests_per_minute: int = 10_000
    tokens_per_minute: int = 2_000_000
    enforce_rate_limits: bool = False

    def for_model(self, model: str | None) -> ModelProfile:
        """The profile of ``model``: exact name, else longest known prefix, else the generic one."""
        if not model:
            return self.generic
        if model in self.models:
            return self.models[model]
        prefixes = [name for name in self.models if model.startswith(name)]
        return self.models[max(prefixes, key=len)] if prefixes else self.generic

    @classmethod
    def instant(cls) -> Profile:
        """No latency, no random errors: fully deterministic."""
        return cls()

    @classmethod
    def default(cls) -> Profile:
        """The tutorial's measured latencies and success rates."""

        def mp(mean: float, p95: float, ok: float) -> ModelProfile:
            return ModelProfile(mean_s=mean, p95_s=p95, success_rate=ok)

        return cls(
            name="default",
            models={
                "gpt-4.1": mp(1.85, 3.2, 0.992),
                "claude-sonnet-4": mp(2.1, 3.8, 0.995),
                "gemini-2.5-flash": mp(0.58, 1.1, 0.998),
                "deepseek-v3.2": mp(0.95, 1.6, 0.996),
            },
            generic=mp(1.2, 2.4, 0.995),
            requests_per_minute=500,
            tokens_per_minute=200_000,
        )

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        """Read a YAML (``.yaml``/``.yml``) or JSON profile file; ValueError names the file and field."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{p}: cannot read profile file: {exc}") from exc
        if p.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"{p}: not valid JSON: {exc}") from exc
            return cls.from_dict(data, source=str(p), default_name=p.stem)
        # imported here: `import otel_holysheep.simulator` (and `python -m` of it) must reach the CLI's check for the
        # [cli] extra before anything needs PyYAML
        import yaml  # noqa: PLC0415

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{p}: not valid YAML: {exc}") from exc
        return cls.from_dict(data, source=str(p), default_name=p.stem)

    @classmethod
    def from_dict(cls, data: Any, source: str = "<profile>", default_name: str = "custom") -> Profile:
        """Build a profile from parsed file content (see :meth:`load` for the format)."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: the top level must be a mapping")
        _check_keys(data, {"name", "models", "generic", "rate_limits"}, source, "")
        limits = data.get("rate_limits") or {}
        if not isinstance(limits, dict):
            raise ValueError(f"{source}: field 'rate_limits' must be a mapping")
        _check_keys(limits, {"requests_per_minute", "tokens_per_minute", "enforce"}, source, "rate_limits.")
        models_data = data.get("models") or {}
        if not isinstance(models_data, dict):
            raise ValueError(f"{source}: field 'models' must be a mapping of model name to profile")
        models = {str(k): _model_from_dict(v, source, f"models.{k}") for k, v in models_data.items()}
        generic = _model_from_dict(data["generic"], source, "generic") if "generic" in data else _INSTANT
        return cls(
            name=str(data.get("name", default_name)),
            models=models,
            generic=generic,
            requests_per_minute=_int(limits, "requests_per_minute", 10_000, source, "rate_limits."),
            tokens_per_minute=_int(limits, "tokens_per_minute", 2_000_000, source, "rate_limits."),
            enforce_rate_limits=bool(limits.get("enforce", False)),
        )


def _check_keys(data: dict[str, Any], allowed: set[str], source: str, prefix: str) -> None:
    for key in data:
        if key not in allowed:
            raise ValueError(f"{source}: unknown field '{prefix}{key}' (expected one of {', '.join(sorted(allowed))})")


def _int(data: dict[str, Any], key: str, default: int, source: str, prefix: str) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{source}: field '{prefix}{key}' must be a positive integer, got {value!r}")
    return value


def _model_from_dict(data: Any, source: str, where: str) -> ModelProfile:
    if not isinstance(data, dict):
        raise ValueError(f"{source}: field '{where}' must be a mapping")
    allowed = {"mean_s", "p95_s", "success_rate", "errors", "ttft_fraction"}
    _check_keys(data, allowed, source, f"{where}.")
    kwargs: dict[str, Any] = {}
    for key in ("mean_s", "p95_s", "success_rate", "ttft_fraction"):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{source}: field '{where}.{key}' must be a number, got {value!r}")
            kwargs[key] = float(value)
    if "errors" in data:
        errors = data["errors"]
        if not isinstance(errors, dict):
            raise ValueError(f"{source}: field '{where}.errors' must be a mapping of error kind to weight")
        kwargs["errors"] = {str(k): v for k, v in errors.items()}
    try:
        return ModelProfile(**kwargs)
    except ValueError as exc:
        raise ValueError(f"{source}: field '{where}': {exc}") from exc
