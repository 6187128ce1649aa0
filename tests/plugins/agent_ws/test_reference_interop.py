"""The agent-ws transport against the reference server as it really behaves (its conformance double).

``tests/reference_agent_server.py`` reproduces dzhng/claude-agent-server: an
``info`` frame before the first ``connected``, frames lost while no client is
connected, ``/config`` applied only to the query the first connection starts.
"""

from __future__ import annotations

import json
import time

import httpx2
import pytest
from fake_agent import FakeAgent, assistant, fresh_server_memory, init, result, text  # noqa: F401 (an autouse fixture)
from reference_agent_server import ReferenceAgentServer
from websockets.sync.client import connect as ws_connect

from mac_core import Coordinator, Interrupt, hookimpl


class Recorder:
    def __init__(self) -> None:
        self.events = []

    @hookimpl
    def mac_task_event(self, task, event):
        self.events.append(event)


def run(url, prompts, *, plugins=(), **options):
    recorder = Recorder()
    results = Coordinator(plugins=[recorder, *plugins]).run(
        list(prompts), transport="agent-ws", max_concurrency=1, transport_options={"url": url, **options}
    )
    return results, recorder


def test_the_first_delegation_to_a_fresh_reference_server_completes_past_its_info_frame():
    reference = ReferenceAgentServer()
    with reference.running() as url:
        (res,), rec = run(url, [{"prompt": "[[reply: fixed]]", "model": "claude-a"}])
    assert res.status == "completed", res.error
    assert res.text == "fixed" and res.server == url
    assert reference.queries == [{"model": "claude-a"}]
    init = next(e.data for e in rec.events if e.type == "agent_message" and e.data.get("subtype") == "init")
    assert init["model"] == "claude-a"


async def answer(conn):
    await conn.prompt()
    await conn.sdk(init(), assistant(text("Done.")), result("Done."))
    await conn.wait_closed()


def test_unknown_frame_kinds_before_connected_are_skipped():
    agent = FakeAgent(
        answer, greeting=({"type": "info", "data": "x"}, {"type": "status", "data": {"phase": 1}})
    )
    with agent.running() as url:
        (res,), _ = run(url, ["go"])
    assert res.status == "completed", res.error


def test_tasks_with_the_same_options_share_the_query_and_other_options_are_refused_before_sending():
    reference = ReferenceAgentServer()
    prompts = [
        {"prompt": "[[reply: one]]", "model": "claude-a", "allowedTools": ["Read"]},
        {"prompt": "[[reply: two]]", "model": "claude-a", "allowedTools": ["Read"]},
        {"prompt": "[[reply: three]]", "model": "claude-b", "allowedTools": ["Read"]},
        {"prompt": "[[reply: four]]", "model": "claude-a", "allowedTools": ["Read", "Bash"]},
    ]
    with reference.running() as url:
        results, _ = run(url, prompts)
    assert [r.status for r in results] == ["completed", "completed", "failed", "failed"]
    assert [t.prompt for t in reference.turns] == ["[[reply: one]]", "[[reply: two]]"]  # never sent
    assert {t.model for t in reference.turns} == {"claude-a"}
    assert results[2].error_type == "invalid_request_error"
    assert "model 'claude-a' (the task wants 'claude-b')" in results[2].error
    assert "restart it" in results[2].error
    assert "allowedTools ['Read'] (the task wants ['Read', 'Bash'])" in results[3].error


def test_a_query_this_process_did_not_start_is_refused_and_a_restarted_server_takes_new_options():
    reference = ReferenceAgentServer()
    with reference.running() as url:
        with ws_connect(
            url.replace("http", "ws") + "/ws", open_timeout=5
        ) as other:  # another client starts it
            assert json.loads(other.recv(timeout=5))["type"] == "info"
            assert json.loads(other.recv(timeout=5)) == {"type": "connected"}
        (refused,), _ = run(url, [{"prompt": "[[reply: x]]", "model": "claude-a"}])
        reference.restart()  # as a new server process would
        (fresh,), _ = run(url, [{"prompt": "[[reply: y]]", "model": "claude-b"}])
    assert refused.status == "failed" and refused.error_type == "invalid_request_error"
    assert "runs a query this process did not start" in refused.error
    assert fresh.status == "completed", fresh.error
    assert [(t.query, t.model) for t in reference.turns] == [(1, "claude-b")]


def test_a_turn_whose_end_was_lost_while_disconnected_fails_at_once_not_after_the_idle_timeout():
    reference = ReferenceAgentServer()
    with reference.running() as url:
        began = time.monotonic()
        (lost,), _ = run(
            url,
            ["[[drop]] [[reply: finished unseen]]"],
            idle_timeout=60,
            resume_timeout=0.5,
            interrupt_timeout=0.5,
        )
        took = time.monotonic() - began
        (after,), _ = run(url, ["[[reply: next]]"], interrupt_timeout=0.5)
    assert lost.status == "failed" and lost.error_type == "connection_error"
    assert "the turn's end was lost" in lost.error and "does not keep frames" in lost.error
    assert took < 10, f"took {took:.1f} s"
    assert reference.turns[0].subtype == "success" and not reference.turns[0].delivered_result
    assert after.status == "completed" and after.text == "next"


