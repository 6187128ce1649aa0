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
from stalled_sockets import closed_by_server, stalled_sockets

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
        # Half a request line, or nothing at all: neither ever authenticates.
        stalled += stalled_sockets(server.port, STALLED // 2, b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        stalled += stalled_sockets(server.port, STALLED - STALLED // 2, b"")
        began = time.monotonic()
        done = Coordinator(api_key=api_key).delegate("hello", url=server.url, token=TOKEN)
        assert done.status == "completed", done.error
        assert time.monotonic() - began < 5.0
        deadline = began + ServerSettings.request_timeout + 3.0
        still_open = [sock for sock in stalled if not closed_by_server(sock, within=deadline - time.monotonic())]
        assert still_open == []
    finally:
        for sock in stalled:
            sock.close()
        server.stop(timeout=10)
