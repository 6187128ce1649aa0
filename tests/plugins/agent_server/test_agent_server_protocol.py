"""The server's side of the protocol, with a fake SDK client behind it (no CLI, fast)."""

from __future__ import annotations

import json
import time

import httpx2
import pytest
from agent_server_ws import open_ws, recv, send_user, until_result
from websockets.exceptions import ConnectionClosed

BUSY = {"type": "error", "error": "Server already has an active connection"}


def sdk_types(frames):
    return [f["data"]["type"] for f in frames if f["type"] == "sdk_message"]


def test_connected_then_a_turn_ends_with_a_result(server):
    with open_ws(server) as ws:
        assert recv(ws) == {"type": "connected"}
        send_user(ws, "hello")
        frames = until_result(ws)
    assert sdk_types(frames) == ["system", "assistant", "result"]
    init, assistant, result = (f["data"] for f in frames)
    assert init["subtype"] == "init"
    assert assistant["message"]["content"] == [{"type": "text", "text": "echo: hello"}]
    assert assistant["session_id"] == "session-fake"
    assert result["subtype"] == "success" and result["result"] == "echo: hello"
    assert result["usage"] == {"input_tokens": 10, "output_tokens": 5}
    assert result["total_cost_usd"] == 0.001


def test_the_connection_stays_open_for_the_next_turn(server, fake_clients):
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, "one")
        until_result(ws)
        send_user(ws, "two")
        assert until_result(ws)[-1]["data"]["result"] == "echo: two"
    assert len(fake_clients) == 1
    assert [p["message"]["content"] for p in fake_clients[0].prompts] == ["one", "two"]


def test_config_is_stored_echoed_without_the_key_and_used_when_the_query_starts(server, fake_clients):
    config = {
        "allowedTools": ["Read", "Write(src/**)"],
        "model": "claude-x",
        "anthropicApiKey": "sk-ant-secret-1",
    }
    posted = httpx2.post(server.url + "/config", json=config, timeout=5)
    assert posted.status_code == 200
    assert posted.json() == {
        "success": True,
        "config": {"allowedTools": ["Read", "Write(src/**)"], "model": "claude-x"},
    }
    assert "sk-ant-secret-1" not in httpx2.get(server.url + "/config", timeout=5).text
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, "go")
        until_result(ws)
    options = fake_clients[0].options
    assert options.allowed_tools == ["Read", "Write(src/**)"]
    assert options.tools == ["Read", "Write"]
    assert options.model == "claude-x"
    assert options.permission_mode == "acceptEdits"
    assert options.cwd == str(server.settings.workspace)
    assert options.env["ANTHROPIC_API_KEY"] == "sk-ant-secret-1"
    assert options.env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert options.env["MAC_AGENT_TOKEN"] == ""
    assert options.setting_sources == [] and options.strict_mcp_config and options.verbatim_prompts


def test_the_default_tools_are_the_safe_file_set(server, fake_clients):
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, "go")
        until_result(ws)
    assert fake_clients[0].options.allowed_tools == ["Read", "Write", "Edit", "Glob", "Grep"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "Invalid JSON"),
        (b"[1, 2]", "the configuration must be a JSON object"),
        (b'{"allowedTools": "Read"}', "allowedTools must be a list of tool names"),
        (
            b'{"mcpServers": {"x": {"command": "rm"}}}',
            "mcpServers.x: only remote MCP servers (type http or sse) are accepted",
        ),
    ],
)
def test_bad_config_is_a_400_with_a_reason(server, body, error):
    response = httpx2.post(server.url + "/config", content=body, timeout=5)
    assert response.status_code == 400
    assert response.json() == {"error": error}


def test_an_oversized_config_body_is_refused(make_server):
    server = make_server(max_body_bytes=1000)
    response = httpx2.post(server.url + "/config", json={"systemPrompt": "x" * 2000}, timeout=5)
    assert response.status_code == 413
    assert httpx2.get(server.url + "/config", timeout=5).json() == {"config": {}}


def test_a_second_connection_is_refused_while_one_is_active(server):
    with open_ws(server) as first:
        recv(first)
        with open_ws(server) as second:
            assert recv(second) == BUSY
            with pytest.raises(ConnectionClosed):
                second.recv(timeout=5)
        send_user(first, "still mine")
        assert until_result(first)[-1]["data"]["result"] == "echo: still mine"
    with open_ws(server) as third:  # free again once the first one left
        assert recv(third) == {"type": "connected"}


def test_unparsable_and_unknown_frames_get_error_frames_and_the_connection_stays(server):
    with open_ws(server) as ws:
        recv(ws)
        ws.send("{oops")
        assert recv(ws) == {"type": "error", "error": "Invalid JSON"}
        ws.send(json.dumps({"type": "dance"}))
        assert recv(ws) == {"type": "error", "error": "Unknown message type: 'dance'"}
        ws.send(json.dumps({"type": "user_message", "data": {"message": {"content": 42}}}))
        assert recv(ws)["error"].startswith("Invalid user_message: data.message.content")
        ws.send(b"\x00binary")
        assert recv(ws) == {"type": "error", "error": "Invalid message: frames must be JSON text"}
        send_user(ws, "fine")
        assert until_result(ws)[-1]["data"]["subtype"] == "success"


