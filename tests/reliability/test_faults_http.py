"""Every fault the simulator can inject, over real sockets, on the ``stream`` and ``messages`` transports,
with the SDK on httpx2 and on aiohttp.

For each: the run finishes, every task is terminal, what is retryable is
retried (the simulator counts the attempts), partial text is kept where some
arrived, the error names what happened, and no wait outlasts its timeout.
"""

from __future__ import annotations

import functools
import time

import pytest

from mac_core import TaskResult
from mac_core.anthropic_api import HTTP_CLIENTS
from mac_core.results import TERMINAL_STATUSES

TRANSPORTS = ("stream", "messages")
TIMEOUT = 0.5  # the idle/request timeout of the timeout tests
SLACK = 2.5  # generous: a timeout must fire, not be met to the millisecond


@pytest.fixture(params=HTTP_CLIENTS)
def coordinator_for(request, coordinator_for):
    """Every fault on both HTTP stacks the SDK can run on (``http_client``, ADR 0012)."""
    return functools.partial(coordinator_for, http_client=request.param)


def fault(kind: str, retry_after: float = 0.01) -> dict:
    """Request options forcing ``kind`` on the request (``KIND:N``: only on the first N attempts)."""
    return {"extra_headers": {"x-mac-sim-fault": kind, "x-mac-sim-retry-after": str(retry_after)}}


def run_one(sim, coordinator, transport: str, **options) -> tuple[TaskResult, float, int]:
    """The result of one prompt, the seconds it took, and the requests the simulator received for it."""
    before = sim.stats.messages
    started = time.monotonic()
    (result,) = coordinator.run(["Summarise the findings"], transport=transport, **options)
    return result, time.monotonic() - started, sim.stats.messages - before


@pytest.fixture
def full_answer(sim, coordinator_for) -> str:
    """The answer the simulator gives the test prompt when nothing goes wrong."""
    (result,) = coordinator_for(sim).run(["Summarise the findings"])
    assert result.ok
    return result.text


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("kind", "status"), [("rate_limit", 429), ("overloaded", 529), ("server_error", 500)])
def test_a_transient_status_is_retried_honouring_retry_after_until_it_succeeds(
    sim, coordinator_for, full_answer, transport, kind, status
):
    result, elapsed, attempts = run_one(sim, coordinator_for(sim, max_retries=2), transport, **fault(f"{kind}:2", retry_after=0.2))
    assert result.status == "completed", result.error
    assert result.text == full_answer
    assert attempts == 3  # two faulted attempts, then the success
    assert sim.stats.statuses[status] == 2
    assert elapsed >= 0.4  # each retry waited the server's retry-after (0.2 s)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("rate_limit", "HTTP 429 rate_limit_error"),
        ("overloaded", "HTTP 529 overloaded_error"),
        ("server_error", "HTTP 500 api_error"),
    ],
)
def test_a_status_that_persists_fails_after_the_retries_naming_status_and_type(
    sim, coordinator_for, transport, kind, expected
):
    result, _, attempts = run_one(sim, coordinator_for(sim, max_retries=2), transport, **fault(kind))
    assert result.status == "failed"
    assert result.error.startswith(expected)
    assert result.error.endswith("after 2 retries")  # the retries are visible to the user
    assert result.request_id and result.request_id in result.error
    assert attempts == 3
    status, error_type = expected.split()[1:3]  # the same, as fields a program can match on
    assert (result.status_code, result.error_type, result.retries) == (int(status), error_type, 2)


def test_a_midstream_error_event_fails_keeping_the_text_and_is_not_replayed(sim, coordinator_for, full_answer):
    result, _, attempts = run_one(sim, coordinator_for(sim), "stream", **fault("midstream"))
    assert result.status == "failed"
    assert result.error.startswith("stream error overloaded_error: Overloaded")
    assert result.text and full_answer.startswith(result.text) and result.text != full_answer
    assert attempts == 1  # text was already delivered (and billed): no silent re-run


def test_without_streaming_the_midstream_fault_is_a_529_and_is_retried(sim, coordinator_for, full_answer):
    result, _, attempts = run_one(sim, coordinator_for(sim), "messages", **fault("midstream:1"))
    assert result.status == "completed", result.error
    assert result.text == full_answer
    assert attempts == 2


