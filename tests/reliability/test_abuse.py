"""A thousand clients that never finish a request cannot lock the real one out of ``mac agent-server``.

The server runs with the defaults ``mac agent-server`` uses (a request must
arrive within 5 s; at most 64 open connections) and a token, as an operator
would run it; the real client is the Coordinator delegating a task.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

from mac_plugins.agent_server import AgentServer
from mac_plugins.agent_server.app import ServerSettings

from mac_core import Coordinator

sys.path.insert(0, str(Path(__file__).parent.parent / "plugins" / "agent_server"))
from sdk_client_fake import FakeSDKClient  # noqa: E402

TOKEN = "agent-token-abuse-41c7d2"
STALLED = 1000


def test_a_thousand_stalled_connections_neither_lock_out_the_real_client_nor_stay_open(tmp_path, api_key):
    clients: list[FakeSDKClient] = []
    server = AgentServer(tmp_path, token=TOKEN, client_factory=lambda options: FakeSDKClient(options, clients)).start()
    stalled: list[socket.socket] = []
    try:
        for number in range(STALLED):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            # Half a request line, or nothing at all: neither ever authenticates.
            sock.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n" if number % 2 else b"")
            stalled.append(sock)
        began = time.monotonic()
        done = Coordinator(api_key=api_key).delegate("hello", url=server.url, token=TOKEN)
        assert done.status == "completed", done.error
        assert time.monotonic() - began < 5.0
        deadline = began + ServerSettings.request_timeout + 3.0
        still_open = [sock for sock in stalled if not _closed_before(sock, deadline)]
        assert still_open == []
    finally:
        for sock in stalled:
            sock.close()
        server.stop(timeout=10)


def _closed_before(sock: socket.socket, deadline: float) -> bool:
    """Whether the server has closed ``sock`` by ``deadline`` (a 408 first is fine)."""
    try:
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            if sock.recv(65536) == b"":
                return True
    except TimeoutError:
        return False
    except ConnectionError:
        return True
