"""The agent-ws transport against a loopback agent server whose behaviour each test scripts."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess

import pytest
from fake_agent import (
    BUSY,
    FakeAgent,
    assistant,
    error_result,
    fresh_server_memory,  # noqa: F401 (an autouse fixture)
    init,
    result,
    serve,
    text,
    tool_result,
    tool_use,
)
from websockets.sync.client import connect as ws_connect

from mac_core import Coordinator, Interrupt, Usage, hookimpl

TOKEN = "agent-token-canary-91c7"


class Recorder:
    """Records every event of the run."""

    def __init__(self) -> None:
        self.events = []

    @hookimpl
    def mac_task_event(self, task, event):
        self.events.append(event)

    def of(self, kind):
        return [e for e in self.events if e.type == kind]


class StopOn:
    """Interrupts the task on the first event of ``kind`` (whose text contains ``needle``)."""

    def __init__(self, kind: str, needle: str = "") -> None:
        self.kind, self.needle = kind, needle

    @hookimpl
    def mac_should_interrupt(self, event):
        if event.type == self.kind and self.needle in event.text:
            return Interrupt("enough", scope="task")
        return None


def run_agent(url, prompts=("Fix the bug",), *, plugins=(), max_concurrency=1, **options):
    recorder = Recorder()
    results = Coordinator(plugins=[recorder, *plugins]).run(
        list(prompts),
        transport="agent-ws",
        max_concurrency=max_concurrency,
        transport_options={"url": url, **options},
    )
    return results, recorder


async def answer(conn, reply="Done."):
    """A plain turn: init, the reply, result; then wait for the client to leave."""
    await conn.prompt()
    await conn.sdk(init(), assistant(text(reply)), result(reply))
    await conn.wait_closed()


def test_every_message_kind_becomes_an_event_and_the_result_completes_the_task():
    async def handler(conn):
        assert await conn.prompt() == "Fix the bug"
        await conn.send({"type": "info", "data": "agent starting"})
        delta = lambda t: {"type": "stream_event", "event": {"type": "content_block_delta", "index": 0,  # noqa: E731
                                                             "delta": {"type": "text_delta", "text": t}}}
        await conn.sdk(init(), delta("Let me "), delta("look."))
        await conn.sdk(assistant(text("Let me look."), id="msg_1"))  # streamed already: not repeated
        await conn.sdk(assistant(tool_use("Edit", {"file_path": "app.py"}), id="msg_1"))  # same call: usage once
        await conn.sdk({"type": "tool_progress", "tool_use_id": "toolu_1", "tool_name": "Edit", "elapsed_time_seconds": 1})
        await conn.sdk(tool_result("The file app.py has been updated."))
        await conn.sdk({"type": "system", "subtype": "status", "status": "compacting"})
        await conn.send({"type": "a_kind_from_a_newer_server"})  # ignored
        await conn.sdk(assistant(text("Fixed the bug."), id="msg_2", input_tokens=20, output_tokens=7))
        await conn.sdk(result("Fixed the bug.", cost=0.0123, input_tokens=30, output_tokens=12))
        await conn.wait_closed()

    agent = FakeAgent(handler)
    with agent.running() as url:
        prompt = {"prompt": "Fix the bug", "allowedTools": ["Read", "Edit"], "system": "Be careful", "model": "claude-x"}
        (res,), rec = run_agent(url, [prompt])

    assert res.status == "completed", res.error
    assert res.text == "Fixed the bug."
    assert res.usage == Usage(input_tokens=30, output_tokens=12)
    assert res.cost_usd == pytest.approx(0.0123)
    assert [e.type for e in rec.events] == [
        "info", "agent_message", "text", "text", "usage", "tool_use",
        "tool_progress", "tool_result", "agent_message", "text", "usage",
    ]
    assert "".join(e.text for e in rec.of("text")) == "Let me look.\n\nFixed the bug."
    assert rec.of("info")[0].text == "agent starting"
    assert rec.of("agent_message")[0].data["subtype"] == "init"
    assert rec.of("tool_use")[0].data == {"id": "toolu_1", "name": "Edit", "input": {"file_path": "app.py"}}
    assert rec.of("tool_result")[0].data["content"] == "The file app.py has been updated."
    assert rec.of("tool_progress")[0].data["tool_name"] == "Edit"
    assert [e.data for e in rec.of("usage")] == [Usage(10, 5), Usage(30, 12)]
    assert agent.configs == [{"allowedTools": ["Read", "Edit"], "systemPrompt": "Be careful", "model": "claude-x"}]
    sent = agent.received[0]
    assert sent["data"] == {"type": "user", "message": {"role": "user", "content": "Fix the bug"},
                            "parent_tool_use_id": None, "session_id": ""}


@pytest.mark.parametrize(
    "ending, expected",
    [
        (error_result("error_max_turns", "Reached maximum number of turns (3)"),
         "error_max_turns: Reached maximum number of turns (3)"),
        ({"type": "result", "subtype": "success", "is_error": True, "result": "Invalid API key"}, "Invalid API key"),
    ],
)
def test_an_error_result_fails_the_task_with_its_errors_and_keeps_the_text(ending, expected):
    async def handler(conn):
        await conn.prompt()
        await conn.sdk(init(), assistant(text("Working on it")), ending)
        await conn.wait_closed()

    with FakeAgent(handler).running() as url:
        (res,), _ = run_agent(url)
    assert res.status == "failed"
    assert expected in res.error
    assert res.text == "Working on it"


def test_interrupt_after_init_sends_interrupt_and_the_text_ends_with_the_event_that_stopped_it():
    async def handler(conn):
        await conn.prompt()
        await conn.sdk(init(), assistant(text("Reading the code"), id="m1"))
        assert await conn.receive() == {"type": "interrupt"}
        await conn.sdk(assistant(text("Stopping."), id="m2"), error_result("error_during_execution", "Interrupted"))
        await conn.wait_closed()

    agent = FakeAgent(handler)
    with agent.running() as url:
        (res,), _ = run_agent(url, plugins=[StopOn("text", "Reading")])
    assert res.status == "interrupted"
    assert res.interrupt_reason == "enough"
    assert res.text == "Reading the code"  # a stop is a stop: what the agent says after it is not the task's
    assert [f["type"] for f in agent.received] == ["user_message", "interrupt"]
    assert agent.closed_by_client == 1


def test_an_interrupt_before_init_is_sent_again_once_the_agent_is_up():
    async def handler(conn):
        await conn.prompt()
        await conn.send({"type": "info", "data": "spawning the agent"})
        assert (await conn.receive())["type"] == "interrupt"  # too early: the SDK would drop it
        await conn.sdk(init())
        assert (await conn.receive())["type"] == "interrupt"
        await conn.sdk(error_result("error_during_execution", "Interrupted"))
        await conn.wait_closed()

    agent = FakeAgent(handler)
    with agent.running() as url:
        (res,), _ = run_agent(url, plugins=[StopOn("info")])
    assert res.status == "interrupted"
    assert [f["type"] for f in agent.received] == ["user_message", "interrupt", "interrupt"]


def test_an_unacknowledged_interrupt_is_bounded_and_reported(caplog):
    async def handler(conn):
        await conn.prompt()
        await conn.sdk(init(), assistant(text("busy")))
        await conn.wait_closed()  # never answers the interrupt

    agent = FakeAgent(handler)
    with caplog.at_level(logging.WARNING, logger="mac_plugins.agent_ws"), agent.running() as url:
        (res,), _ = run_agent(url, plugins=[StopOn("text")], interrupt_timeout=0.3)
    assert res.status == "interrupted"
    assert res.text == "busy"
    assert "not acknowledged within 0.3 s" in caplog.text
    assert agent.closed_by_client == 1


def test_frames_left_over_from_an_abandoned_turn_are_not_taken_for_the_next_one():
    async def handler(conn):
        if conn.index == 0:
            await conn.prompt()
            await conn.sdk(init(), assistant(text("old work")))
            await conn.wait_closed()  # ignores the interrupt; the client gives up
        else:  # a server that kept the old turn delivers its end first
            await conn.sdk(assistant(text("OLD"), id="m2"), result("OLD"))
            assert await conn.prompt() == "second"
            await conn.sdk(init(), assistant(text("new"), id="m3"), result("new"))
            await conn.wait_closed()

    with FakeAgent(handler).running() as url:
        (first,), _ = run_agent(url, ["first"], plugins=[StopOn("text")], interrupt_timeout=0.3)
        (second,), rec = run_agent(url, ["second"], interrupt_timeout=2)
    assert first.status == "interrupted"
    assert second.status == "completed"
    assert second.text == "new"
    assert "OLD" not in "".join(e.text for e in rec.events)


def test_a_dropped_connection_fails_the_task_and_keeps_the_text():
    async def handler(conn):
        await conn.prompt()
        await conn.sdk(init(), assistant(text("partial work")))
        await conn.drop()

    with FakeAgent(handler).running() as url:
        (res,), _ = run_agent(url, reconnect_timeout=0)
    assert res.status == "failed"
    assert "dropped mid-turn" in res.error
    assert res.text == "partial work"


def test_a_reconnect_after_a_drop_resumes_the_turn():
    async def handler(conn):
        if conn.index == 0:
            await conn.prompt()
            await conn.sdk(init(), assistant(text("part one"), id="m1"))
            await conn.drop()
        else:
            await conn.sdk(assistant(text("part two"), id="m2"), result("done"))
            await conn.wait_closed()

    agent = FakeAgent(handler)
    with agent.running() as url:
        (res,), rec = run_agent(url)
    assert res.status == "completed", res.error
    assert res.text == "done"
    assert "".join(e.text for e in rec.of("text")) == "part one\n\npart two"
    assert [f["type"] for f in agent.received] == ["user_message"]  # the prompt was not sent twice
    assert agent.accepted == 2


def test_a_server_that_does_not_come_back_fails_within_the_reconnect_timeout():
    async def handler(conn):
        if conn.index == 0:
            await conn.prompt()
            await conn.sdk(init(), assistant(text("partial")))
            conn.agent.send_connected = False  # later connections never get 'connected'
            await conn.drop()
        else:
            await conn.wait_closed()

    with FakeAgent(handler).running() as url:
        (res,), _ = run_agent(url, reconnect_timeout=0.8, connect_timeout=0.3)
    assert res.status == "failed"
    assert "did not come back within 0.8 s" in res.error
    assert res.text == "partial"


@pytest.mark.parametrize(
    "frame, expected",
    [
        ("this is not JSON", "not a JSON object"),
        ('["a", "list"]', "not a JSON object"),
        ({"type": "error", "error": "Query failed: boom"}, "reported an error: Query failed: boom"),
    ],
)
def test_bad_frames_and_error_frames_fail_the_task_clearly(frame, expected):
    async def handler(conn):
        await conn.prompt()
        await conn.send(frame)
        await conn.wait_closed()

    with FakeAgent(handler).running() as url:
        (res,), _ = run_agent(url)
    assert res.status == "failed"
    assert expected in res.error


def test_the_token_is_sent_as_a_bearer_header_and_never_shown(caplog):
    agent = FakeAgent(answer, token=TOKEN)
    with caplog.at_level(logging.DEBUG), agent.running() as url:
        coordinator = Coordinator()
        transport = coordinator.transports["agent-ws"].transport(
            coordinator.settings("agent-ws", {"url": url, "token": TOKEN})
        )
        (res,), _ = run_agent(url, token=TOKEN)
    assert res.status == "completed", res.error
    assert agent.authorizations == [f"Bearer {TOKEN}"] * 2  # /config and the upgrade
    assert transport.options.token.reveal() == TOKEN
    for shown in (repr(transport), repr(transport.options), repr(transport.settings), caplog.text, repr(res)):
        assert TOKEN not in shown


@pytest.mark.parametrize(
    "token, token_at_config, expected",
    [
        ("wrong-token-5521", True, "refused the token: HTTP 401 at"),
        (None, True, "requires a token (pass token=...): HTTP 401"),
        ("wrong-token-5521", False, "refused the token: HTTP 403 at ws://"),
    ],
)
def test_a_refused_token_fails_fast_with_a_clear_message(token, token_at_config, expected):
    agent = FakeAgent(answer, token=TOKEN, token_at_config=token_at_config)
    with agent.running() as url:
        options = {"token": token} if token else {}
        (res,), _ = run_agent(url, **options)
    assert res.status == "failed"
    assert expected in res.error
    assert "wrong-token-5521" not in res.error and TOKEN not in res.error
    assert agent.received == []


def test_tasks_for_one_server_take_turns_so_a_fan_out_is_not_refused():
    async def handler(conn):
        prompt = await conn.prompt()
        await conn.sdk(init(), assistant(text(prompt.upper())), result(prompt.upper()))
        await conn.wait_closed()

    agent = FakeAgent(handler)
    with agent.running() as url:
        results, _ = run_agent(url, ["one", "two", "three"], max_concurrency=3)
    assert [(r.status, r.text) for r in results] == [("completed", "ONE"), ("completed", "TWO"), ("completed", "THREE")]
    assert agent.max_active == 1


def test_a_server_busy_with_another_client_fails_within_the_connect_timeout():
    agent = FakeAgent(lambda conn: conn.wait_closed())
    with agent.running() as url:
        with ws_connect(url.replace("http", "ws") + "/ws", open_timeout=5) as other:
            assert json.loads(other.recv(timeout=5))["type"] == "info"  # this connection started the query
            assert json.loads(other.recv(timeout=5)) == {"type": "connected"}
            (res,), _ = run_agent(url, connect_timeout=0.5)
    assert res.status == "failed"
    assert f"within 0.5 s: busy ({BUSY})" in res.error


def test_no_connected_frame_times_out():
    agent = FakeAgent(lambda conn: conn.wait_closed(), send_connected=False)
    with agent.running() as url:
        (res,), _ = run_agent(url, connect_timeout=0.3)
    assert res.status == "failed"
    assert "within 0.3 s: no 'connected' frame" in res.error


def test_a_silent_agent_times_out_between_messages_and_keeps_the_text():
    async def handler(conn):
        await conn.prompt()
        await conn.sdk(init(), assistant(text("half")))
        await conn.wait_closed()

    with FakeAgent(handler).running() as url:
        (res,), _ = run_agent(url, idle_timeout=0.3)
    assert res.status == "failed"
    assert "no message from the agent for 0.3 s" in res.error
    assert res.text == "half"


def test_a_dead_server_fails_fast_naming_the_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (res,), _ = run_agent(f"http://127.0.0.1:{port}")
    assert res.status == "failed"
    assert f"cannot reach the agent server at http://127.0.0.1:{port}/config" in res.error


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_verifies_the_servers_certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    agent = FakeAgent(answer)
    with serve(agent.app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        (res,), _ = run_agent(url)
    assert res.status == "failed"
    assert f"TLS with {url}/config failed: self-signed certificate" in res.error
    assert agent.configs == []
