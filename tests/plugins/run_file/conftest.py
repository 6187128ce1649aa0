"""``mac run`` as a user runs it: a subprocess against a simulator on loopback whose counters the test reads."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mac_plugins.simulator import Simulator


@dataclass
class MacCli:
    """The ``mac`` command pointed at ``sim`` with a dummy key and no config file, run in ``cwd``."""

    sim: Simulator
    env: dict[str, str]
    cwd: Path

    def start(self, *args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen:
        """Start ``mac ARGS`` with stdout and stderr piped (text)."""
        return subprocess.Popen([sys.executable, "-m", "mac_core", *args], env=self.env, cwd=self.cwd, stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run ``mac ARGS`` to the end, feeding ``input`` on stdin."""
        return subprocess.run([sys.executable, "-m", "mac_core", *args], env=self.env, cwd=self.cwd, input=input,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL)


@pytest.fixture
def start_mac_cli(tmp_path: Path) -> Iterator[Callable[..., MacCli]]:
    """``start_mac_cli(**simulator_settings) -> MacCli``; the simulator is stopped after the test."""
    started: list[Simulator] = []

    def start(**settings) -> MacCli:
        sim = Simulator(**{"tokens": 12, "token_delay": 0.0, **settings}).start()
        started.append(sim)
        env = {**os.environ, "ANTHROPIC_BASE_URL": sim.url, "ANTHROPIC_API_KEY": "sk-sim",
               "MAC_CONFIG": str(tmp_path / "none.toml")}
        return MacCli(sim, env, tmp_path)  # relative paths (a stray `-`) land in the test's folder

    yield start
    for sim in started:
        sim.stop()

