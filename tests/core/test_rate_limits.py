"""The rate-limit scheduler against canned HTTP answers: headers learnt, retry-after, 429s it owns, settings refused."""

from __future__ import annotations

import logging
import sys
import time

import httpx
import pytest
from sse import API, SSE_HEADERS, error_json, message_json, sse_body

from mac_core import Coordinator, hookimpl
from mac_core.rate_limits import (
    RateLimits,
    RateLimitScheduler,
    RequestScheduler,
    Reservation,
    built_in_scheduler,
)

MODEL = "claude-test"


def limit_headers(
    rpm: int, remaining: int, otpm: int | None = None, otpm_remaining: int | None = None
) -> dict:
    headers = {
        "anthropic-ratelimit-requests-limit": str(rpm),
        "anthropic-ratelimit-requests-remaining": str(remaining),
    }
    if otpm is not None:
        headers["anthropic-ratelimit-output-tokens-limit"] = str(otpm)
        headers["anthropic-ratelimit-output-tokens-remaining"] = str(otpm_remaining)
    return headers


def answer(text: str = "ok", **headers: str) -> httpx.Response:
    return httpx.Response(200, json=message_json(text), headers=headers)


def refusal(retry_after: str | None = "0", **headers: str) -> httpx.Response:
    if retry_after is not None:
        headers["retry-after"] = retry_after
    return httpx.Response(429, json=error_json(429, "rate_limit_error", "slow down"), headers=headers)


class WaitRecorder:
    """A reporter of ``mac_task_waiting``."""

    def __init__(self) -> None:
        self.waits: list[tuple[str, float, str]] = []

    @hookimpl
    def mac_task_waiting(self, task, seconds, limit):
        self.waits.append((task.name, seconds, limit))


def scheduler_of(coordinator: Coordinator) -> RateLimitScheduler:
    from mac_core.rate_limits import RateLimitSettings, account_id

    settings = coordinator.settings("messages")
    return built_in_scheduler(
        RateLimitSettings(
            account_id(settings.api_key, settings.base_url), coordinator._rate_limits, coordinator._redis_url
        )
    )


@pytest.fixture
def fresh_key(monkeypatch, api_key):
    """A key of its own per test, so no budget learnt by another test (same process) applies."""
    key = f"sk-ant-rl-{time.monotonic_ns()}"
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    return key


def test_limits_are_learnt_from_the_headers_and_the_next_request_waits_for_them(httpx2_mock, fresh_key):
    sent: list[float] = []

    def respond(request):
        sent.append(time.monotonic())
        return answer(**limit_headers(rpm=60, remaining=0))

    httpx2_mock.post(API).mock(side_effect=respond)
    waits = WaitRecorder()
    coordinator = Coordinator(plugins=[waits])
    results = coordinator.run(["a", "b"], transport="messages", model=MODEL, max_concurrency=1)
    assert [r.status for r in results] == ["completed", "completed"]
    # 60 requests a minute with none left: the second waits about a second for the bucket to refill
    assert [(name, limit) for name, _, limit in waits.waits] == [("task-1", "requests per minute")]
    assert 0.5 < waits.waits[0][1] <= 1.05
    assert sent[1] - sent[0] >= 0.9
    assert scheduler_of(coordinator).budget(MODEL).limits == (60, None, None)


def test_output_tokens_are_reserved_from_max_tokens_and_what_is_unused_is_given_back(httpx2_mock, fresh_key):
    httpx2_mock.post(API).mock(
        return_value=answer(**limit_headers(1000, 999, otpm=6000, otpm_remaining=5000))
    )
    coordinator = Coordinator()
    coordinator.run(["a"], transport="messages", model=MODEL, max_tokens=1000)
    bucket = scheduler_of(coordinator).budget(MODEL).buckets[2]
    # the answer says 5000 were left after its max_tokens were charged; it then gave back all but its 5 tokens
    coordinator.run(["b"], transport="messages", model=MODEL, max_tokens=1000)
    # both answers' 5 tokens stay spent (the canned headers, saying 5000 again, only ever lower the level)
    assert 6000 - 2 * 5 - 1 <= bucket.level <= 5000 + 995 + 1
    assert (
        bucket.charged == 1000 and bucket.returned == 2 * 995
    )  # the first, sent before the limit was known, too


