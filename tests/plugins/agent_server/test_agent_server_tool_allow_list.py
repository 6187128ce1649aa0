"""The tool allow-list: only tools known to stay in the workspace run, whatever ``allowedTools`` a client posts.

Fast: the guard on its own, and the server with the fake SDK client (which
consults the ``PreToolUse`` hook as the CLI does). The same refusals against
the real CLI are in ``test_agent_server_end_to_end.py``.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx2
import pytest
from agent_server_ws import open_ws, recv, send_user, until_result
from mac_plugins.agent_server.config import QueryConfig
from mac_plugins.agent_server.confinement import CONFINED_TOOLS, SHELL_TOOLS, WorkspaceGuard
from mac_plugins.agent_server.session import AgentSession, Outbox, granted_tools

OFF_THE_LIST = (
    "Monitor",  # runs a shell command in the background
    "ToolSearch",  # loads deferred tools such as Monitor
    "FutureShell",  # a name this server has never heard of
    "WebFetch",
    "WebSearch",
    "Skill",
    "CronCreate",
    "TaskCreate",
    "EnterWorktree",
)


@pytest.fixture
def guard(tmp_path: Path) -> WorkspaceGuard:
    return WorkspaceGuard(tmp_path)


@pytest.mark.parametrize("tool", OFF_THE_LIST + ("Bash", "TaskStop", "PowerShell"))
def test_a_tool_off_the_allow_list_is_refused_whatever_its_input(guard, tool):
    reason = guard.refusal(tool, {})
    assert reason and reason.startswith(tool)
    assert guard.refusal(tool, {"file_path": "inside.py", "command": "true"})


@pytest.mark.parametrize("tool", sorted(CONFINED_TOOLS))
def test_each_confined_tool_runs_inside_the_workspace(guard, tool):
    assert guard.refusal(tool, {"file_path": "inside.py"}) is None


def test_the_operator_flag_enables_the_command_tools_and_nothing_else(guard):
    shell = WorkspaceGuard(guard.workspace, allow_shell=True)
    assert {"Bash", "Monitor", "TaskStop", "PowerShell"} <= SHELL_TOOLS
    assert all(shell.refusal(tool, {"command": "ls"}) is None for tool in SHELL_TOOLS)
    assert all(shell.refusal(tool, {}) for tool in ("ToolSearch", "FutureShell", "WebFetch"))
    assert "--allow-bash" in guard.refusal("Monitor", {"command": "ls"})


def test_mcp_tools_run_only_from_a_remote_server_the_client_posted(guard):
    assert guard.refusal("mcp__docs__search", {"query": "x"}, remote_servers={"docs"}) is None
    assert "not a remote MCP server" in guard.refusal("mcp__docs__search", {}, remote_servers={"other"})
    assert guard.refusal("mcp__docs__search", {})


def test_a_client_can_only_narrow_the_allow_list(guard):
    config = QueryConfig.parse(
        {
            "allowedTools": ["Read", "Write(src/**)", "Monitor", "ToolSearch", "Bash", "FutureShell",
                             "mcp__docs__search", "mcp__elsewhere__run"],
            "mcpServers": {"docs": {"type": "http", "url": "https://mcp.example/"}},
        }
    )
    kept, refused = granted_tools(config, guard)
    assert kept == ("Read", "Write(src/**)", "mcp__docs__search")
    assert refused == ("Monitor", "ToolSearch", "Bash", "FutureShell", "mcp__elsewhere__run")
    options = AgentSession(config, guard, Outbox(1 << 20)).options()
    assert options.tools == ["Read", "Write"]
    assert options.allowed_tools == ["Read", "Write(src/**)", "mcp__docs__search"]


def test_the_hook_denies_a_tool_off_the_list_even_if_the_cli_offers_it(guard):
    session = AgentSession(QueryConfig.parse({"allowedTools": ["Monitor"]}), guard, Outbox(1 << 20))
    hook_input = {"tool_name": "Monitor", "tool_input": {"command": "touch /tmp/x", "description": "x"}}
    answer = anyio.run(session._before_tool, hook_input, "toolu_1", None)
    decision = answer["hookSpecificOutput"]
    assert decision["permissionDecision"] == "deny" and "Monitor" in decision["permissionDecisionReason"]


def test_posted_tools_off_the_list_are_not_given_to_the_agent_and_the_client_is_told(server, fake_clients):
    body = {"allowedTools": ["Read", "Monitor", "ToolSearch", "FutureShell"]}
    assert httpx2.post(server.url + "/config", json=body, timeout=10).json()["success"]
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, '[[tool Monitor {"command": "touch /tmp/escaped", "description": "x"}]]')
        frames = until_result(ws)
    assert fake_clients[0].options.tools == ["Read"]
    [notice] = [f["data"] for f in frames if f["type"] == "info" and "allowedTools" in f["data"]]
    assert "Monitor, ToolSearch, FutureShell" in notice
    [tool_result] = [
        block
        for f in frames
        if f["type"] == "sdk_message" and f["data"]["type"] == "user"
        for block in f["data"]["message"]["content"]
    ]
    assert tool_result["is_error"] is True and "Monitor is disabled on this server" in tool_result["content"]