def test_a_connection_dropped_mid_stream_fails_keeping_the_text(sim, coordinator_for, full_answer):
    result, _, attempts = run_one(sim, coordinator_for(sim), "stream", **fault("disconnect"))
    assert result.status == "failed"
    assert "connection" in result.error and "mid-stream" in result.error
    assert result.text and full_answer.startswith(result.text) and result.text != full_answer
    assert attempts == 1
    assert (result.error_type, result.status_code) == ("connection_error", None)


def test_a_connection_dropped_mid_response_without_streaming_is_retried(sim, coordinator_for, full_answer):
    result, _, attempts = run_one(sim, coordinator_for(sim), "messages", **fault("disconnect:1"))
    assert result.status == "completed", result.error
    assert result.text == full_answer
    assert attempts == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_slow_first_byte_times_out_within_the_timeout(sim, coordinator_for, transport):
    coordinator = coordinator_for(sim, max_retries=0, idle_timeout=TIMEOUT, request_timeout=TIMEOUT)
    result, elapsed, attempts = run_one(sim, coordinator, transport, **fault("slow"))
    assert result.status == "failed"
    assert "timed out" in result.error and result.error_type == "timeout"
    assert elapsed < TIMEOUT + SLACK  # not the 5 s the server would have made it wait


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_slow_first_byte_is_retried_to_success(sim, coordinator_for, full_answer, transport):
    coordinator = coordinator_for(sim, max_retries=1, idle_timeout=TIMEOUT, request_timeout=TIMEOUT)
    result, _, attempts = run_one(sim, coordinator, transport, **fault("slow:1"))
    assert result.status == "completed", result.error
    assert result.text == full_answer
    assert attempts == 2


def test_a_stream_that_stalls_fails_on_the_idle_timeout_keeping_the_text(sim, coordinator_for, full_answer):
    result, elapsed, attempts = run_one(sim, coordinator_for(sim, idle_timeout=TIMEOUT), "stream", **fault("stall"))
    assert result.status == "failed"
    assert result.error == f"no event for {TIMEOUT:g} s: the stream stalled"
    assert result.text and full_answer.startswith(result.text) and result.text != full_answer
    assert elapsed < TIMEOUT + SLACK


def test_a_stalled_response_without_streaming_times_out_and_is_retried(sim, coordinator_for, full_answer):
    coordinator = coordinator_for(sim, max_retries=1, request_timeout=TIMEOUT)
    result, _, attempts = run_one(sim, coordinator, "messages", **fault("stall:1"))
    assert result.status == "completed", result.error
    assert result.text == full_answer
    assert attempts == 2


def test_a_malformed_event_fails_clearly_keeping_the_text(sim, coordinator_for, full_answer):
    result, _, attempts = run_one(sim, coordinator_for(sim), "stream", **fault("malformed"))
    assert result.status == "failed"
    assert result.error.startswith("malformed event from the server") and result.error_type == "malformed_event"
    assert result.text and full_answer.startswith(result.text) and result.text != full_answer


def test_a_malformed_response_without_streaming_fails_clearly(sim, coordinator_for):
    result, _, attempts = run_one(sim, coordinator_for(sim), "messages", **fault("malformed"))
    assert result.status == "failed"
    assert result.error.startswith("malformed response from the server")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_fan_out_meeting_every_fault_finishes_with_one_terminal_result_per_prompt(sim, coordinator_for, transport):
    kinds = ["rate_limit:1", "overloaded:1", "server_error:1", "midstream", "disconnect", "slow", "stall", "malformed"]
    prompts = [{"prompt": f"question {i}", **fault(kind)} for i, kind in enumerate(kinds)]
    prompts.append({"prompt": "a healthy one"})
    coordinator = coordinator_for(sim, max_retries=1, idle_timeout=TIMEOUT, request_timeout=TIMEOUT)
    started = time.monotonic()
    results = coordinator.run(prompts, transport=transport, max_concurrency=len(prompts))
    elapsed = time.monotonic() - started
    assert [r.index for r in results] == list(range(len(prompts)))
    assert all(r.status in TERMINAL_STATUSES for r in results)
    assert all(r.status == "completed" for r in results[:3] + results[-1:])  # retried to success
    for failed in (r for r in results if r.status == "failed"):
        assert failed.error  # every failure says why
    # Two timed-out attempts at most per task, all in parallel: far below the 5 s the server would hold.
    assert elapsed < 2 * TIMEOUT + 2 * SLACK
