"""The scheduler's accounting against the far side's: headers never let in a request the server would refuse."""

from __future__ import annotations

from mac_core.rate_limits import ANY_MODEL, RateLimits, RateLimitScheduler, RateLimitSettings
from mac_core.results import Usage
from mac_core.run import Task

MODEL = "claude-precise"
OTPM = 10_000
#: Tokens the output bucket refills while a test runs (167 a second): slack for the assertions, not for a request.
REFILL_SLACK = 200


def scheduler(otpm: int | None = OTPM) -> RateLimitScheduler:
    limits = {ANY_MODEL: RateLimits(otpm=otpm)} if otpm else {}
    return RateLimitScheduler(RateLimitSettings("test-account", limits))


def task(max_tokens: int = 1000) -> Task:
    return Task(0, "Hello.", model=MODEL, max_tokens=max_tokens)


def headers(remaining: int, limit: int = OTPM) -> dict[str, str]:
    return {
        "anthropic-ratelimit-output-tokens-limit": str(limit),
        "anthropic-ratelimit-output-tokens-remaining": str(remaining),
    }


def output_level(s: RateLimitScheduler) -> float:
    budget = s.budget(MODEL)
    assert budget is not None and budget.buckets[2] is not None
    return budget.buckets[2].level


def test_an_answer_that_overtook_an_earlier_request_does_not_give_its_reservation_back():
    # A and B are charged in that order; B reaches the server first, whose remaining then omits A
    s = scheduler()
    first, second = s.reserve_now(task()), s.reserve_now(task())
    assert first.wait == second.wait == 0
    s.answered_now(second, headers(remaining=OTPM - 1000), Usage(output_tokens=20))
    # what this process knows: two reservations of 1,000, one of them settled at 20
    assert output_level(s) <= OTPM - 2000 + 980 + REFILL_SLACK


def test_a_refusal_after_answers_does_not_credit_every_return_ever_made():
    s = scheduler()
    for _ in range(5):
        done = s.reserve_now(task())
        s.answered_now(done, headers(remaining=OTPM - 1000), Usage(output_tokens=20))
    level = output_level(s)
    refused = s.reserve_now(task())
    s.refused_now(refused, {**headers(remaining=500), "retry-after": "0"}, attempt=0)
    # the server says 500 left: the level falls to it, never rises to "500 plus all that came back"
    assert output_level(s) <= min(level, 500 + REFILL_SLACK)


def test_headers_from_another_user_of_the_organisation_lower_the_level():
    s = scheduler()
    sent = s.reserve_now(task())
    s.answered_now(sent, headers(remaining=3000), Usage(output_tokens=1000))
    assert output_level(s) <= 3000 + REFILL_SLACK


def test_a_lower_limit_in_the_headers_caps_what_is_left_at_once():
    s = scheduler(otpm=None)
    sent = s.reserve_now(task(max_tokens=10))
    s.answered_now(sent, headers(remaining=OTPM - 10), Usage(output_tokens=10))
    assert output_level(s) > OTPM - 100
    sent = s.reserve_now(task(max_tokens=10))
    s.answered_now(sent, headers(remaining=1990, limit=2000), Usage(output_tokens=10))
    budget = s.budget(MODEL)
    assert budget is not None and budget.limits[2] == 2000
    assert output_level(s) <= 2000