def test_a_429_waits_for_its_retry_after_and_is_retried_by_the_scheduler_not_the_sdk(httpx2_mock, fresh_key):
    sent: list[float] = []
    replies = iter([refusal("1"), answer("made it")])

    def respond(request):
        sent.append(time.monotonic())
        return next(replies)

    route = httpx2_mock.post(API).mock(side_effect=respond)
    waits = WaitRecorder()
    (result,) = Coordinator(plugins=[waits], max_retries=2).run(["x"], transport="messages", model=MODEL)
    assert result.status == "completed" and result.text == "made it" and result.retries == 1
    assert route.call_count == 2
    assert sent[1] - sent[0] >= 0.95  # retry-after: 1
    assert [limit for _, _, limit in waits.waits] == ["retry-after"]
    assert route.calls[1].request.headers["x-stainless-retry-count"] == "1"


def test_429s_are_retried_max_retries_times_then_the_task_fails_with_the_refusal(httpx2_mock, fresh_key):
    route = httpx2_mock.post(API).mock(return_value=refusal("0"))
    (result,) = Coordinator(max_retries=2).run(["x"], transport="stream", model=MODEL)
    assert (result.status, result.status_code, result.error_type, result.retries) == (
        "failed",
        429,
        "rate_limit_error",
        2,
    )
    assert route.call_count == 3  # one send and two retries: the SDK did not retry on its own as well


def test_a_429_the_server_says_not_to_retry_is_not_retried(httpx2_mock, fresh_key):
    route = httpx2_mock.post(API).mock(return_value=refusal(None, **{"x-should-retry": "false"}))
    (result,) = Coordinator(max_retries=3).run(["x"], transport="messages", model=MODEL)
    assert result.status == "failed" and result.status_code == 429 and route.call_count == 1


def test_a_529_lowers_the_pace_and_is_retried(httpx2_mock, fresh_key):
    overloaded = httpx.Response(
        529, json=error_json(529, "overloaded_error", "Overloaded"), headers={"retry-after": "0"}
    )
    route = httpx2_mock.post(API).mock(side_effect=[overloaded, answer(**limit_headers(600, 500))])
    coordinator = Coordinator()
    (result,) = coordinator.run(["x"], transport="messages", model=MODEL)
    assert result.status == "completed" and result.retries == 1 and route.call_count == 2
    budget = scheduler_of(coordinator).budget(MODEL)
    assert budget.pace < 1.0  # lowered by the 529, raised a step by the answer
    coordinator.run(["y"] * 3, transport="messages", model=MODEL)
    assert budget.pace > 0.75


def test_without_limit_headers_nothing_waits_and_no_budget_is_kept(httpx2_mock, fresh_key):
    httpx2_mock.post(API).mock(
        return_value=httpx.Response(200, content=sse_body(["hi"]), headers=SSE_HEADERS)
    )
    waits = WaitRecorder()
    coordinator = Coordinator(plugins=[waits])
    results = coordinator.run(["a"] * 10, transport="stream", model=MODEL, max_concurrency=5)
    assert all(r.ok for r in results) and waits.waits == []
    assert scheduler_of(coordinator).budget(MODEL) is None  # the no-limit path is one dict lookup


def test_with_the_scheduler_off_the_sdk_retries_429s_itself(httpx2_mock, fresh_key):
    route = httpx2_mock.post(API).mock(side_effect=[refusal("0"), answer("ok")])
    (result,) = Coordinator(rate_limits=False).run(["x"], transport="messages", model=MODEL)
    assert result.ok and result.retries == 1 and route.call_count == 2
    assert "x-should-retry" not in route.calls[0].response.headers  # nothing told the SDK to leave it


def test_limits_given_as_settings_are_kept_whatever_the_headers_say(httpx2_mock, fresh_key):
    httpx2_mock.post(API).mock(return_value=answer(**limit_headers(rpm=1000, remaining=999)))
    waits = WaitRecorder()
    coordinator = Coordinator(plugins=[waits], rate_limits={MODEL: {"rpm": 60}})
    coordinator.run(["a"], transport="messages", model=MODEL)
    assert scheduler_of(coordinator).budget(MODEL).limits[0] == 60


