"""The agent-ws transport against the simulator's scripted agent: delegation end to end over real sockets."""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack

import pytest
from fake_agent import fresh_server_memory, serve  # noqa: F401 (an autouse fixture)
from mac_plugins.simulator.agent import agent_routes
from starlette.applications import Starlette

from mac_core import Coordinator, InterruptToken


@pytest.fixture
def start_agent(tmp_path):
    """``start_agent(token_delay=...)`` -> the URL of a fresh scripted agent working in ``tmp_path``."""
    with ExitStack() as stack:
        def start(token_delay: float = 0.0) -> str:
            app = Starlette(routes=agent_routes(token_delay=token_delay, seed=3, workspace=tmp_path))
            return stack.enter_context(serve(app))

        yield start


def test_a_delegated_fix_changes_the_file_and_streams_the_agents_steps(start_agent, tmp_path):
    (tmp_path / "app.py").write_text("def div(a, b):\n    return a / b\n")
    events = []
    prompt = (
        "Guard the division. "
        '[[tool: Edit {"file_path": "app.py", "old_string": "return a / b", '
        '"new_string": "return a / b if b else 0"}]]'
    )
    result = Coordinator().delegate(
        prompt, url=start_agent(), on_event=events.append, allowedTools=["Read", "Edit"]
    )
    assert result.status == "completed", result.error
    assert result.text == "Done: Edit succeeded."
    assert (tmp_path / "app.py").read_text() == "def div(a, b):\n    return a / b if b else 0\n"
    kinds = [e.type for e in events]
    assert {"agent_message", "info", "tool_use", "tool_progress", "tool_result", "text", "usage"} <= set(kinds)
    assert kinds.index("tool_use") < kinds.index("tool_result") < len(kinds) - 1 - kinds[::-1].index("text")
    assert result.usage.output_tokens > 0 and result.cost_usd > 0


def test_a_fan_out_to_the_one_connection_agent_queues_instead_of_being_refused(start_agent):
    results = Coordinator().run(
        [f"[[reply: answer {i}]]" for i in range(3)],
        transport="agent-ws",
        max_concurrency=3,
        transport_options={"url": start_agent()},
    )
    assert [(r.status, r.text) for r in results] == [("completed", f"answer {i}") for i in range(3)]


def test_an_interrupt_mid_turn_ends_the_agents_turn_and_the_agent_stays_usable(start_agent):
    url = start_agent(token_delay=0.05)
    token = InterruptToken()

    def stop_once_the_agent_works(event):
        if event.type == "info":  # sent right after system/init
            token.interrupt("seen enough")

    interrupted = Coordinator().delegate("A long review", url=url, on_event=stop_once_the_agent_works,
                                         interrupt_token=token)
    assert interrupted.status == "interrupted"
    assert interrupted.interrupt_reason == "seen enough"
    after = Coordinator().delegate("[[reply: ready]]", url=url)
    assert (after.status, after.text) == ("completed", "ready")


def test_an_interrupt_before_the_agent_is_up_is_sent_again_and_honoured(start_agent, caplog):
    url = start_agent(token_delay=0.25)  # the agent takes 1 s to start: the interrupt lands before
    token = InterruptToken()
    threading.Timer(0.3, token.interrupt, args=("too slow",)).start()
    with caplog.at_level(logging.DEBUG, logger="mac_plugins.agent_ws"):
        result = Coordinator().delegate("A long review", url=url, interrupt_token=token)
    assert result.status == "interrupted"
    assert "interrupt sent before the agent was up; will re-send" in caplog.text
    assert result.text == ""  # the turn ended at the re-sent interrupt, before any answer
