"""A request target too long for the service gets the service's own 414 problem, also
when it reaches the server in pieces, as long URLs do over a real network. Against
`make run`: the HTTP server's limits are part of what is tested."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.system.service_process import running_service

CHUNK = 4_096


def sent_in_pieces(base: str, target: str) -> bytes:
    """The raw response to a GET of `target`, its head sent CHUNK bytes at a time."""
    address = urlsplit(base)
    head = f"GET {target} HTTP/1.1\r\nHost: {address.netloc}\r\nConnection: close\r\n\r\n"
    data = head.encode()
    received = b""
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        try:
            for start in range(0, len(data), CHUNK):
                connection.sendall(data[start : start + CHUNK])
                time.sleep(0.005)  # each piece its own read on the server's side
            while chunk := connection.recv(65_536):
                received += chunk
        except (BrokenPipeError, ConnectionResetError):  # answered before the head ended
            received += connection.recv(65_536)
    return received


def test_a_target_past_the_bound_sent_in_pieces_is_a_414_problem(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'long.db'}"
    with running_service(url, tmp_path) as base:
        long = sent_in_pieces(base, "/api/v1/users/?filter=" + "x" * 100_000)
        short = sent_in_pieces(base, "/api/v1/users/?filter=" + "x" * 30_000)

    assert long.split(b" ", 2)[1] == b"414", long[:300]
    assert b"content-type: application/problem+json" in long.lower()
    # Past the server's default 16 KiB head, within the service's bound: the service answers.
    assert short.split(b" ", 2)[1].startswith(b"4"), short[:300]
    assert b"content-type: application/problem+json" in short.lower()
