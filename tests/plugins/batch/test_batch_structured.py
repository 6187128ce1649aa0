"""The ``batch`` transport is plain structured concurrency: anyio only, nothing running after its run."""

from __future__ import annotations

import asyncio

import anthropic
import anyio
import pytest
from mac_plugins.simulator import Simulator

from mac_core import Coordinator, Interrupt, hookimpl

FAST = {"poll_interval": 0.05, "max_poll_interval": 0.05, "flush_after": 0.05}


@pytest.fixture
def slow_batches(batch_sim):
    """A simulator whose batches take a second per request, so a run can be stopped mid-batch."""
    return batch_sim(batch_delay=1.0)


def replies(count: int) -> list[dict]:
    return [{"id": f"q{i}", "prompt": f"[[reply: answer {i}]]"} for i in range(count)]


def test_the_batch_transport_runs_under_trio_as_under_asyncio(monkeypatch, tmp_path):
    pytest.importorskip("trio")
    with Simulator(tokens=5, token_delay=0, batch_delay=0.002) as sim:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-sim")
        monkeypatch.setenv("MAC_CONFIG", str(tmp_path / "none.toml"))

        async def run():
            return await Coordinator().arun(replies(6), transport="batch", transport_options=FAST)

        results = anyio.run(run, backend="trio")
    assert [r.text for r in results] == [f"answer {i}" for i in range(6)]
    assert sim.stats.batches == 1


def test_a_run_cancelled_from_outside_cancels_its_batch_and_leaves_nothing_running(slow_batches):
    async def run_then_cancel():
        with anyio.move_on_after(0.5):
            await Coordinator().arun(replies(5), transport="batch", transport_options=FAST)
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    left_running = asyncio.run(run_then_cancel())
    assert left_running == []
    client = anthropic.Anthropic(base_url=slow_batches.url, api_key="sk-sim")
    (batch,) = client.messages.batches.list(limit=10).data
    assert batch.cancel_initiated_at is not None  # nobody waits for it any more: not left running, billed


class StopTheFirstAtItsFirstProgress:
    @hookimpl
    def mac_should_interrupt(self, task, event, run):
        first_progress = event.type == "progress" and task.index == 0
        return Interrupt(reason="enough of this one", scope="task") if first_progress else None


def test_an_interrupted_task_hands_its_turn_and_the_others_still_get_their_answers(monkeypatch, tmp_path):
    with Simulator(tokens=5, token_delay=0, batch_delay=0.05) as sim:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-sim")
        monkeypatch.setenv("MAC_CONFIG", str(tmp_path / "none.toml"))

        results = Coordinator().run(replies(6), transport="batch", transport_options=FAST,
                                    plugins=[StopTheFirstAtItsFirstProgress()])
    assert results[0].status == "interrupted"
    assert [r.text for r in results[1:]] == [f"answer {i}" for i in range(1, 6)]
