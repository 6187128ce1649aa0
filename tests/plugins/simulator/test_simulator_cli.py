"""The real Claude Code CLI against the simulator, and ``mac sim`` as a command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from conftest import KEY

CLI_TIMEOUT = 90  # a cold start of the CLI on a slow machine takes a while


def bundled_claude() -> Path | None:
    try:
        import claude_agent_sdk
    except ImportError:
        return None
    path = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    return path if path.exists() else None


@pytest.mark.skipif(bundled_claude() is None, reason="claude-agent-sdk with its bundled CLI is not installed")
def test_claude_code_runs_a_scripted_write_against_the_simulator(start_sim, tmp_path):
    sim = start_sim(token_delay=0.001)
    workdir, home = tmp_path / "work", tmp_path / "home"
    workdir.mkdir()
    home.mkdir()
    target = workdir / "hello.py"
    content = "print('written by Claude Code, scripted by the simulator')\n"
    directive = json.dumps({"file_path": str(target), "content": content})
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE"))},
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": sim.url,
        "ANTHROPIC_API_KEY": "sk-ant-dummy",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    done = subprocess.run(
        [str(bundled_claude()), "-p", f"Create the file. [[tool: Write {directive}]]",
         "--allowedTools", "Write", "--permission-mode", "acceptEdits"],
        cwd=workdir, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CLI_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert target.read_text() == content
    assert done.stdout.strip() == "Done: Write succeeded."
    # The CLI streams every request: one answered with the tool_use, one with the closing text.
    assert sim.stats.streams_finished >= 2 and sim.stats.statuses[200] >= 2
    assert not set(sim.stats.statuses) - {200}


def test_mac_sim_serves_until_ctrl_c(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", "from mac_core.cli import main; main()", "sim", "--port", "0", "--token-delay", "0",
         "--tokens", "7", "--agent-workspace", str(tmp_path / "ws")],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = []
        while not (lines and lines[-1].startswith("mac sim: ")):  # other plugins may talk first
            lines.append(process.stderr.readline())  # blocks until the next line, or "" once it died
            assert lines[-1], "".join(lines)
        assert lines[-1].startswith("mac sim: http://127.0.0.1:"), lines[-1]
        url = lines[-1].split()[2]
        answer = httpx2.post(url + "/v1/messages", headers={"x-api-key": KEY}, timeout=10, json={
            "model": "m", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]})
        assert len(answer.json()["content"][0]["text"].split()) == 7
        assert httpx2.get(url + "/config", timeout=10).json() == {"config": {}}
        assert (tmp_path / "ws").is_dir()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) in (0, 130)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        process.stderr.close()
