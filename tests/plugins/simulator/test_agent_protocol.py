"""The simulator's scripted agent, spoken to by a plain ``websockets`` client over real sockets."""

from __future__ import annotations

import json
import threading
import time
from contextlib import ExitStack, contextmanager

import httpx2
import pytest
import uvicorn
from mac_plugins.simulator.agent import BUSY, agent_routes
from starlette.applications import Starlette
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


@contextmanager
def serve(app):
    """Run ``app`` on a free loopback port; yield its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the agent did not start"
        time.sleep(0.01)
    try:
        yield f"127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def start_agent(tmp_path):
    """``start_agent(token_delay=..., workspace=..., config=...)`` -> ``host:port`` of a fresh scripted agent."""
    with ExitStack() as stack:
        def start(*, token_delay=0.0, workspace=tmp_path, config=None, seed=7):
            address = stack.enter_context(
                serve(Starlette(routes=agent_routes(token_delay=token_delay, seed=seed, workspace=workspace)))
            )
            if config is not None:
                assert httpx2.post(f"http://{address}/config", json=config).status_code == 200
            return address

        yield start


def user_message(text: str) -> str:
    data = {"type": "user", "message": {"role": "user", "content": text}, "parent_tool_use_id": None, "session_id": ""}
    return json.dumps({"type": "user_message", "data": data})


def receive(ws) -> dict:
    return json.loads(ws.recv(timeout=10))


def until_result(ws) -> list[dict]:
    """Frames up to and including the next ``result``."""
    frames = []
    while True:
        frames.append(receive(ws))
        if frames[-1]["type"] == "sdk_message" and frames[-1]["data"]["type"] == "result":
            return frames


def messages(frames, kind=None) -> list[dict]:
    return [f["data"] for f in frames if f["type"] == "sdk_message" and kind in (None, f["data"]["type"])]


@contextmanager
def session(address):
    with connect(f"ws://{address}/ws", open_timeout=5) as ws:
        assert receive(ws) == {"type": "connected"}
        yield ws


def test_a_tool_turn_has_the_sdk_message_shapes_and_really_writes_the_file(start_agent, tmp_path):
    address = start_agent(config={"allowedTools": ["Write"], "model": "claude-test"})
    with session(address) as ws:
        ws.send(user_message('Create it. [[tool: Write {"file_path": "notes/todo.txt", "content": "ship it\\n"}]]'))
        frames = until_result(ws)
    init, *_ = messages(frames, "system")
    assert init["subtype"] == "init"
    assert init["cwd"] == str(tmp_path.resolve())
    assert "Write" in init["tools"] and init["model"] == "claude-test" and init["permissionMode"] == "acceptEdits"
    call, closing = messages(frames, "assistant")
    (block,) = call["message"]["content"]
    assert block["type"] == "tool_use" and block["name"] == "Write" and block["id"].startswith("toolu_")
    assert call["message"]["usage"]["output_tokens"] > 0
    (progress,) = messages(frames, "tool_progress")
    assert progress["tool_use_id"] == block["id"]
    (tool_result,) = messages(frames, "user")
    assert tool_result["message"]["content"][0] == {
        "type": "tool_result", "tool_use_id": block["id"], "is_error": False,
        "content": f"File created successfully at: {tmp_path.resolve() / 'notes/todo.txt'}",
    }
    (result,) = messages(frames, "result")
    assert result["subtype"] == "success" and result["is_error"] is False
    assert result["result"] == closing["message"]["content"][0]["text"] == "Done: Write succeeded."
    assert result["num_turns"] == 2
    assert result["total_cost_usd"] > 0 and result["usage"]["input_tokens"] > 0
    assert isinstance(result["duration_ms"], int) and isinstance(result["duration_api_ms"], int)
    assert all(m["session_id"] == init["session_id"] and m["uuid"] for m in messages(frames))
    assert any(f["type"] == "info" for f in frames)
    assert (tmp_path / "notes/todo.txt").read_text() == "ship it\n"


def test_edit_changes_the_file_and_paths_outside_the_workspace_are_refused(start_agent, tmp_path):
    (tmp_path / "app.py").write_text("limit = 1\n")
    address = start_agent()
    prompt = (
        '[[tool: Edit {"file_path": "app.py", "old_string": "limit = 1", "new_string": "limit = 10"}]]'
        '[[tool: Write {"file_path": "../escaped.txt", "content": "x"}]]'
        '[[tool: Edit {"file_path": "app.py", "old_string": "absent", "new_string": "y"}]]'
    )
    with session(address) as ws:
        ws.send(user_message(prompt))
        frames = until_result(ws)
    results = [m["message"]["content"][0] for m in messages(frames, "user")]
    assert [r["is_error"] for r in results] == [False, True, True]
    assert "outside the workspace" in results[1]["content"]
    assert "not found" in results[2]["content"]
    assert (tmp_path / "app.py").read_text() == "limit = 10\n"
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_without_a_workspace_tools_are_only_simulated(start_agent, tmp_path):
    address = start_agent(workspace=None)
    with session(address) as ws:
        ws.send(user_message('[[tool: Write {"file_path": "x.txt", "content": "x"}]]'))
        frames = until_result(ws)
    (tool_result,) = messages(frames, "user")
    assert tool_result["message"]["content"][0]["content"] == "(simulated) Write completed"
    assert not list(tmp_path.iterdir())


def test_a_tool_outside_allowed_tools_is_denied(start_agent, tmp_path):
    address = start_agent(config={"allowedTools": ["Read"]})
    with session(address) as ws:
        ws.send(user_message('[[tool: Write {"file_path": "x.txt", "content": "x"}]]'))
        frames = until_result(ws)
    assert messages(frames, "user")[0]["message"]["content"][0]["is_error"] is True
    assert messages(frames, "result")[0]["permission_denials"][0]["tool_name"] == "Write"
    assert not (tmp_path / "x.txt").exists()


def test_replies_are_exact_and_unscripted_answers_are_deterministic(start_agent):
    answers = []
    for _ in range(2):
        with session(start_agent()) as ws:
            ws.send(user_message("Review the module"))
            answers.append(messages(until_result(ws), "result")[0]["result"])
            ws.send(user_message("[[reply: Exactly this.]]"))
            assert messages(until_result(ws), "result")[0]["result"] == "Exactly this."
    assert answers[0] == answers[1] and len(answers[0].split()) == 30


def test_partial_messages_stream_text_deltas(start_agent):
    address = start_agent(config={"includePartialMessages": True})
    with session(address) as ws:
        ws.send(user_message("[[reply: one two three]]"))
        frames = until_result(ws)
    deltas = [m["event"]["delta"]["text"] for m in messages(frames, "stream_event") if "delta" in m["event"]]
    assert "".join(deltas) == "one two three" and len(deltas) == 3
    assert messages(frames, "assistant")[0]["message"]["content"][0]["text"] == "one two three"


def test_a_second_connection_gets_the_busy_error_and_is_closed(start_agent):
    address = start_agent()
    with session(address), connect(f"ws://{address}/ws", open_timeout=5) as second:
        assert receive(second) == {"type": "error", "error": BUSY}
        with pytest.raises(ConnectionClosed):
            second.recv(timeout=5)


def test_bad_frames_get_error_frames_and_the_connection_goes_on(start_agent):
    with session(start_agent()) as ws:
        for bad in ("not json", b"\x00binary", json.dumps({"type": "nope"}), json.dumps({"type": "user_message"})):
            ws.send(bad)
            frame = receive(ws)
            assert frame["type"] == "error" and frame["error"]
        ws.send(user_message("[[reply: still here]]"))
        assert messages(until_result(ws), "result")[0]["result"] == "still here"


def test_the_config_endpoints_validate_and_never_echo_the_api_key(start_agent):
    address = start_agent()
    bad = httpx2.post(f"http://{address}/config", content=b"{not json", headers={"content-type": "application/json"})
    assert (bad.status_code, bad.json()) == (400, {"error": "Invalid JSON"})
    posted = httpx2.post(f"http://{address}/config", json={"model": "m", "anthropicApiKey": "sk-ant-canary-1"})
    assert posted.json() == {"success": True, "config": {"model": "m", "anthropicApiKey": "********"}}
    assert httpx2.get(f"http://{address}/config").json() == {"config": {"model": "m", "anthropicApiKey": "********"}}


def test_interrupt_ends_the_turn_with_an_error_result_and_the_next_turn_works(start_agent):
    with session(start_agent(token_delay=0.05)) as ws:
        ws.send(user_message("A long unscripted answer"))
        while receive(ws)["type"] != "info":  # the agent is up once the turn's info line came
            pass
        ws.send(json.dumps({"type": "interrupt"}))
        frames = until_result(ws)
        (result,) = messages(frames, "result")
        assert result["subtype"] == "error_during_execution" and result["is_error"] is True
        assert result["errors"] == ["Interrupted by user"]
        assert messages(frames, "assistant") == []  # the answer was cut before it was complete
        ws.send(user_message("[[reply: next]]"))
        assert messages(until_result(ws), "result")[0]["result"] == "next"


def test_an_interrupt_before_init_is_dropped_as_the_sdk_does(start_agent):
    with session(start_agent(token_delay=0.05)) as ws:  # the agent starts up for 4 token delays
        ws.send(user_message("[[reply: finished anyway]]"))
        ws.send(json.dumps({"type": "interrupt"}))
        frames = until_result(ws)
    assert any(f["type"] == "info" and "before the agent started" in f["data"] for f in frames)
    assert messages(frames, "result")[0]["result"] == "finished anyway"


def test_the_query_outlives_a_dropped_connection_and_the_next_one_gets_what_was_missed(start_agent, tmp_path):
    address = start_agent(token_delay=0.02)
    with session(address) as ws:
        ws.send(user_message('[[tool: Write {"file_path": "late.txt", "content": "written while away"}]]'))
        assert messages([receive(ws)], "system")[0]["subtype"] == "init"
    deadline = time.monotonic() + 10
    while not (tmp_path / "late.txt").exists():  # the turn goes on with no one connected
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with session(address) as ws:
        frames = until_result(ws)
        kinds = [m["type"] for m in messages(frames)]
        assert kinds[-1] == "result" and "user" in kinds and "assistant" in kinds
        assert messages(frames, "result")[0]["subtype"] == "success"
        ws.send(user_message("[[reply: and on]]"))
        assert messages(until_result(ws), "result")[0]["result"] == "and on"
