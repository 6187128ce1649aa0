"""``mac demo`` as a new user runs it: offline, simulated model, real agent runtime, a fixed file left behind."""

from __future__ import annotations

import os
import subprocess
import sys


def run_demo(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")}
    env["MAC_CONFIG"] = str(tmp_path / "no-config.toml")
    return subprocess.run([sys.executable, "-m", "mac_core", "demo", "--reporter", "plain", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_the_demo_stops_the_analysts_and_the_agent_fixes_the_planted_flaw(tmp_path):
    done = run_demo(tmp_path)
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert "Model: the simulator, embedded at" in err  # it names what was simulated
    assert "the real Claude Agent SDK runtime" in err
    assert "[security] -- interrupted" in err and "[performance] -- interrupted" in err
    words = " ".join(err.split())
    assert "security found CRITICAL: find_item formats the user-supplied name into the SQL text" in words
    fixed = (tmp_path / "mac-demo-workspace" / "inventory.py").read_text()
    assert "WHERE name = ?" in fixed and "db.execute(query, (name,))" in fixed
    assert "+    query = \"SELECT id, name, quantity FROM items WHERE name = ?\"" in err  # the diff is shown
    assert done.stdout == ""


def test_the_demo_reviews_a_file_of_the_users_choice(tmp_path):
    sample = tmp_path / "mine.py"
    sample.write_text("def add(a, b):\n    return a + b\n")
    done = run_demo(tmp_path, "--sample", str(sample), "--analysts", "4", "--workspace", "ws")
    assert done.returncode == 0, done.stderr
    assert "this finding is simulated" in done.stderr
    assert "[tests] -- interrupted" in done.stderr
    changed = (tmp_path / "ws" / "mine.py").read_text()
    assert changed == "# Reviewed by mac demo.\ndef add(a, b):\n    return a + b\n"
    assert sample.read_text() == "def add(a, b):\n    return a + b\n"  # the original is never touched