def test_a_reconnect_while_the_turn_still_runs_reads_on_to_its_result():
    reference = ReferenceAgentServer()
    with reference.running() as url:
        (res,), _ = run(url, ["[[drop]] [[pause: 0.6]] [[reply: finished]]"], resume_timeout=2)
    assert res.status == "completed", res.error
    assert res.text == "finished"
    assert len(reference.turns) == 1  # the prompt was not sent twice


class StopOnInit:
    @hookimpl
    def mac_should_interrupt(self, event):
        if event.type == "agent_message" and event.data.get("subtype") == "init":
            return Interrupt("enough", scope="task")
        return None


def test_an_interrupt_ends_the_reference_servers_turn_with_its_result():
    reference = ReferenceAgentServer()
    with reference.running() as url:
        (res,), _ = run(url, ["[[pause: 5]] [[reply: never]]"], plugins=[StopOnInit()])
    assert res.status == "interrupted"
    assert reference.turns[0].subtype == "error_during_execution"


def test_the_double_echoes_its_config_like_the_reference_and_routes_nothing_else():
    with ReferenceAgentServer().running() as url:
        posted = httpx2.post(url + "/config", json={"model": "m", "anthropicApiKey": "sk-x"}).json()
        assert posted == {"success": True, "config": {"model": "m", "anthropicApiKey": "sk-x"}}
        assert httpx2.post(url + "/config", content=b"{nope").json() == {"error": "Invalid JSON"}
        assert httpx2.get(url + "/query").status_code == 404


def test_a_turn_still_running_but_silent_after_a_reconnect_is_stopped_and_never_answers_the_next_task():
    # Seen on the real reference server: without includePartialMessages a model call sends nothing until it
    # ends, so after resume_timeout the turn may still be running; left alone, its result answered the next task.
    reference = ReferenceAgentServer()
    with reference.running() as url:
        (silent,), _ = run(
            url, ["[[drop]] [[pause: 3]] [[reply: first]]"], resume_timeout=0.5, interrupt_timeout=2
        )
        (after,), _ = run(url, ["[[reply: second]]"], interrupt_timeout=2)
    assert silent.status == "failed" and silent.error_type == "connection_error"
    assert "was stopped" in silent.error and "includePartialMessages" in silent.error
    assert reference.turns[0].subtype == "error_during_execution"  # interrupted, not left to act unseen
    assert after.status == "completed", after.error
    assert after.text == "second"


def test_the_doubles_agent_exit_sends_an_error_and_leaves_later_connections_silent():
    reference = ReferenceAgentServer()
    with reference.running() as url:
        ws_url = url.replace("http", "ws") + "/ws"
        with ws_connect(ws_url, open_timeout=5) as first:
            assert [json.loads(first.recv(timeout=5))["type"] for _ in range(2)] == ["info", "connected"]
            reference.kill_agent(1)
            assert json.loads(first.recv(timeout=5)) == {
                "type": "error",
                "error": "Claude Code process exited with code 1",
            }
        with ws_connect(ws_url, open_timeout=5) as later:
            assert json.loads(later.recv(timeout=5)) == {"type": "connected"}
            later.send(json.dumps({"type": "user_message", "data": {"message": {"content": "hi"}}}))
            with pytest.raises(TimeoutError):
                later.recv(timeout=0.5)
    assert reference.turns == []


def test_after_the_reference_servers_agent_exits_later_tasks_fail_at_once_naming_the_server():
    # Seen on the real reference server: after "Claude Code process exited with code 1" every later
    # connection got 'connected' and then nothing, so each later task waited out its whole idle_timeout.
    reference = ReferenceAgentServer()
    with reference.running() as url:
        (died,), _ = run(url, ["[[exit]]"], idle_timeout=60)
        began = time.monotonic()
        later, _ = run(url, ["[[reply: a]]", "[[reply: b]]"], idle_timeout=60)
        took = time.monotonic() - began
        reference.restart()  # as a new server process would
        (fresh,), _ = run(url, ["[[reply: back]]"], idle_timeout=60)
    assert died.status == "failed" and died.error_type == "agent_error"
    assert url in died.error and "Claude Code process exited with code 1" in died.error
    assert [r.status for r in later] == ["failed", "failed"]
    assert {r.error_type for r in later} == {"agent_error"}
    assert all(url in r.error and "dead until restarted" in r.error for r in later)
    assert took < 10, f"took {took:.1f} s"
    assert [t.prompt for t in reference.turns] == ["[[exit]]", "[[reply: back]]"]  # never sent to the dead
    assert fresh.status == "completed" and fresh.text == "back"
