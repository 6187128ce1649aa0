"""A fan-out of delegations over several agent servers (the simulator's scripted agent), one of which dies."""

from __future__ import annotations

import json
import re
import threading
import time
from contextlib import ExitStack

import pytest
from fake_agent import fresh_server_memory, serve  # noqa: F401 (an autouse fixture)
from mac_plugins.simulator.agent import agent_routes
from starlette.applications import Starlette

from mac_core import Coordinator, hookimpl


class Agents:
    """Scripted agents on loopback ports; :meth:`kill` stops one (its port then refuses connections)."""

    def __init__(self, stack: ExitStack, count: int, token_delay: float, workspace) -> None:
        self.urls, self._stops = [], []
        for _ in range(count):
            app = Starlette(routes=agent_routes(token_delay=token_delay, seed=3, workspace=workspace))
            inner = ExitStack()
            self.urls.append(inner.enter_context(serve(app)))
            self._stops.append(inner)
            stack.callback(inner.close)

    def kill(self, index: int) -> None:
        self._stops[index].close()


class Infos:
    def __init__(self) -> None:
        self.lines = []

    @hookimpl
    def mac_task_event(self, task, event):
        if event.type == "info" and "is gone" in event.text:
            self.lines.append(event.text)


def run(urls, prompts, *, plugins=(), **options):
    return Coordinator(plugins=list(plugins)).run(
        list(prompts),
        transport="agent-ws",
        max_concurrency=len(urls),
        transport_options={"urls": urls, "reconnect_timeout": 0.3, **options},
    )


def test_a_fan_out_spreads_over_the_servers_one_turn_each_at_a_time(tmp_path):
    with ExitStack() as stack:
        agents = Agents(stack, 3, 0.02, tmp_path)
        results = run(agents.urls, [f"[[reply: answer {i} with a few words]]" for i in range(9)])
    assert [r.status for r in results] == ["completed"] * 9
    assert [r.text for r in results] == [f"answer {i} with a few words" for i in range(9)]
    assert {r.server for r in results} == set(agents.urls)
    assert results[0].as_dict()["server"] == results[0].server  # what mac run writes
    # One turn per server at a time: on a server, a task's first event follows the end of the one before.
    for url in agents.urls:
        spans = sorted((r.first_event_at, r.finished_at) for r in results if r.server == url)
        assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:], strict=False)), url


class KillAfterFirstTurn:
    """Kills a server shortly after its first task ends, when it has just taken the next one (not a wall-clock guess)."""

    def __init__(self, agents: Agents, index: int) -> None:
        self.agents, self.index, self.killed_at = agents, index, None
        self.thread: threading.Thread | None = None

    @hookimpl
    def mac_task_finished(self, task, result):
        if self.thread is None and result.server == self.agents.urls[self.index]:
            self.thread = threading.Thread(target=self._kill)
            self.thread.start()

    def _kill(self) -> None:
        time.sleep(0.1)  # the server's next turn (ten words, 0.03 s apart) is under way by now
        self.agents.kill(self.index)
        self.killed_at = time.time()


def test_the_fan_out_survives_killing_one_server_mid_run(tmp_path):
    infos = Infos()
    with ExitStack() as stack:
        agents = Agents(stack, 3, 0.03, tmp_path)
        killer = KillAfterFirstTurn(agents, 1)
        results = run(
            agents.urls,
            [f"[[reply: answer {i} in some ten words or so here]]" for i in range(12)],
            plugins=[infos, killer],
        )
        killer.thread.join()
    assert [r.status for r in results] == ["completed"] * 12, [r.error for r in results]
    assert [r.text for r in results] == [f"answer {i} in some ten words or so here" for i in range(12)]
    dead, killed_at = agents.urls[1], killer.killed_at
    assert all(r.finished_at < killed_at + 1 for r in results if r.server == dead)
    assert {r.server for r in results if r.started_at > killed_at + 1} <= {agents.urls[0], agents.urls[2]}
    assert infos.lines and dead in infos.lines[0], "no task was re-run after its server died"


class KillAtFirstToolUse:
    """Kills a server as soon as its agent asks for a tool (so the turn has used one when its server dies)."""

    def __init__(self, agents: Agents, index: int) -> None:
        self.agents, self.index = agents, index
        self.thread: threading.Thread | None = None

    @hookimpl
    def mac_task_event(self, task, event):
        if self.thread is None and event.type == "tool_use":
            self.thread = threading.Thread(target=self.agents.kill, args=(self.index,))
            self.thread.start()


def test_a_turn_that_used_a_tool_is_not_re_run_when_its_server_dies(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with ExitStack() as stack:
        agents = Agents(stack, 2, 0.15, tmp_path)
        prompt = '[[tool: Read {"file_path": "a.txt"}]] [[tool: Read {"file_path": "a.txt"}]]'
        killer = KillAtFirstToolUse(agents, 0)
        (res,) = run(agents.urls, [prompt], plugins=[killer])
        killer.thread.join()
    assert res.status == "failed"
    assert res.server == agents.urls[0]
    assert "not re-run on another server: the agent had already used a tool" in res.error
    assert res.tool_calls and res.tool_calls[0]["name"] == "Read"


def test_when_every_server_is_gone_the_tasks_fail_naming_them(tmp_path):
    with ExitStack() as stack:
        agents = Agents(stack, 2, 0.0, tmp_path)
        agents.kill(0)
        agents.kill(1)
        results = run(agents.urls, ["[[reply: a]]", "[[reply: b]]"])
    assert [r.status for r in results] == ["failed", "failed"]
    assert all(r.error_type == "connection_error" for r in results)
    assert any("no agent server left" in r.error or "cannot reach" in r.error for r in results)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"url": "http://127.0.0.1:1", "urls": ["http://127.0.0.1:2"]}, "either transport_options['url']"),
        ({"urls": []}, "is empty"),
        ({"urls": ["http://127.0.0.1:2", "http://127.0.0.1:2/"]}, "twice"),
        ({"urls": ["http://127.0.0.1:2", "http://agent.example:3"]}, "would travel in clear"),
        ({"urls": [5]}, "must be a list of agent server URLs"),
    ],
)
def test_bad_server_lists_are_refused_before_any_connection(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Coordinator().run(["x"], transport="agent-ws", transport_options=options)


def test_urls_may_be_one_comma_separated_string_as_mac_run_passes_it():
    from mac_plugins.agent_ws.options import AgentOptions

    options = AgentOptions(urls="http://127.0.0.1:3001, ws://127.0.0.1:3002/ws")
    assert [s.name for s in options.servers] == ["http://127.0.0.1:3001", "http://127.0.0.1:3002"]


def test_usage_from_a_server_that_died_counts_in_the_re_run_tasks_usage():
    from mac_plugins.agent_ws.turn import TurnReader

    from mac_core import Usage

    events = []
    reader = TurnReader(events.append, earlier_usage=Usage(input_tokens=100, output_tokens=40))
    message = {
        "id": "m1",
        "role": "assistant",
        "content": [{"type": "text", "text": "hi"}],
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }
    reader.feed(json.dumps({"type": "sdk_message", "data": {"type": "assistant", "message": message}}))
    result = {
        "type": "result",
        "subtype": "success",
        "result": "hi",
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }
    assert reader.feed(json.dumps({"type": "sdk_message", "data": result}))
    assert [e.data for e in events if e.type == "usage"] == [Usage(input_tokens=110, output_tokens=45)]
    assert reader.completion().usage == Usage(input_tokens=110, output_tokens=45)
