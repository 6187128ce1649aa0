"""The agent runtime dying mid-delegation, seen through ``Coordinator.delegate``.

Drops, error frames, reconnects and silent agents are covered in
tests/plugins/agent_ws/test_transport.py; the server's side of a dying agent in
tests/plugins/agent_server/test_agent_server_protocol.py. What is left: the
client's view when the agent server's CLI process ends mid-turn.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from mac_plugins.agent_server import AgentServer

from mac_core import Coordinator

sys.path.insert(0, str(Path(__file__).parent.parent / "plugins" / "agent_server"))
from sdk_client_fake import FakeSDKClient  # noqa: E402

TOKEN = "agent-token-canary-51f0"


@pytest.fixture
def agent_server(tmp_path):
    clients: list[FakeSDKClient] = []
    server = AgentServer(tmp_path, token=TOKEN, client_factory=lambda options: FakeSDKClient(options, clients)).start()
    yield server, clients
    server.stop(timeout=10)


def test_an_agent_process_that_dies_mid_turn_fails_the_delegation_clearly_and_the_next_one_works(agent_server):
    server, clients = agent_server
    coordinator = Coordinator(connect_timeout=5, idle_timeout=5)
    started = time.monotonic()
    result = coordinator.delegate("[[exit]]", url=server.url, token=TOKEN)
    assert time.monotonic() - started < 5  # told at once, not left to the idle timeout
    assert result.status == "failed"
    assert "the agent process ended" in result.error
    assert TOKEN not in result.error
    again = coordinator.delegate("still there?", url=server.url, token=TOKEN)
    assert again.status == "completed", again.error
    assert again.text == "echo: still there?"
    assert len(clients) == 2  # a fresh agent process for the next turn
