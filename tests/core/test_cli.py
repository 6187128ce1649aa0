"""The ``mac`` command line: plugin listing, usage errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys


def mac(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mac_core", *args], capture_output=True, text=True, timeout=60)


def test_mac_plugins_lists_every_built_in_and_what_it_provides():
    done = mac("plugins", "--json")
    assert done.returncode == 0
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert "transports: stream" in rows["stream"]["provides"]
    assert "transports: messages" in rows["messages"]["provides"]
    assert "transports: agent-ws" in rows["agent_ws"]["provides"]
    assert {"simulator", "agent_server", "policies", "reporters", "run_file", "demo", "batch", "ray"} <= set(rows)
    assert "transports: ray" in rows["ray"]["provides"]
    assert all(row["distribution"] == "multi-agent-coordination" for row in rows.values())


def test_mac_plugins_table_reads_as_plain_text():
    done = mac("plugins")
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert any(line.startswith("ray ") and "transports: ray" in line for line in lines)
    assert "The `stream` transport" in done.stdout and "``" not in done.stdout


def test_usage_errors_exit_2_on_stderr():
    done = mac("run")
    assert done.returncode == 2 and "Missing argument" in done.stderr and done.stdout == ""
    done = mac("no-such-command")
    assert done.returncode == 2
