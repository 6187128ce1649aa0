"""The worker actor's class on its own (no Ray): one ``stop`` call ends its tasks, even one whose call came later.

The same :class:`~mac_plugins.ray.worker.TaskWorker` runs as a Ray actor in
``test_ray_transport.py``; here its event loop is the test's, against the simulator.
"""

from __future__ import annotations

import asyncio

import pytest
from mac_plugins.ray.worker import DONE, EVENTS, SealedKey, TaskWorker, settings_spec, task_spec
from mac_plugins.simulator import Simulator

from mac_core import ClientSettings
from mac_core.run import Task
from mac_core.transport import NoOptions

pytestmark = pytest.mark.timeout(120)


def worker_for(url: str) -> TaskWorker:
    settings = ClientSettings(base_url=url, options=NoOptions())
    return TaskWorker(
        settings_spec(settings), SealedKey("sk-ant-worker-test-0123"), "stream", None, False, 0.02
    )


def spec(index: int) -> dict:
    return task_spec(
        Task(index=index, prompt=f"long answer {index}", model="claude-sonnet-4-5", max_tokens=1024)
    )


async def drain(generator) -> list:
    return [item async for item in generator]


async def until(condition, timeout: float = 60.0) -> None:
    """Wait (polling) until ``condition()`` holds; fail after ``timeout`` s (a loaded machine is slow, not stuck)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


def test_one_stop_call_cancels_every_named_task_and_its_stream_at_once():
    async def scenario(sim):
        worker = worker_for(sim.url)
        runs = [asyncio.ensure_future(drain(worker.run(f"k{i}", spec(i)))) for i in range(10)]
        await until(lambda: sim.stats.streams_open == 10)
        worker.stop([f"k{i}" for i in range(5)])  # half of them
        stopped = await asyncio.wait_for(asyncio.gather(*runs[:5]), 60)
        await until(lambda: sim.stats.streams_open == 5)
        assert not any(run.done() for run in runs[5:])  # the others stream on
        worker.stop([f"k{i}" for i in range(5, 10)])
        await asyncio.wait_for(asyncio.gather(*runs[5:]), 60)
        await worker.close()
        return stopped

    with Simulator(tokens=400, token_delay=0.05) as sim:
        stopped = asyncio.run(scenario(sim))
        assert sim.stats.streams_open == 0 and sim.stats.streams_finished == 0
    for items in stopped:
        kinds = [kind for kind, _ in items]
        assert kinds and set(kinds) == {EVENTS}  # events were sent, then no outcome: the driver has moved on


def test_a_stop_that_overtakes_its_task_call_keeps_that_task_from_starting():
    async def scenario(sim):
        worker = worker_for(sim.url)
        worker.stop(["early"])
        never = await drain(worker.run("early", spec(0)))
        later = await drain(worker.run("later", spec(1)))
        await worker.close()
        return never, later

    with Simulator(tokens=5, token_delay=0) as sim:
        never, later = asyncio.run(scenario(sim))
        assert sim.stats.messages == 1  # only the second task reached the API
    assert never == []
    assert later[-1][0] == DONE
