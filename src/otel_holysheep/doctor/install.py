"""Installation: what ``opentelemetry-instrument`` will load in this Python environment, read from package metadata.

The entry points are looked up exactly as ``opentelemetry-instrument`` looks them up (``importlib.metadata``), and
the exporter names are resolved the way the SDK's configurator resolves them, with the defaults
``opentelemetry-distro`` applies to unset variables (every signal ``otlp``, protocol ``grpc``).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Final

from .result import Finding, fail, ok, warn

INSTRUMENTOR_GROUP: Final = "opentelemetry_instrumentor"
ENTRY_POINT: Final = "holysheep"
DISABLED: Final = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
SDK_DISABLED: Final = "OTEL_SDK_DISABLED"
DISTRO: Final = "OTEL_PYTHON_DISTRO"
CONFIGURATOR: Final = "OTEL_PYTHON_CONFIGURATOR"
OTLP_PROTOCOL: Final = "OTEL_EXPORTER_OTLP_PROTOCOL"

# The distro whose _configure() sets the defaults below (opentelemetry-distro).
STANDARD_DISTRO: Final = "opentelemetry.distro:OpenTelemetryDistro"
SIGNALS: Final = ("metrics", "traces", "logs")
DISTRO_DEFAULTS: Final = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    OTLP_PROTOCOL: "grpc",
}
_OTLP: Final = "otlp"
_OTLP_BY_PROTOCOL: Final = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}
# What to install for the exporters people name; anything else is named by its entry point.
_PACKAGES: Final = {
    "prometheus": '"otel-holysheep[prometheus]" (opentelemetry-exporter-prometheus)',
    "otlp_proto_http": '"otel-holysheep[otlp]" (opentelemetry-exporter-otlp-proto-http)',
    "otlp_proto_grpc": "opentelemetry-exporter-otlp-proto-grpc",
    "console": "opentelemetry-sdk",
}
# Instrumentors of the openai SDK record gen_ai.client.* metrics for the very calls we measure: the official
# opentelemetry-instrumentation-openai-v2 / -genai-openai and look-alikes all register an `openai...` entry point.
# The OpenAI Agents SDK instrumentation records spans only.
_GENAI_MARKER: Final = "openai"
_NOT_GENAI: Final = "agents"
_OURS_AND_GENERIC: Final = frozenset({ENTRY_POINT, "httpx", "httpx2"})


def exporter_var(signal: str) -> str:
    return f"OTEL_{signal.upper()}_EXPORTER"


def disabled_instrumentations(env: Mapping[str, str]) -> list[str]:
    return [name.strip() for name in env.get(DISABLED, "").split(",") if name.strip()]


def _is_disabled(name: str, env: Mapping[str, str]) -> bool:
    disabled = disabled_instrumentations(env)
    return "*" in disabled or name in disabled


def _dist_label(entry_point: EntryPoint) -> str:
    dist = entry_point.dist
    return f"{dist.name} {dist.version}" if dist is not None else entry_point.value


def check_entry_point(env: Mapping[str, str]) -> list[Finding]:
    """The holysheep entry point is registered, importable, its instrumented library present, and not disabled."""
    from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts  # noqa: PLC0415

    where = f"the Python environment of {sys.executable}"
    found = list(entry_points(group=INSTRUMENTOR_GROUP, name=ENTRY_POINT))
    if not found:
        return [
            fail(
                "install.entry_point",
                f"no '{ENTRY_POINT}' entry point in group {INSTRUMENTOR_GROUP} in {where}: "
                "opentelemetry-instrument will not load otel-holysheep (an importable source tree is not enough)",
                'pip install "otel-holysheep[prometheus]" into the environment that runs the app '
                "(from a clone: pip install -e .), and run the app with that environment's opentelemetry-instrument",
            )
        ]
    entry_point = found[0]
    try:
        entry_point.load()
    except (ImportError, AttributeError) as error:
        return [
            fail(
                "install.entry_point",
                f"the '{ENTRY_POINT}' entry point ({entry_point.value}) does not import: {error}",
                "pip install --force-reinstall otel-holysheep (it needs opentelemetry-api and "
                "opentelemetry-instrumentation)",
            )
        ]
    conflict = get_dist_dependency_conflicts(entry_point.dist) if entry_point.dist is not None else None
    if conflict is not None:
        return [
            fail(
                "install.entry_point",
                f"opentelemetry-instrument skips '{ENTRY_POINT}': {conflict}",
                "pip install the HTTP client your app uses: httpx or httpx2 (the openai SDK installs one of them), "
                "requests or aiohttp",
            )
        ]
    findings = [
        ok(
            "install.entry_point",
            f"opentelemetry-instrument can load '{ENTRY_POINT}' ({entry_point.value}, {_dist_label(entry_point)}) "
            f"in {where}",
        )
    ]
    if _is_disabled(ENTRY_POINT, env):
        findings.append(
            fail(
                "install.enabled",
                f"{DISABLED}={env.get(DISABLED, '')} switches otel-holysheep off",
                f"remove '{ENTRY_POINT}' (and '*') from {DISABLED}",
            )
        )
    elif env.get(SDK_DISABLED, "").strip().lower() == "true":
        findings.append(
            fail(
                "install.enabled",
                f"{SDK_DISABLED}=true: the OpenTelemetry SDK records nothing, otel-holysheep included",
                f"unset {SDK_DISABLED}",
            )
        )
    else:
        findings.append(ok("install.enabled", f"otel-holysheep is not disabled ({DISABLED}, {SDK_DISABLED})"))
    return findings


def _select(group: str, wanted: str | None) -> EntryPoint | None:
    for entry_point in entry_points(group=group):
        if wanted is None or entry_point.name == wanted:
            return entry_point
    return None


def check_distro(env: Mapping[str, str]) -> tuple[Finding, dict[str, str]]:
    """The distro and configurator ``opentelemetry-instrument`` would pick, and the defaults that distro applies."""
    fix = (
        'pip install "otel-holysheep[prometheus]" (or [otlp]): it brings opentelemetry-distro, whose configurator '
        "sets up the SDK from the OTEL_* variables"
    )
    distro = _select("opentelemetry_distro", env.get(DISTRO) or None)
    configurator = _select("opentelemetry_configurator", env.get(CONFIGURATOR) or None)
    for var, found, kind in ((DISTRO, distro, "distro"), (CONFIGURATOR, configurator, "configurator")):
        if found is None and env.get(var):
            return (
                fail(
                    "install.distro",
                    f"{var}={env[var]} names no installed {kind}",
                    f"unset {var}, or install the package that provides it",
                ),
                {},
            )
        if found is None:
            return (
                fail(
                    "install.distro",
                    f"no OpenTelemetry {kind} installed: opentelemetry-instrument sets up no SDK, so nothing is "
                    "exported",
                    fix,
                ),
                {},
            )
    assert distro is not None and configurator is not None
    defaults = DISTRO_DEFAULTS if distro.value == STANDARD_DISTRO else {}
    return (
        ok(
            "install.distro",
            f"distro '{distro.name}' ({_dist_label(distro)}) and configurator '{configurator.name}' are installed",
        ),
        dict(defaults),
    )


def _resolve(name: str, signal: str, env: Mapping[str, str], defaults: Mapping[str, str]) -> tuple[str | None, str]:
    """(entry point name, how it was chosen) as the SDK configurator resolves ``name``; None: an invalid protocol."""
    if name != _OTLP:
        return name, ""
    signal_var = f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL"
    var = signal_var if env.get(signal_var) else OTLP_PROTOCOL
    protocol = (env.get(var) or defaults.get(var) or "").strip()
    if not protocol:
        return _OTLP_BY_PROTOCOL["grpc"], "otlp with no protocol set means gRPC"
    origin = f"{var}={protocol}" if env.get(var) else f"{var} unset, the distro defaults it to {protocol}"
    if protocol not in _OTLP_BY_PROTOCOL:
        return None, f"{origin} is neither grpc nor http/protobuf"
    return _OTLP_BY_PROTOCOL[protocol], origin


def check_exporters(env: Mapping[str, str], defaults: Mapping[str, str]) -> list[Finding]:
    """One line per signal: the exporter(s) named (or defaulted) for it are installed."""
    return [_check_signal(signal, exporter_var(signal), env, defaults) for signal in SIGNALS]


def _origin(var: str, env: Mapping[str, str], defaults: Mapping[str, str]) -> str:
    if var in env:
        return f"{var}={env[var]}"
    if var in defaults:
        return f"{var} is unset, so opentelemetry-distro defaults it to {defaults[var]}"
    return f"{var} is unset"


def _check_signal(signal: str, var: str, env: Mapping[str, str], defaults: Mapping[str, str]) -> Finding:
    check = f"install.exporter.{signal}"
    raw = env[var] if var in env else defaults.get(var, "")
    origin = _origin(var, env, defaults)
    if not raw.strip() or raw.strip().lower() == "none":
        if signal == "metrics":
            return fail(
                check,
                f"{origin}: no metrics leave the app",
                f"set {var}=prometheus (Prometheus scrapes :9464/metrics) or {var}=otlp (push to a Collector)",
            )
        return ok(check, f"{signal}: not exported ({origin})")
    installed = {
        entry_point.name: entry_point for entry_point in entry_points(group=f"opentelemetry_{signal}_exporter")
    }
    described = []
    for name in (part.strip() for part in raw.split(",")):
        resolved, how = _resolve(name, signal, env, defaults)
        if resolved is None:
            return fail(
                check,
                f"{origin}: {how}; opentelemetry-instrument fails at start-up",
                f"set {OTLP_PROTOCOL}=http/protobuf or {OTLP_PROTOCOL}=grpc",
            )
        if resolved not in installed:
            return fail(
                check,
                f"{origin}: its exporter '{resolved}'{f' ({how})' if how else ''} is not installed, so "
                "opentelemetry-instrument fails at start-up ('Failed to auto initialize') and loads no instrumentor, "
                "otel-holysheep included",
                _exporter_fix(signal, var, name, resolved, installed),
            )
        described.append(f"{resolved} ({_dist_label(installed[resolved])})")
    return ok(check, f"{signal} exporter {', '.join(described)} is installed ({origin})")


def _exporter_fix(signal: str, var: str, name: str, resolved: str, installed: Mapping[str, EntryPoint]) -> str:
    options = []
    if signal != "metrics":
        options.append(f"set {var}=none if you do not collect {signal}")
    elif "prometheus" in installed and resolved != "prometheus":
        options.append(f"set {var}=prometheus (installed)")
    if name == _OTLP:
        for protocol, other in _OTLP_BY_PROTOCOL.items():
            if other != resolved and other in installed:
                options.append(f"set {OTLP_PROTOCOL}={protocol} ({other} is installed)")
    package = _PACKAGES.get(resolved)
    if package:
        options.append(f"pip install {package}")
    else:
        available = ", ".join(sorted(installed)) or "none"
        options.append(f"name an installed {signal} exporter in {var} (installed: {available})")
    return "; or ".join(options)


def check_genai_peers(env: Mapping[str, str], genai_metrics: bool) -> Finding:
    """Another instrumentor of the openai SDK records gen_ai.* metrics for the same calls: they would count twice."""
    peers = [
        entry_point
        for entry_point in entry_points(group=INSTRUMENTOR_GROUP)
        if entry_point.name not in _OURS_AND_GENERIC
        and _GENAI_MARKER in f"{entry_point.name} {entry_point.value}".lower()
        and _NOT_GENAI not in f"{entry_point.name} {entry_point.value}".lower()
    ]
    active = [peer for peer in peers if not _is_disabled(peer.name, env)]
    if not peers:
        return ok("install.genai_peer", "no other instrumentor that records gen_ai.* metrics is installed")
    names = ", ".join(f"'{peer.name}' ({_dist_label(peer)})" for peer in peers)
    if not active:
        return ok("install.genai_peer", f"{names} installed, but disabled by {DISABLED}")
    if not genai_metrics:
        return ok(
            "install.genai_peer",
            f"{names} installed; otel-holysheep's gen_ai.* metrics are off "
            "(the default; OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS=true would switch them on), "
            "so nothing is counted twice",
        )
    disable = ",".join([*disabled_instrumentations(env), active[0].name])
    return warn(
        "install.genai_peer",
        f"{names} also records gen_ai.client.* metrics for the same openai SDK calls: they would be counted twice",
        "unset OTEL_INSTRUMENTATION_HOLYSHEEP_GENAI_METRICS or set it to false, the default (keep theirs; the "
        "holysheep_* metrics stay), "
        f"or {DISABLED}={disable} (keep ours)",
    )
