"""The real runtime, offline: websockets client → AgentServer → claude-agent-sdk → Claude Code CLI → simulator.

Each test starts its own server (one CLI session each) against the project's
simulator, so a ``[[tool: ...]]`` directive in the prompt makes the real CLI
call the real tool in the workspace.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import httpx2
import pytest
from agent_server_ws import open_ws, recv, send_user
from claude_agent_sdk import ClaudeSDKClient
from mac_plugins.agent_server import AgentServer
from mac_plugins.simulator import Simulator

pytestmark = pytest.mark.filterwarnings("ignore::claude_agent_sdk.CanUseToolShadowedWarning")

FRAME_WAIT = 60.0  # the CLI's first start on a cold machine can take a while


@pytest.fixture
def agent(tmp_path: Path):
    """Start a simulator and an AgentServer pointed at it: ``agent(**simulator_options) -> server``.

    ``client_factory=`` is passed to the server (to hand the real CLI options it would not get).
    """
    started = []

    def start(client_factory=None, **simulator_options):
        sim = Simulator(**simulator_options).__enter__()
        started.append(sim)
        workspace = tmp_path / "workspace"
        workspace.mkdir(exist_ok=True)
        env = {
            "ANTHROPIC_BASE_URL": sim.url,
            "ANTHROPIC_API_KEY": "sk-ant-simulated",
            "CLAUDE_CONFIG_DIR": str(tmp_path / "claude-config"),
        }
        server = AgentServer(workspace, env=env, client_factory=client_factory).start()
        started.append(server)
        return server

    yield start
    for thing in reversed(started):
        thing.__exit__(None, None, None)


def read_turn(ws) -> list[dict]:
    """SDKMessages up to and including the turn's result (info frames skipped, error frames fail)."""
    messages = []
    while True:
        frame = json.loads(ws.recv(timeout=FRAME_WAIT))
        assert frame["type"] != "error", frame
        if frame["type"] == "sdk_message":
            messages.append(frame["data"])
            if frame["data"]["type"] == "result":
                return messages


def blocks(messages: list[dict], role: str, kind: str) -> list[dict]:
    return [
        block
        for m in messages
        if m["type"] == role and isinstance(m["message"]["content"], list)
        for block in m["message"]["content"]
        if block["type"] == kind
    ]


def test_a_write_directive_makes_the_real_agent_write_the_file(agent):
    server = agent()
    workspace = Path(server.settings.workspace)
    target = workspace / "fixed.py"
    assert httpx2.post(
        server.url + "/config", json={"allowedTools": ["Read", "Write", "Edit"]}, timeout=10
    ).json()["success"]
    directive = json.dumps({"file_path": str(target), "content": "print(1)\n"})
    with open_ws(server) as ws:
        assert recv(ws) == {"type": "connected"}
        send_user(ws, f"Fix the bug. [[tool: Write {directive}]]")
        messages = read_turn(ws)

    assert target.read_text() == "print(1)\n"
    init = messages[0]
    assert (init["type"], init["subtype"]) == ("system", "init")
    assert init["cwd"] == str(workspace.resolve()) and init["permissionMode"] == "acceptEdits"
    assert sorted(init["tools"]) == ["Edit", "Read", "Write"]
    [tool_use] = blocks(messages, "assistant", "tool_use")
    assert tool_use["name"] == "Write" and tool_use["input"]["file_path"] == str(target)
    [tool_result] = blocks(messages, "user", "tool_result")
    assert tool_result["tool_use_id"] == tool_use["id"] and not tool_result.get("is_error")
    result = messages[-1]
    assert result["subtype"] == "success" and result["is_error"] is False
    assert result["usage"]["output_tokens"] > 0 and isinstance(result["total_cost_usd"], float)
    assert all(m["session_id"] == init["session_id"] for m in messages)


def test_a_write_outside_the_workspace_is_refused(agent, tmp_path):
    server = agent()
    outside = tmp_path / "outside.py"
    directive = json.dumps({"file_path": str(outside), "content": "print('escaped')\n"})
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, f"[[tool: Write {directive}]]")
        messages = read_turn(ws)

    assert not outside.exists()
    [tool_result] = blocks(messages, "user", "tool_result")
    assert tool_result["is_error"] is True and "outside the workspace" in json.dumps(tool_result["content"])
    assert [d["tool_name"] for d in messages[-1]["permission_denials"]] == ["Write"]


