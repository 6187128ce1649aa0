"""Fixtures for the compatibility suite: the skill's calls, unchanged, against the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mac_plugins.simulator import Simulator

from mac_core import attempts, orchestration, skill_credentials


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty stand-in for claude.ai's ``/mnt/project`` (where the skill's key files live)."""
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.setattr(skill_credentials, "PROJECT_DIR", folder)
    return folder


@pytest.fixture
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff pauses recorded instead of slept (so retry tests take no time); returns the pauses."""
    pauses: list[float] = []
    monkeypatch.setattr(attempts.time, "sleep", pauses.append)
    monkeypatch.setattr(orchestration.time, "sleep", pauses.append)
    return pauses


@pytest.fixture
def sim(api_key: str, project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """A simulator with instant 12-word answers; ``ANTHROPIC_BASE_URL`` points the classic functions at it."""
    with Simulator(tokens=12, token_delay=0.0, slow_seconds=5.0) as simulator:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", simulator.url)
        yield simulator


def fault(kind: str) -> dict[str, dict[str, str]]:
    """Request fields that make the simulator answer with ``kind`` (``"rate_limit:2"``: the first two attempts)."""
    return {"extra_headers": {"x-mac-sim-fault": kind}}


@pytest.fixture
def start_sim() -> Iterator:
    """``start_sim(**settings) -> Simulator``, stopped after the test."""
    started: list[Simulator] = []

    def start(**settings) -> Simulator:
        simulator = Simulator(**{"tokens": 12, "token_delay": 0.0, "slow_seconds": 5.0, **settings}).start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()
