"""What the simulator records about each request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["RecordedRequest"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received (header names lower-cased, JSON body parsed or None)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any | None
