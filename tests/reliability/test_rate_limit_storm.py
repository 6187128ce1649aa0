"""A 429 storm on the simulator with real limits: many tasks, a low limit, the scheduler learning it as it goes."""

from __future__ import annotations

import time

import pytest
from mac_plugins.simulator import Simulator

from mac_core import Coordinator

MODEL = "claude-storm"


@pytest.mark.timeout(120)
def test_many_tasks_under_a_low_output_limit_all_complete_with_few_refusals():
    # 10,000 output tokens a minute and max_tokens=1,000: at most 10 requests in flight, against 20 workers
    with Simulator(otpm=10_000, tokens=20, token_delay=0.01, seed=1) as sim:
        coordinator = Coordinator(api_key=f"sk-ant-storm-{time.monotonic_ns()}", base_url=sim.url)
        results = coordinator.run(
            [f"Story {i}." for i in range(200)],
            transport="stream",
            model=MODEL,
            max_tokens=1000,
            max_concurrency=20,
        )
        refused = sim.stats.rate_limited
    assert [r.status for r in results] == ["completed"] * 200
    # only the first wave, sent before any header told the limit, may be refused
    assert refused <= 0.06 * 200, f"{refused} requests refused"
    assert sum(r.retries for r in results) == refused


@pytest.mark.timeout(120)
def test_the_same_storm_without_the_scheduler_is_refused_far_more():
    """The comparison that shows the test above can fail: the SDK's own retries, storming."""
    with Simulator(otpm=10_000, tokens=20, token_delay=0.01, seed=1) as sim:
        coordinator = Coordinator(
            api_key=f"sk-ant-storm-{time.monotonic_ns()}", base_url=sim.url, rate_limits=False
        )
        coordinator.run(
            [f"Story {i}." for i in range(200)],
            transport="stream",
            model=MODEL,
            max_tokens=1000,
            max_concurrency=20,
        )
        refused = sim.stats.rate_limited
    assert refused > 0.06 * 200
