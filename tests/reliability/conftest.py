"""Fixtures for the reliability suite: a simulator on loopback and a coordinator pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from mac_plugins.simulator import Simulator

from mac_core import Coordinator


@pytest.fixture
def start_sim() -> Iterator[Callable[..., Simulator]]:
    """``start_sim(**settings) -> Simulator``: instant words unless told, stopped after the test."""
    started: list[Simulator] = []

    def start(**settings) -> Simulator:
        sim = Simulator(**{"tokens": 12, "token_delay": 0.0, "slow_seconds": 5.0, **settings}).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(start_sim) -> Simulator:
    """A simulator answering unscripted prompts with 12 words, instantly."""
    return start_sim()


@pytest.fixture
def coordinator_for(api_key) -> Callable[..., Coordinator]:
    """``coordinator_for(sim, **settings)``: a Coordinator with the canary key, pointed at ``sim``."""

    def make(sim: Simulator, **settings) -> Coordinator:
        return Coordinator(api_key=api_key, base_url=sim.url, **settings)

    return make
