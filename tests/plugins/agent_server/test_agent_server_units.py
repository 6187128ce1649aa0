"""The pieces without a server: workspace confinement, QueryConfig validation, SDK message shapes, the outbox."""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
import pytest
from claude_agent_sdk import (
    AssistantMessage,
    ResultMessage,
    StreamEvent,
    SystemMessage,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)
from mac_plugins.agent_server.config import ConfigError, QueryConfig
from mac_plugins.agent_server.confinement import WorkspaceGuard
from mac_plugins.agent_server.session import Outbox, base_tools
from mac_plugins.agent_server.wire import sdk_message

# --- confinement -----------------------------------------------------------------


@pytest.fixture
def guard(tmp_path: Path) -> WorkspaceGuard:
    (tmp_path / "ws" / "src").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("s")
    return WorkspaceGuard(tmp_path / "ws")


@pytest.mark.parametrize(
    ("tool", "tool_input"),
    [
        ("Write", {"file_path": "fixed.py", "content": "x"}),
        ("Write", {"file_path": "src/new/deep.py", "content": "x"}),
        ("Edit", {"file_path": "{ws}/src/a.py", "old_string": "a", "new_string": "b"}),
        ("Read", {"file_path": "{ws}"}),
        ("Glob", {"pattern": "**/*.py"}),
        ("Glob", {"pattern": "{ws}/src/*.py"}),
        ("Grep", {"pattern": "../../etc", "path": "src"}),  # a regex, not a path
    ],
)
def test_calls_inside_the_workspace_pass(guard, tool, tool_input):
    tool_input = {k: v.replace("{ws}", str(guard.workspace)) for k, v in tool_input.items()}
    assert guard.refusal(tool, tool_input) is None


@pytest.mark.parametrize(
    ("tool", "tool_input"),
    [
        ("Write", {"file_path": "/tmp/elsewhere.py", "content": "x"}),
        ("Write", {"file_path": "../secret.txt", "content": "x"}),
        ("Edit", {"file_path": "src/../../secret.txt"}),
        ("Read", {"file_path": "~/.ssh/id_rsa"}),
        ("NotebookEdit", {"notebook_path": "/etc/nb.ipynb"}),
        ("Glob", {"pattern": "/etc/*"}),
        ("Glob", {"pattern": "../**/*.txt"}),
        ("Grep", {"pattern": "x", "path": "/"}),
        ("Grep", {"pattern": "x", "glob": "../*"}),
        ("SomeFutureTool", {"path": "/var"}),
        ("Bash", {"command": "ls"}),
    ],
)
def test_calls_reaching_outside_are_refused_with_a_reason(guard, tool, tool_input):
    reason = guard.refusal(tool, tool_input)
    assert reason and tool in reason


def test_a_symlink_out_of_the_workspace_does_not_count_as_inside(guard):
    os.symlink(guard.workspace.parent / "secret.txt", guard.workspace / "link.txt")
    os.symlink(guard.workspace.parent, guard.workspace / "up")
    assert guard.refusal("Read", {"file_path": "link.txt"})
    assert guard.refusal("Write", {"file_path": "up/new.py"})


def test_a_workspace_reached_through_a_symlink_is_compared_by_its_real_path(guard, tmp_path):
    os.symlink(guard.workspace, tmp_path / "alias")
    aliased = WorkspaceGuard(tmp_path / "alias")
    assert aliased.refusal("Write", {"file_path": str(guard.workspace / "a.py")}) is None
    assert aliased.refusal("Write", {"file_path": str(tmp_path / "alias" / "a.py")}) is None


def test_shell_tools_pass_only_when_the_operator_allows_them(guard):
    assert "cannot be confined" in guard.refusal("Bash", {"command": "ls"})
    assert WorkspaceGuard(guard.workspace, allow_shell=True).refusal("Bash", {"command": "ls"}) is None


# --- QueryConfig -----------------------------------------------------------------


