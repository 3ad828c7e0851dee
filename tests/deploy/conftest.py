"""Deployment-artefact tests: make tests/engines.py, tests/otelcol.py and the apps' helpers importable."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# tests/ (engines, otelcol), tests/deploy (the shared checks and app launchers), tests/deploy/apps (traffic).
for _path in (str(_HERE.parent), str(_HERE), str(_HERE / "apps")):
    if _path not in sys.path:
        sys.path.insert(0, _path)
