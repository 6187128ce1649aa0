"""The scheduler against unlucky and hostile answers: huge or garbage retry-after and headers, requests that
can never fit, separate keys, a cancel while tasks wait."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest
from sse import API, error_json, message_json

from mac_core import Coordinator, hookimpl
from mac_core.rate_limits import RateLimits
from mac_core.rate_limits.buckets import MAX_RETRY_AFTER_SECONDS

MODEL = "claude-abused"


@pytest.fixture
def fresh_key(monkeypatch, api_key):
    """A key of its own per test, so no budget learnt by another test (same process) applies."""
    key = f"sk-ant-abuse-{time.monotonic_ns()}"
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    return key


class WaitRecorder:
    """A reporter of ``mac_task_waiting``."""

    def __init__(self) -> None:
        self.waits: list[tuple[str, str]] = []

    @hookimpl
    def mac_task_waiting(self, task, seconds, limit):
        self.waits.append((task.name, limit))


def refusal(**headers: str) -> httpx.Response:
    return httpx.Response(429, json=error_json(429, "rate_limit_error", "slow down"), headers=headers)


def answer(**headers: str) -> httpx.Response:
    return httpx.Response(200, json=message_json("ok"), headers=headers)


def budget_of(coordinator: Coordinator):
    from mac_core.rate_limits import RateLimitSettings, account_id, built_in_scheduler

    settings = coordinator.settings("messages")
    return built_in_scheduler(
        RateLimitSettings(
            account_id(settings.api_key, settings.base_url), coordinator._rate_limits, coordinator._redis_url
        )
    ).budget(MODEL)


def test_max_tokens_over_a_given_output_limit_fails_at_once_without_a_request(httpx2_mock, fresh_key):
    started = time.monotonic()
    (result,) = Coordinator(rate_limits=RateLimits(otpm=4000)).run(
        ["x"], transport="messages", model=MODEL, max_tokens=8000
    )
    assert time.monotonic() - started < 5
    assert result.status == "failed" and result.error_type == "rate_limit_error"
    assert "max_tokens=8000" in result.error and "4,000" in result.error
    assert len(httpx2_mock.calls) == 0


def test_max_tokens_over_a_learnt_output_limit_fails_at_once(httpx2_mock, fresh_key):
    limits = {
        "anthropic-ratelimit-output-tokens-limit": "4000",
        "anthropic-ratelimit-output-tokens-remaining": "3000",
    }
    route = httpx2_mock.post(API).mock(return_value=answer(**limits))
    coordinator = Coordinator()
    (first,) = coordinator.run(["x"], transport="messages", model=MODEL, max_tokens=1000)
    started = time.monotonic()
    (second,) = coordinator.run(["y"], transport="messages", model=MODEL, max_tokens=8000)
    assert first.ok and second.status == "failed" and "lower max_tokens" in second.error
    assert time.monotonic() - started < 5 and route.call_count == 1


def test_a_retry_after_of_a_day_fails_the_request_at_once_and_holds_the_model_a_minute_at_most(
    httpx2_mock, fresh_key
):
    route = httpx2_mock.post(API).mock(return_value=refusal(**{"retry-after": "86400"}))
    coordinator = Coordinator(max_retries=3)
    started = time.monotonic()
    (result,) = coordinator.run(["x"], transport="messages", model=MODEL)
    assert time.monotonic() - started < 5 and route.call_count == 1
    assert result.status == "failed" and result.error_type == "rate_limit_error"
    assert "retry-after 86400 s" in result.error and "not waited for" in result.error
    budget = budget_of(coordinator)
    assert budget is not None and budget.blocked_until - time.monotonic() <= MAX_RETRY_AFTER_SECONDS


@pytest.mark.parametrize("value", ["soon", "-5", "nan", "inf", ""])
def test_a_garbage_retry_after_falls_back_to_a_short_backoff(httpx2_mock, fresh_key, value):
    route = httpx2_mock.post(API).mock(side_effect=[refusal(**{"retry-after": value}), answer()])
    started = time.monotonic()
    (result,) = Coordinator(max_retries=2).run(["x"], transport="messages", model=MODEL)
    assert result.ok and result.retries == 1 and route.call_count == 2
    assert time.monotonic() - started < 5  # the first backoff is at most 0.5 s


def test_garbage_limit_headers_are_ignored_not_fatal(httpx2_mock, fresh_key):
    garbage = {
        "anthropic-ratelimit-requests-limit": "0",  # would divide by zero as a limit
        "anthropic-ratelimit-requests-remaining": "-5",
        "anthropic-ratelimit-output-tokens-limit": "lots",
        "anthropic-ratelimit-output-tokens-remaining": "1e9",
        "anthropic-ratelimit-input-tokens-limit": "-100",
        "anthropic-ratelimit-input-tokens-remaining": "0",
    }
    route = httpx2_mock.post(API).mock(return_value=answer(**garbage))
    coordinator = Coordinator()
    results = coordinator.run(["a", "b", "c"], transport="messages", model=MODEL, max_concurrency=1)
    assert [r.status for r in results] == ["completed"] * 3 and route.call_count == 3
    budget = budget_of(coordinator)
    assert budget is None or budget.limits == (None, None, None)


def test_two_coordinators_with_different_keys_keep_separate_budgets(httpx2_mock, api_key):
    limits = {"anthropic-ratelimit-requests-limit": "1", "anthropic-ratelimit-requests-remaining": "0"}
    httpx2_mock.post(API).mock(return_value=answer(**limits))
    first = Coordinator(api_key=f"sk-ant-one-{time.monotonic_ns()}")
    second = Coordinator(api_key=f"sk-ant-two-{time.monotonic_ns()}")
    assert first.run(["a"], transport="messages", model=MODEL)[0].ok
    started = time.monotonic()
    assert second.run(["b"], transport="messages", model=MODEL)[
        0
    ].ok  # the other key's empty budget is not its
    assert time.monotonic() - started < 5
    assert budget_of(first) is not budget_of(second) and budget_of(first) is not None


def test_a_cancel_while_tasks_wait_for_the_limit_ends_at_once(httpx2_mock, fresh_key):
    limits = {"anthropic-ratelimit-requests-limit": "1", "anthropic-ratelimit-requests-remaining": "0"}
    route = httpx2_mock.post(API).mock(return_value=answer(**limits))
    coordinator = Coordinator()
    assert coordinator.run(["a"], transport="messages", model=MODEL)[0].ok  # learns: 1 a minute, none left
    waits = WaitRecorder()

    async def main() -> float:
        with anyio.move_on_after(1.0):  # b and c would wait most of a minute
            await coordinator.arun(
                ["b", "c"], transport="messages", model=MODEL, max_concurrency=2, plugins=[waits]
            )
        return time.monotonic()

    started = time.monotonic()
    ended = anyio.run(main)
    assert ended - started < 3 and route.call_count == 1
    assert sorted(name for name, _ in waits.waits) == ["task-0", "task-1"]  # they did wait for the limit