def test_a_full_config_parses_and_hides_the_key():
    config = QueryConfig.parse(
        {
            "allowedTools": ["Read", "mcp__docs__search"],
            "systemPrompt": {"type": "preset", "preset": "claude_code", "append": "Be brief."},
            "model": "claude-x",
            "agents": {"rev": {"description": "reviews", "prompt": "Review.", "tools": ["Read"]}},
            "mcpServers": {"docs": {"type": "http", "url": "https://mcp.example/"}},
            "anthropicApiKey": "sk-ant-hidden",
            "includePartialMessages": True,
            "futureField": 1,
        }
    )
    assert config.allowed_tools == ("Read", "mcp__docs__search")
    assert config.api_key.reveal() == "sk-ant-hidden"
    assert "sk-ant-hidden" not in repr(config) and "anthropicApiKey" not in config.shown
    assert config.shown["futureField"] == 1 and config.include_partial_messages
    assert base_tools(config.allowed_tools) == ["Read"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"mcpServers": {"local": {"type": "stdio", "command": "sh"}}}, "only remote MCP servers"),
        (
            {"agents": {"a": {"description": "d", "prompt": "p", "permissionMode": "bypassPermissions"}}},
            "permissionMode",
        ),
        ({"agents": {"a": {"description": "d", "prompt": "p", "mcpServers": [{"x": {}}]}}}, "mcpServers"),
        ({"agents": {"a": {"prompt": "p"}}}, "agents.a.description"),
        ({"systemPrompt": {"type": "file", "path": "/etc/passwd"}}, "systemPrompt"),
        ({"maxTurns": 0}, "maxTurns"),
        ({"anthropicApiKey": 5}, "anthropicApiKey"),
    ],
)
def test_configs_that_could_escape_or_are_malformed_are_refused(body, fragment):
    with pytest.raises(ConfigError, match=fragment):
        QueryConfig.parse(body)


def test_base_tools_strip_rule_specifiers_and_mcp_tools():
    assert base_tools(("Read", "Write(src/**)", "Write(tests/**)", "mcp__x__y", "Bash(ls:*)")) == [
        "Read",
        "Write",
        "Bash",
    ]


# --- SDK messages on the wire ----------------------------------------------------


def test_every_sdk_message_kind_becomes_its_sdkmessage_json():
    init = SystemMessage("init", {"type": "system", "subtype": "init", "session_id": "s1", "tools": ["Read"]})
    assistant = AssistantMessage(
        [TextBlock("hi"), ThinkingBlock("hmm", "sig"), ToolUseBlock("t1", "Read", {"file_path": "a"})],
        "claude-x",
        usage={"input_tokens": 3, "output_tokens": 2},
        message_id="msg_1",
        stop_reason="tool_use",
        session_id="s1",
        uuid="u1",
        error="rate_limit",
    )
    user = UserMessage(
        [ToolResultBlock("t1", "contents", False)], uuid="u2", tool_use_result={"type": "text"}
    )
    event = StreamEvent("u3", "s1", {"type": "content_block_delta", "index": 0})
    result = ResultMessage(
        "error_max_turns", 10, 5, True, 3, "s1", total_cost_usd=0.5, usage={"input_tokens": 9}
    )

    wire = [sdk_message(m, "s1") for m in (init, assistant, user, event, result)]
    json.dumps(wire)  # all of it is JSON
    assert wire[0] == {"type": "system", "subtype": "init", "session_id": "s1", "tools": ["Read"]}
    assert wire[1] == {
        "type": "assistant",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "tool_use", "id": "t1", "name": "Read", "input": {"file_path": "a"}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 3, "output_tokens": 2},
        },
        "parent_tool_use_id": None,
        "session_id": "s1",
        "uuid": "u1",
        "error": "rate_limit",
    }
    assert wire[2] == {
        "type": "user",
        "message": {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "contents", "is_error": False}
            ],
        },
        "parent_tool_use_id": None,
        "session_id": "s1",
        "uuid": "u2",
        "tool_use_result": {"type": "text"},
    }
    assert wire[3] == {
        "type": "stream_event",
        "event": {"type": "content_block_delta", "index": 0},
        "parent_tool_use_id": None,
        "session_id": "s1",
        "uuid": "u3",
    }
    assert wire[4]["subtype"] == "error_max_turns" and wire[4]["is_error"] is True
    assert wire[4]["errors"] == [] and wire[4]["permission_denials"] == []
    assert wire[4]["total_cost_usd"] == 0.5 and wire[4]["usage"] == {"input_tokens": 9}
    assert "result" not in wire[4]


# --- the outbox --------------------------------------------------------------------


def test_the_outbox_keeps_a_frame_until_it_is_sent():
    async def main():
        outbox = Outbox(limit_bytes=1000)
        outbox.put("a")
        outbox.put("b")
        assert await outbox.peek() == "a"
        assert await outbox.peek() == "a"  # not sent yet: still first
        outbox.pop()
        assert await outbox.peek() == "b"
        outbox.pop()
        with anyio.move_on_after(0.05) as waited:
            await outbox.peek()
        assert waited.cancelled_caught

    anyio.run(main)


def test_a_full_outbox_drops_the_oldest_and_says_so():
    async def main():
        outbox = Outbox(limit_bytes=10)
        for text in ("aaaa", "bbbb", "cccc", "dddd"):
            outbox.put(text)
        notice = json.loads(await outbox.peek())
        assert notice["type"] == "info" and notice["data"].startswith("2 earlier message(s) were dropped")
        outbox.pop()
        assert [await _take(outbox), await _take(outbox)] == ["cccc", "dddd"]

    anyio.run(main)


async def _take(outbox: Outbox) -> str:
    text = await outbox.peek()
    outbox.pop()
    return text
