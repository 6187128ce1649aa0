"""The batch tests' simulator: Message Batches processed in the background, the environment pointed at it."""

from __future__ import annotations

import pytest
from mac_plugins.simulator import Simulator


@pytest.fixture
def batch_sim(monkeypatch, tmp_path):
    """``batch_sim(batch_delay=...)``: a started simulator that ``ANTHROPIC_BASE_URL`` points at (stopped after)."""
    started: list[Simulator] = []

    def start(batch_delay: float = 0.002) -> Simulator:
        server = Simulator(tokens=5, token_delay=0, batch_delay=batch_delay).start()
        started.append(server)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-sim")
        monkeypatch.setenv("MAC_CONFIG", str(tmp_path / "none.toml"))
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def sim(batch_sim) -> Simulator:
    """A simulator answering batches at once (2 ms a request)."""
    return batch_sim()