def test_an_oversized_frame_closes_the_connection_with_1009(make_server):
    server = make_server(max_frame_bytes=10_000)
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, "x" * 20_000)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd.code == 1009


def test_interrupt_ends_the_turn_with_a_result(server, fake_clients):
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, "[[hang]]")
        assert recv(ws)["data"]["subtype"] == "init"
        assert recv(ws)["data"]["type"] == "assistant"
        ws.send(json.dumps({"type": "interrupt"}))
        frames = until_result(ws)
    result = frames[-1]["data"]
    assert result["subtype"] == "error_during_execution" and result["is_error"] and result["errors"] == []
    assert {
        "type": "info",
        "data": "interrupt acknowledged by the agent; the turn ends with a result",
    } in frames
    assert fake_clients[0].interrupts == 1


def test_interrupt_sent_right_behind_the_message_is_not_lost(server, fake_clients):
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, "[[hang]]")
        ws.send(json.dumps({"type": "interrupt"}))
        assert until_result(ws)[-1]["data"]["subtype"] == "error_during_execution"
    assert fake_clients[0].interrupts == 1


def test_interrupt_with_no_turn_in_progress_is_acknowledged_as_ignored(server, fake_clients):
    with open_ws(server) as ws:
        recv(ws)
        ws.send(json.dumps({"type": "interrupt"}))
        assert recv(ws) == {"type": "info", "data": "interrupt ignored: no turn in progress"}
    assert fake_clients[0].interrupts == 0


def test_the_query_outlives_a_dropped_connection_and_the_next_one_gets_its_messages(server, fake_clients):
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, '[[tool Read {"file_path": "a.txt", "hold": 0.5}]] after the drop')
        assert recv(ws)["data"]["subtype"] == "init"
    time.sleep(0.8)  # the tool finishes, and the turn with it, while nobody is connected
    with open_ws(server) as ws:
        assert recv(ws) == {"type": "connected"}
        frames = until_result(ws)
    assert sdk_types(frames)[-3:] == ["user", "assistant", "result"]
    assert frames[-1]["data"]["result"].endswith("after the drop")
    assert len(fake_clients) == 1 and not fake_clients[0].disconnected


def test_the_buffer_is_bounded_and_says_what_it_dropped(make_server, fake_clients):
    server = make_server(buffer_bytes=2000)
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, "x" * 600)
        send_user(ws, "y" * 1500)
    time.sleep(0.5)
    with open_ws(server) as ws:
        recv(ws)
        notice = recv(ws)
        assert notice["type"] == "info" and "were dropped" in notice["data"]
        assert until_result(ws)[-1]["data"]["result"] == "echo: " + "y" * 1500


def test_stderr_lines_arrive_as_info_frames(server):
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, "[[stderr debug: warming up]]")
        frames = until_result(ws)
    assert {"type": "info", "data": "debug: warming up"} in frames


def test_a_running_tool_reports_progress(make_server):
    server = make_server(progress_interval=0.1)
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, '[[tool Grep {"pattern": "x", "hold": 0.5}]]')
        frames = until_result(ws)
    progress = [
        f["data"] for f in frames if f["type"] == "sdk_message" and f["data"]["type"] == "tool_progress"
    ]
    assert progress, "no tool_progress while the tool ran"
    assert {p["tool_use_id"] for p in progress} == {"toolu_Grep"}
    assert progress[0]["tool_name"] == "Grep" and progress[0]["session_id"] == "session-fake"
    assert frames.index({"type": "sdk_message", "data": progress[-1]}) < sdk_types(frames).index("user") + 3


def test_a_tool_call_outside_the_workspace_is_refused_by_the_hook(server):
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, '[[tool Write {"file_path": "/etc/evil.py", "content": "x"}]]')
        frames = until_result(ws)
    tool_results = [
        block
        for f in frames
        if f["type"] == "sdk_message" and f["data"]["type"] == "user"
        for block in f["data"]["message"]["content"]
    ]
    assert tool_results[0]["is_error"] is True
    assert "outside the workspace" in tool_results[0]["content"]


def test_when_the_agent_process_ends_the_client_is_told_and_the_next_connection_starts_a_new_one(
    server, fake_clients
):
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, "[[exit]]")
        assert recv(ws)["data"]["subtype"] == "init"
        assert recv(ws) == {"type": "error", "error": "the agent process ended"}
    deadline = time.monotonic() + 10
    while not fake_clients[0].disconnected and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake_clients[0].disconnected
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, "again")
        assert until_result(ws)[-1]["data"]["result"] == "echo: again"
    assert len(fake_clients) == 2


def test_stopping_the_server_interrupts_the_running_turn_and_disconnects_the_agent(make_server, fake_clients):
    server = make_server()
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, "[[hang]]")
        recv(ws)
        server.stop(timeout=10)
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=5)
    assert fake_clients[0].interrupts == 1  # so the CLI goes idle and exits at once on end of input
    assert fake_clients[0].disconnected