def text_deltas(messages: list[dict]) -> str:
    return "".join(
        m["event"]["delta"]["text"]
        for m in messages
        if m["type"] == "stream_event" and m["event"].get("delta", {}).get("type") == "text_delta"
    )


def test_an_interrupt_mid_turn_ends_the_turn_with_a_result(agent):
    server = agent(token_delay=0.05)
    reply = " ".join(f"word{i}" for i in range(400))  # 20 s of streaming if nobody stops it
    httpx2.post(server.url + "/config", json={"includePartialMessages": True}, timeout=10)
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, f"[[reply: {reply}]]")
        before = []
        while not text_deltas(before):  # until the reply is streaming
            frame = json.loads(ws.recv(timeout=FRAME_WAIT))
            if frame["type"] == "sdk_message":
                before.append(frame["data"])
        ws.send(json.dumps({"type": "interrupt"}))
        after = read_turn(ws)
    result = after[-1]
    assert result["subtype"] == "error_during_execution" and result["is_error"] is True
    assert "word399" not in text_deltas(before + after)


def test_an_interrupt_right_behind_the_message_is_not_dropped(agent):
    server = agent(token_delay=0.05)
    reply = " ".join(f"word{i}" for i in range(400))
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, f"[[reply: {reply}]]")
        ws.send(json.dumps({"type": "interrupt"}))
        result = read_turn(ws)[-1]
    assert result["subtype"] == "error_during_execution" and result["is_error"] is True


def escape_script(outside: Path, *names: str) -> str:
    """One directive per tool name, each aiming to create ``outside/by-NAME``."""
    inputs = {
        "Monitor": {"command": f"touch {outside}/by-monitor", "description": "watch"},
        "ToolSearch": {"query": "select:Monitor", "max_results": 5},
        "Bash": {"command": f"touch {outside}/by-bash"},
        "FutureShell": {"command": f"touch {outside}/by-future-shell"},
    }
    return " ".join(f"[[tool: {name} {json.dumps(inputs[name])}]]" for name in names)


def created_outside(outside: Path) -> list[str]:
    return sorted(p.name for p in outside.iterdir() if p.name.startswith("by-"))


def test_the_real_cli_gets_none_of_the_escaping_tools_a_client_posts(agent, tmp_path):
    server = agent()
    body = {"allowedTools": ["Read", "Write", "Monitor", "ToolSearch", "Bash", "FutureShell"]}
    assert httpx2.post(server.url + "/config", json=body, timeout=10).json()["success"]
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, escape_script(tmp_path, "Monitor", "Bash", "FutureShell"))
        messages = read_turn(ws)

    assert sorted(messages[0]["tools"]) == ["Read", "Write"]
    assert blocks(messages, "assistant", "tool_use") == []
    assert created_outside(tmp_path) == []


def offering_anyway(*names: str):
    """A client factory that gives the real CLI ``names`` pre-approved, as if the server had let them through."""

    def make(options):
        return ClaudeSDKClient(
            dataclasses.replace(
                options, tools=[*options.tools, *names], allowed_tools=[*options.allowed_tools, *names]
            )
        )

    return make


@pytest.mark.parametrize(
    ("offered", "script", "refused", "never_offered"),
    [
        # A made-up name cannot even be offered by the real CLI: the model is told it cannot call it.
        (("Monitor", "Bash"), ("Monitor", "Bash", "FutureShell"), ["Monitor", "Bash"], "FutureShell"),
        # Monitor is deferred behind ToolSearch; refusing ToolSearch leaves it unreachable.
        (("ToolSearch", "Monitor"), ("ToolSearch", "Monitor"), ["ToolSearch"], "Monitor"),
    ],
    ids=["monitor-bash-made-up", "toolsearch-then-monitor"],
)
def test_the_hook_refuses_escaping_tools_even_when_the_real_cli_offers_them(
    agent, tmp_path, offered, script, refused, never_offered
):
    server = agent(client_factory=offering_anyway(*offered))
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, escape_script(tmp_path, *script))
        messages = read_turn(ws)

    assert created_outside(tmp_path) == []
    calls = blocks(messages, "assistant", "tool_use")
    assert [call["name"] for call in calls] == refused
    results = {result["tool_use_id"]: result for result in blocks(messages, "user", "tool_result")}
    for call in calls:
        result = results[call["id"]]
        assert result["is_error"] is True and f"{call['name']} is " in json.dumps(result["content"]), result
    assert [d["tool_name"] for d in messages[-1]["permission_denials"]] == refused
    assert f"cannot call {never_offered}" in messages[-1]["result"]
