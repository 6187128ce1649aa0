"""Ctrl-C during a call, sync or async, single or parallel, connecting, streaming or delegating.

Each case runs in a child (``python -X dev``, ``PYTHONWARNINGS=always``) that
is sent SIGINT mid-call: it must stop within a second, leave no thread of its
own behind, and print no warning about destroyed tasks or unclosed resources.
The sync parallel streaming case is tests/core/test_sync_bridge.py's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ctrl_c_child import MODES

CHILD = Path(__file__).with_name("ctrl_c_child.py")
WARNINGS = ("Task was destroyed", "ResourceWarning", "Unclosed", "unclosed", "Exception ignored", "never awaited")


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
@pytest.mark.parametrize("mode", MODES)
def test_ctrl_c_stops_within_a_second_leaving_nothing_behind(mode):
    env = {**os.environ, "PYTHONWARNINGS": "always", "MAC_CONFIG": "/nonexistent/mac-config.toml"}
    env.pop("ANTHROPIC_BASE_URL", None)
    child = subprocess.Popen(
        [sys.executable, "-X", "dev", str(CHILD), mode],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert child.stdout.readline().strip() == "READY"
        time.sleep(0.1)  # let the call settle into the state under test
        pressed = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=15)  # reads the pipe itself: nothing more via child.stdout
    finally:
        child.kill()
        child.wait()
    lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert "INTERRUPTED" in lines, (out, err)
    elapsed = float(lines["INTERRUPTED"]) - pressed
    assert elapsed < 1.0, f"took {elapsed:.2f} s to stop"
    assert lines["LEFTOVER_THREADS"] == "[]", out
    for warning in WARNINGS:
        assert warning not in err, err
    assert child.returncode == 0, err
