"""Fixtures for the report tests (helpers live in report_helpers.py)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
from report_helpers import Handler, LoopbackServer, Seen, start_server


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], tuple[str, Seen]]]:
    """serve(handler) -> (base URL, Seen); every server is shut down after the test."""
    servers: list[LoopbackServer] = []

    def start(handler: Handler) -> tuple[str, Seen]:
        seen = Seen()
        server, url = start_server(handler, seen)
        servers.append(server)
        return url, seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def dead_url() -> str:
    """A loopback URL nobody listens on: bind a port, then close it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
