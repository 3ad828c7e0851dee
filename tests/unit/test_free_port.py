"""The test helper that picks ports for servers started by number (Collectors): below the ephemeral range, never
handed out twice while in use, by this process or another."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.engines import REPO, _reservable_ports, free_port


def test_ports_are_below_the_ephemeral_range_and_distinct() -> None:
    ports = [free_port() for _ in range(50)]
    reservable = _reservable_ports()
    assert len(set(ports)) == len(ports)
    if len(reservable) >= 1000:
        assert all(p in reservable for p in ports), ports


def test_a_picked_port_is_bindable() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", port))
        s.listen()


def test_another_process_never_gets_a_port_this_one_holds() -> None:
    mine = {free_port() for _ in range(100)}
    # the other process starts scanning where this one did, so it meets every port held here
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import tests.engines as e;"
        " e._port_cursor.append(int(sys.argv[2])); print(' '.join(str(e.free_port()) for _ in range(300)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(REPO), str(min(mine))],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(REPO),
    ).stdout
    theirs = {int(p) for p in out.split()}
    assert len(theirs) == 300
    assert not mine & theirs
