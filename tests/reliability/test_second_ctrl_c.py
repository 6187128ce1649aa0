"""A stuck hook cannot make a run unstoppable: a second Ctrl-C ends the process at once, exit 130.

Each case runs ``stuck_hook_child.py`` in a child process whose hook (a policy,
``mac run``'s result writer) blocks the event loop forever, so the first
Ctrl-C's cancellation cannot land.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("stuck_hook_child.py")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")


def start(*args: str) -> subprocess.Popen:
    env = {**os.environ, "MAC_CONFIG": "/nonexistent/mac-config.toml"}
    env.pop("ANTHROPIC_BASE_URL", None)
    child = subprocess.Popen([sys.executable, str(CHILD), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    assert child.stdout.readline().strip() == "READY"
    return child


def press_twice(child: subprocess.Popen, *, hold: float = 0.2) -> tuple[str, str, float]:
    """Ctrl-C, wait ``hold`` seconds (the run cannot stop), Ctrl-C again: (stdout, stderr, seconds to exit)."""
    try:
        time.sleep(0.2)
        child.send_signal(signal.SIGINT)
        time.sleep(hold)
        assert child.poll() is None, "the first Ctrl-C should not have ended the process"
        pressed = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=10)
        return out, err, time.monotonic() - pressed
    finally:
        child.kill()
        child.wait()


def test_a_second_ctrl_c_ends_a_sync_run_held_by_a_stuck_policy_with_exit_130():
    child = start("library")
    out, err, elapsed = press_twice(child, hold=1.5)  # long enough for the stuck policy to be named
    assert child.returncode == 130, err
    assert elapsed < 2.0
    assert "RETURNED" not in out
    assert "plugin StuckPolicy-" in err and "in mac_should_interrupt has held the event loop" in err
    assert "interrupted again: exiting at once" in err


def test_a_second_ctrl_c_ends_mac_run_at_once_keeping_the_results_written_so_far(tmp_path):
    child = start("mac-run", str(tmp_path))
    out, err, elapsed = press_twice(child)
    assert child.returncode == 130, err
    assert elapsed < 2.0
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["one"]
    assert json.loads(lines[0])["status"] == "completed"


def test_one_ctrl_c_that_stops_the_run_puts_pythons_handler_back():
    child = start("clean-stop")
    try:
        time.sleep(0.2)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=10)
    finally:
        child.kill()
        child.wait()
    assert "INTERRUPTED" in out and "HANDLER default" in out, (out, err)
    assert child.returncode == 0, err
