"""``mac agent-server`` on the command line: registration, clear refusals, and Ctrl-C leaving no orphan."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from agent_server_ws import recv
from websockets.sync.client import connect

from mac_core.cli import main

TOKEN = "tok-cli-5d2a-canary"


def run_mac(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    return exited.value.code, capsys.readouterr().err


def test_the_command_is_registered_with_its_options(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["agent-server", "--help"])
    assert exited.value.code == 0
    help_text = capsys.readouterr().out
    for option in ("--host", "--port", "--workspace", "--token", "--allow-bash"):
        assert option in help_text


def test_a_missing_sdk_is_a_clear_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "claude_agent_sdk", None)  # makes `import claude_agent_sdk` fail
    code, err = run_mac(["agent-server", "--workspace", str(tmp_path)], capsys)
    assert code == 1
    assert "pip install 'multi-agent-coordination[agent]'" in err


def test_a_non_loopback_host_without_a_token_is_refused(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("MAC_AGENT_TOKEN", raising=False)
    code, err = run_mac(["agent-server", "--host", "0.0.0.0", "--workspace", str(tmp_path)], capsys)
    assert code == 2
    assert "set a token" in err


@pytest.mark.parametrize("where", ["argument", "environment"])
def test_a_token_with_a_control_character_is_refused_naming_where_it_came_from(where, monkeypatch, capsys, tmp_path):
    canary = "tok-CANARY-4242\r\nX-Injected: 1"
    args = ["agent-server", "--workspace", str(tmp_path)]
    if where == "argument":
        monkeypatch.delenv("MAC_AGENT_TOKEN", raising=False)
        args += ["--token", canary]
    else:
        monkeypatch.setenv("MAC_AGENT_TOKEN", canary)
    code, err = run_mac(args, capsys)
    assert code == 2
    assert ("--token" if where == "argument" else "MAC_AGENT_TOKEN") in err and "U+000D" in err
    assert "CANARY" not in err and "Traceback" not in err


def test_the_abuse_limits_are_the_operators_to_set(monkeypatch, capsys, tmp_path):
    from mac_plugins.agent_server import runner

    served = {}
    monkeypatch.setattr(runner, "serve", lambda settings, **kw: served.setdefault("settings", settings))
    main_args = ["agent-server", "--workspace", str(tmp_path), "--request-timeout", "2.5", "--max-connections", "9"]
    try:
        main(main_args)
    except SystemExit as exited:
        assert not exited.code
    assert (served["settings"].request_timeout, served["settings"].max_connections) == (2.5, 9)
    code, err = run_mac(["agent-server", "--workspace", str(tmp_path), "--max-connections", "0"], capsys)
    assert code == 2 and "--max-connections" in err


def test_the_workspace_must_exist(capsys, tmp_path):
    code, err = run_mac(["agent-server", "--workspace", str(tmp_path / "missing")], capsys)
    assert code == 2
    assert "does not exist" in err


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_ctrl_c_stops_the_server_and_the_agent_process(tmp_path):
    mac = Path(sys.executable).with_name("mac")
    env = {**os.environ, "MAC_AGENT_TOKEN": TOKEN, "CLAUDE_CONFIG_DIR": str(tmp_path / "claude-config")}
    server = subprocess.Popen(
        [str(mac), "agent-server", "--port", "0", "--workspace", str(tmp_path)],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def read_stderr() -> None:
        for line in server.stderr:
            output.append(line)
            lines.put(line)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            match = re.search(r"mac agent-server: (http://\S+)", lines.get(timeout=60))
            url = match and match.group(1)
        assert url, "the server never said where it listens"
        with connect(
            "ws" + url[4:] + "/ws", additional_headers={"Authorization": "Bearer " + TOKEN}, open_timeout=10
        ) as ws:
            assert recv(ws) == {"type": "connected"}
            deadline = time.monotonic() + 30
            while not _children(server.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            agents = _children(server.pid)
            assert agents, "the agent's CLI process never started"
            server.send_signal(signal.SIGINT)
            assert server.wait(timeout=40) == 130
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in agents) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in agents), "the agent's CLI process outlived the server"
    reader.join(timeout=5)
    assert "interrupted" in output[-1]
    assert TOKEN not in "".join(output)