class CountingScheduler(RequestScheduler):
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def reserve(self, task):
        self.calls.append("reserve")
        return Reservation(task.model)

    async def answered(self, reservation, headers, usage):
        self.calls.append("answered")

    async def refused(self, reservation, status_code, headers, attempt):
        self.calls.append(f"refused {status_code}")

    async def released(self, reservation):
        self.calls.append("released")


def test_a_plugin_scheduler_replaces_the_built_in_one(httpx2_mock, fresh_key):
    httpx2_mock.post(API).mock(side_effect=[refusal("0"), answer("ok")])
    mine = CountingScheduler()

    class Provider:
        @hookimpl
        def mac_rate_limit_scheduler(self, settings):
            assert fresh_key not in repr(settings) and len(settings.account) == 16
            return mine

    (result,) = Coordinator(plugins=[Provider()]).run(["x"], transport="messages", model=MODEL)
    assert result.ok and mine.calls == ["reserve", "refused 429", "reserve", "answered"]


def test_a_scheduler_plugin_that_raises_or_answers_nonsense_is_skipped(httpx2_mock, fresh_key, caplog):
    httpx2_mock.post(API).mock(return_value=answer("ok"))

    class Broken:
        @hookimpl
        def mac_rate_limit_scheduler(self, settings):
            raise RuntimeError("boom")

    class Nonsense:
        @hookimpl
        def mac_rate_limit_scheduler(self, settings):
            return "a scheduler"

    with caplog.at_level(logging.ERROR, logger="mac_core.plugins"):
        (result,) = Coordinator(plugins=[Broken(), Nonsense()]).run(["x"], transport="messages", model=MODEL)
    assert result.ok
    assert "raised in mac_rate_limit_scheduler" in caplog.text and "not a RequestScheduler" in caplog.text


def test_a_stop_while_waiting_sends_nothing(httpx2_mock, fresh_key):
    route = httpx2_mock.post(API).mock(return_value=answer(**limit_headers(rpm=1, remaining=0)))

    class StopWhenWaiting:
        @hookimpl
        def mac_task_waiting(self, task, seconds, limit):
            task.interrupt("no time to wait")

    results = Coordinator(plugins=[StopWhenWaiting()]).run(
        ["a", "b"], transport="messages", model=MODEL, max_concurrency=1
    )
    assert [r.status for r in results] == ["completed", "interrupted"]
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate_limits": RateLimits}, "rate_limits must be a RateLimits, a dict of limits, or False"),
        ({"rate_limits": "fast"}, "rate_limits must be"),
        ({"rate_limits": {"rpm": 0}}, "rpm must be a positive integer"),
        ({"rate_limits": {"claude-x": {"rqm": 5}}}, "rate_limits['claude-x']: unknown limit 'rqm'"),
        ({"rate_limits": {"claude-x": {"otpm": 1.5}}}, "otpm must be a positive integer"),
        ({"redis_url": "http://user:hunter2@localhost:6379"}, "redis_url must be a redis://"),
        ({"redis_url": 6379}, "redis_url must be a string"),
    ],
)
def test_bad_rate_limit_settings_are_refused_before_any_request(kwargs, message, api_key):
    with pytest.raises(ValueError) as info:
        Coordinator(**kwargs)
    assert message in str(info.value) and "hunter2" not in str(info.value)


def test_a_bad_redis_url_in_the_environment_names_the_variable(monkeypatch, api_key):
    monkeypatch.setenv("MAC_REDIS_URL", "localhost:6379")
    with pytest.raises(ValueError, match=r"\$MAC_REDIS_URL must be a redis://"):
        Coordinator()


def test_a_redis_url_without_the_redis_package_says_how_to_install_it(monkeypatch, api_key):
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ValueError, match=r"pip install 'multi-agent-coordination\[redis\]'") as info:
        Coordinator(redis_url="redis://:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in str(info.value)
