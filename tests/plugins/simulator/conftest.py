"""Simulators on loopback for the simulator's own tests, and a reader of raw SSE."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import anthropic
import pytest
from mac_plugins.simulator import Simulator

KEY = "sk-ant-simulated"


@pytest.fixture
def start_sim():
    """``start_sim(**settings) -> Simulator``: started now (``token_delay=0`` unless given), stopped after the test."""
    started: list[Simulator] = []

    def start(**settings) -> Simulator:
        sim = Simulator(**{"token_delay": 0.0, **settings}).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(start_sim) -> Simulator:
    """A simulator answering unscripted prompts with 12 words, instantly."""
    return start_sim(tokens=12)


@pytest.fixture
def client(sim) -> anthropic.Anthropic:
    """The official SDK pointed at ``sim``, without retries."""
    return anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=0, timeout=10)


def sse_events(body: bytes) -> list[tuple[str, dict]]:
    """``(event name, data)`` for each event of an SSE body."""
    events = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)
