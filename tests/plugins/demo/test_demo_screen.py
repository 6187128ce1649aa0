"""``mac demo`` on a real terminal (tmux) at 80 and 120 columns: the screen a new user reads tells one clear story."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux to read a terminal's screen")

LIVE_HEADER = re.compile(r"^ agent\s+status\s+tokens\s+tok/s\s+elapsed\s+latest\s*$")
STATUS_WORDS = {"found", "stopped", "done", "failed", "cancelled"}
FINDING = ("CRITICAL: find_item formats the user-supplied name into the SQL text, so a name such as ' OR '1'='1 "
           "returns every row (SQL injection).")


def demo_screen(tmp_path, columns: int) -> str:
    """Run ``mac demo`` in a detached tmux of ``columns`` columns; return everything it left on the screen."""
    socket = f"mac-demo-test-{os.getpid()}-{columns}"  # a private tmux server, never the user's
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in {
        "MAC_CONFIG": str(tmp_path / "no-config.toml"), "PATH": os.environ["PATH"], "TERM": "xterm-256color"}.items())
    command = (f"cd {shlex.quote(str(tmp_path))} && env -u ANTHROPIC_API_KEY -u ANTHROPIC_BASE_URL -u NO_COLOR {env} "
               f"{shlex.quote(sys.executable)} -m mac_core demo; echo DEMO-EXIT=$?; sleep 120")
    tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
    subprocess.run([*tmux, "new-session", "-d", "-x", str(columns), "-y", "50", command], check=True)
    socket_path = subprocess.run([*tmux, "display-message", "-p", "#{socket_path}"],
                                 capture_output=True, text=True).stdout.strip()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-S", "-"], capture_output=True, text=True).stdout
            if "DEMO-EXIT=" in screen:
                return screen
            time.sleep(0.5)
        pytest.fail(f"mac demo did not finish in 120 s; the screen:\n{screen}")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        if socket_path:  # tmux leaves its socket file behind
            Path(socket_path).unlink(missing_ok=True)


@pytest.mark.parametrize("columns", [80, 120])
def test_the_demo_screen_shows_each_live_view_once_with_one_word_per_status_and_the_whole_finding(tmp_path, columns):
    screen = demo_screen(tmp_path, columns)
    lines = screen.splitlines()
    assert "DEMO-EXIT=0" in screen, screen
    assert lines[0].startswith("Model: the simulator"), screen

    # Two runs (the analysts, then the agent), each drawn in place: one header each, never repeated.
    assert sum(1 for line in lines if LIVE_HEADER.match(line)) == 2, screen
    footers = [line for line in lines if line.startswith("run ")]
    assert len(footers) == 2, screen
    for footer in footers:  # nothing glued onto the status line
        assert re.fullmatch(r"run \w{12} on [\w-]+: [\w ,]+; \d+ output tokens; \d+\.\ds", footer), footer
    assert "1 found, 2 stopped" in footers[0] and "1 done" in footers[1]

    # One word per status, the same in the live views and the final table; never the engine's own names.
    for name in ("security", "performance", "architecture", "implementer"):
        rows = [line for line in lines if re.match(rf"^[ │]*{name}\b", line)]
        words = {re.split(r"[\s│]+", row.strip(" │"))[1] for row in rows}
        assert words and words <= STATUS_WORDS, (name, rows)
    assert "interrupted" not in screen and "completed" not in screen

    # The reason is said once; the finder's sentence is shown whole; the others' last words are readable.
    assert screen.count("matches the stop pattern") == 1, screen
    flowing = " ".join(screen.split())
    assert f"security found {FINDING}" in flowing, screen
    assert re.search(r"performance stopped cut off at “…[a-z ,]+”", flowing), screen
    assert "+    query = \"SELECT id, name, quantity FROM items WHERE name = ?\"" in screen  # the fix is shown
