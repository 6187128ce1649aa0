"""``RateLimits(count_tokens=True)``: the scheduler charges the API's count of input tokens, or the local estimate."""

from __future__ import annotations

import time

import httpx
from mac_plugins.simulator import Simulator
from sse import API, message_json

from mac_core import Coordinator, hookimpl
from mac_core.rate_limits import RateLimits, RateLimitScheduler, RateLimitSettings, estimate_input_tokens
from mac_core.run import Task

MODEL = "claude-counted"
PROMPT = "Count these words, please: " + " ".join(f"word{i}" for i in range(300))


class RecordingScheduler(RateLimitScheduler):
    """The built-in scheduler, keeping each charged reservation's input tokens."""

    def __init__(self, settings: RateLimitSettings) -> None:
        super().__init__(settings)
        self.input_charged: list[float] = []

    def reserve_now(self, task):
        reservation = super().reserve_now(task)
        if reservation.costs[0]:
            self.input_charged.append(reservation.costs[1])
        return reservation


class Provider:
    def __init__(self) -> None:
        self.scheduler: RecordingScheduler | None = None

    @hookimpl
    def mac_rate_limit_scheduler(self, settings):
        self.scheduler = RecordingScheduler(settings)
        return self.scheduler


def local_estimate() -> int:
    return estimate_input_tokens(Task(0, PROMPT, model=MODEL, max_tokens=100))


def test_with_count_tokens_the_scheduler_charges_the_apis_count_not_the_local_estimate():
    provider = Provider()
    with Simulator(tokens=5) as sim:
        coordinator = Coordinator(
            api_key=f"sk-ant-count-{time.monotonic_ns()}",
            base_url=sim.url,
            rate_limits=RateLimits(itpm=100_000, count_tokens=True),
            plugins=[provider],
        )
        (result,) = coordinator.run([PROMPT], transport="stream", model=MODEL, max_tokens=100)
    assert result.ok, result.error
    assert provider.scheduler is not None
    # the simulator counts as it charges: the count it answered is the answer's input tokens
    assert provider.scheduler.input_charged == [result.usage.input_tokens]
    assert result.usage.input_tokens != local_estimate()  # the test could tell the two apart


def test_a_count_tokens_that_fails_falls_back_to_the_local_estimate_and_the_task_completes(
    httpx2_mock, api_key
):
    counts = httpx2_mock.post(API + "/count_tokens").mock(
        return_value=httpx.Response(
            500, json={"type": "error", "error": {"type": "api_error", "message": "x"}}
        )
    )
    httpx2_mock.post(API).mock(return_value=httpx.Response(200, json=message_json("ok")))
    provider = Provider()
    coordinator = Coordinator(
        rate_limits={"otpm": 100_000, "count_tokens": True}, plugins=[provider], max_retries=3
    )
    (result,) = coordinator.run([PROMPT], transport="messages", model=MODEL, max_tokens=100)
    assert result.ok and result.retries == 0
    assert counts.call_count == 1  # a count is not retried: the estimate is good enough
    assert provider.scheduler is not None and provider.scheduler.input_charged == [local_estimate()]


def test_a_count_tokens_answer_without_a_number_falls_back_to_the_local_estimate(httpx2_mock, api_key):
    httpx2_mock.post(API + "/count_tokens").mock(return_value=httpx.Response(200, json={"input_tokens": -3}))
    httpx2_mock.post(API).mock(return_value=httpx.Response(200, json=message_json("ok")))
    provider = Provider()
    coordinator = Coordinator(rate_limits=RateLimits(otpm=100_000, count_tokens=True), plugins=[provider])
    (result,) = coordinator.run([PROMPT], transport="messages", model=MODEL, max_tokens=100)
    assert result.ok
    assert provider.scheduler is not None and provider.scheduler.input_charged == [local_estimate()]


def test_without_count_tokens_no_count_is_asked(httpx2_mock, api_key):
    httpx2_mock.post(API).mock(return_value=httpx.Response(200, json=message_json("ok")))
    provider = Provider()
    coordinator = Coordinator(rate_limits=RateLimits(otpm=100_000), plugins=[provider])
    (result,) = coordinator.run([PROMPT], transport="messages", model=MODEL, max_tokens=100)
    assert result.ok
    assert [call.request.url.path for call in httpx2_mock.calls] == ["/v1/messages"]
    assert provider.scheduler is not None and provider.scheduler.input_charged == [local_estimate()]


def test_count_tokens_must_be_a_bool():
    import pytest

    with pytest.raises(ValueError, match="count_tokens must be True or False"):
        RateLimits(count_tokens="yes")  # type: ignore[arg-type]
