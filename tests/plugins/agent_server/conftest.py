"""Fixtures: an AgentServer on a loopback port whose agent is :class:`FakeSDKClient`, and a WebSocket client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mac_plugins.agent_server import AgentServer
from sdk_client_fake import FakeSDKClient


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def fake_clients() -> list[FakeSDKClient]:
    """Every fake SDK client the server made, in order."""
    return []


@pytest.fixture
def make_server(workspace: Path, fake_clients: list[FakeSDKClient]) -> Iterator[Callable[..., AgentServer]]:
    """Start an AgentServer backed by the fake client; stopped at teardown."""
    started: list[AgentServer] = []

    def make(**settings: Any) -> AgentServer:
        settings.setdefault("client_factory", lambda options: FakeSDKClient(options, fake_clients))
        server = AgentServer(workspace, **settings).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop(timeout=10)


@pytest.fixture
def server(make_server: Callable[..., AgentServer]) -> AgentServer:
    return make_server()
