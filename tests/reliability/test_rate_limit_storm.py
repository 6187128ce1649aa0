"""A 429 storm on the simulator with real limits: many tasks, a low limit, the scheduler learning it as it goes."""

from __future__ import annotations

import time

import pytest
from mac_plugins.simulator import Simulator

from mac_core import Coordinator, hookimpl
from mac_core.rate_limits import RateLimitScheduler, RateLimitSettings

MODEL = "claude-storm"


class RefusalsAfterLearning(RateLimitScheduler):
    """The built-in scheduler, counting refusals of requests it charged, that is, sent knowing the limit."""

    def __init__(self, settings: RateLimitSettings) -> None:
        super().__init__(settings)
        self.refused_knowing = 0

    def refused_now(self, reservation, headers, attempt):
        if reservation.costs[0]:
            self.refused_knowing += 1
        super().refused_now(reservation, headers, attempt)


class Provider:
    def __init__(self) -> None:
        self.scheduler: RefusalsAfterLearning | None = None

    @hookimpl
    def mac_rate_limit_scheduler(self, settings):
        self.scheduler = RefusalsAfterLearning(settings)
        return self.scheduler


@pytest.mark.timeout(120)
def test_many_tasks_under_a_low_output_limit_all_complete_with_few_refusals():
    # 10,000 output tokens a minute and max_tokens=1,000: at most 10 requests in flight, against 20 workers
    provider = Provider()
    with Simulator(otpm=10_000, tokens=20, token_delay=0.01, seed=1) as sim:
        coordinator = Coordinator(
            api_key=f"sk-ant-storm-{time.monotonic_ns()}", base_url=sim.url, plugins=[provider]
        )
        results = coordinator.run(
            [f"Story {i}." for i in range(200)],
            transport="stream",
            model=MODEL,
            max_tokens=1000,
            max_concurrency=20,
        )
        refused = sim.stats.rate_limited
    assert [r.status for r in results] == ["completed"] * 200
    assert sum(r.retries for r in results) == refused
    assert provider.scheduler is not None
    # the first wave goes before any header tells the limit: 20 sent, 10 fit (a little more refills meanwhile)
    assert refused - provider.scheduler.refused_knowing <= 10
    # once the limit is known the scheduler's accounting matches the server's, however late answers arrive
    assert provider.scheduler.refused_knowing == 0, (
        f"{provider.scheduler.refused_knowing} refused after learning"
    )


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
