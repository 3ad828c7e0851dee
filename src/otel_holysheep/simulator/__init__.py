"""OpenAI-compatible HolySheep gateway simulator (stdlib only, plus pyyaml for profile files).

Serves chat completions, legacy completions, embeddings, responses and models on loopback with realistic
latency, usage, rate-limit headers and errors; per-request ``x-sim-scenario`` directives make every failure
mode deterministic for tests.
"""

from __future__ import annotations

from .profile import ERROR_KINDS, ModelProfile, Profile
from .records import RecordedRequest
from .scenario import SCENARIO_HEADER, Scenario
from .server import GatewaySimulator

__all__ = [
    "ERROR_KINDS",
    "SCENARIO_HEADER",
    "GatewaySimulator",
    "ModelProfile",
    "Profile",
    "RecordedRequest",
    "Scenario",
]
