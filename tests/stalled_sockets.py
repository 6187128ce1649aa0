"""Clients that never finish a request, and whether a server closes them: for the servers' abuse tests."""

from __future__ import annotations

import socket
import time


def stalled_sockets(port: int, count: int, payload: bytes) -> list[socket.socket]:
    """``count`` loopback connections to ``port`` that each send ``payload`` and then nothing."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(payload)
        sockets.append(sock)
    return sockets


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` within ``within`` seconds (whatever it says before closing).

    ``sock`` is read at least once, even when ``within`` has already run out.
    """
    deadline = time.monotonic() + within
    try:
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            if sock.recv(65536) == b"":
                return True
            if time.monotonic() >= deadline:
                return False
    except TimeoutError:
        return False
    except ConnectionError:
        return True
