"""The one exception the report raises on purpose: a message for the user and the exit code to leave with."""

from __future__ import annotations

EXIT_NO_DATA = 1  # the source answered, but holds nothing of ours (empty window, app not instrumented)
EXIT_ERROR = 2  # unreachable, HTTP error, not a Prometheus answer, bad arguments


class ReportError(Exception):
    """Printed as one line on stderr (no traceback); the CLI exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
