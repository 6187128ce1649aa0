"""orchestration, task_state and StallDetector as the skill's function reference and workflows show them."""

from __future__ import annotations

import time

import pytest
from conftest import fault

from mac_core import (
    ClaudeInvocationError,
    ConcurrencyLimiter,
    InvalidTransitionError,
    StallDetector,
    TaskState,
    TaskTracker,
    compute_backoff_delay,
    invoke_parallel_managed,
    invoke_parallel_with_reconciliation,
    invoke_with_retry,
)


def test_backoff_doubles_from_the_base_up_to_the_cap():
    assert [compute_backoff_delay(n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert compute_backoff_delay(3, base_ms=2000, max_ms=15000) == 8.0
    assert compute_backoff_delay(7, is_continuation=True) == 1.0


def test_invoke_with_retry_waits_the_documented_backoff_between_attempts(sim, no_waiting):
    answer = invoke_with_retry("[[reply: third time lucky]]", max_retries=3, base_delay_ms=1000, max_delay_ms=10000,
                               **fault("overloaded:2"))
    assert answer == "third time lucky"
    assert no_waiting == [1.0, 2.0]


def test_invoke_with_retry_does_not_retry_a_client_error(sim, no_waiting):
    with pytest.raises(ClaudeInvocationError) as info:
        invoke_with_retry("hello", max_retries=3, tools=[{"name": "lookup"}])  # no input_schema: the API answers 400
    assert info.value.status_code == 400 and sim.stats.statuses[400] == 1 and no_waiting == []


def test_invoke_with_retry_gives_up_after_max_retries(sim, no_waiting):
    with pytest.raises(ClaudeInvocationError) as info:
        invoke_with_retry("[[reply: x]]", max_retries=2, **fault("server_error"))
    assert info.value.status_code == 500 and sim.stats.messages == 3


def test_the_managed_example_runs_with_reconcile_limits_and_stall_detection(sim, no_waiting):
    limiter = ConcurrencyLimiter(global_limit=5, category_limits={"critical": 2})
    seen = {}

    def reconcile(prompts, tracker):
        seen["tracked"] = len(tracker)
        return [p for p in prompts if p.get("task_id") in {"issue-42", "issue-43"}]

    results = invoke_parallel_managed(
        prompts=[
            {"prompt": "[[reply: fixed auth]]", "task_id": "issue-42", "category": "critical"},
            {"prompt": "[[reply: optimized]]", "task_id": "issue-43", "category": "perf"},
            {"prompt": "Update docs", "task_id": "issue-44", "category": "docs"},
        ],
        reconcile=reconcile, concurrency_limiter=limiter, max_retries=2, stall_timeout=120.0,
    )
    assert results == ["fixed auth", "optimized", None] and seen["tracked"] == 3


def test_managed_tasks_are_retried_max_retries_times_then_none(sim, no_waiting):
    results = invoke_parallel_with_reconciliation(
        [{"prompt": "[[reply: flaky]]", **fault("overloaded:2")}, {"prompt": "[[reply: doomed]]", **fault("overloaded")}],
        max_retries=2,
    )
    assert results == ["flaky", None]
    assert sim.stats.faults["overloaded"] == 2 + 3  # doomed ran 1 + max_retries times


def test_stall_detection_calls_on_stall_for_a_quiet_task():
    stalled = []
    detector = StallDetector(timeout=0.05, on_stall=lambda tid, idle: stalled.append(tid))
    detector.register("task-1")
    detector.register("task-2")
    detector.start_monitoring(poll_interval=0.02)
    deadline = time.monotonic() + 2
    while "task-1" not in stalled and time.monotonic() < deadline:
        detector.heartbeat("task-2")
        time.sleep(0.01)
    detector.stop_monitoring()
    assert "task-1" in stalled
    detector.heartbeat("task-1")
    assert "task-1" not in [tid for tid, _ in detector.check_stalled()]  # a heartbeat resets the idle time
    time.sleep(0.06)
    assert [tid for tid, _ in detector.check_stalled()] == ["task-1", "task-2"]
    detector.unregister("task-1")
    assert [tid for tid, _ in detector.check_stalled()] == ["task-2"]


def test_the_task_lifecycle_of_the_function_reference():
    tracker = TaskTracker(max_retries=3)
    tracker.add("task-1", category="security")
    tracker.claim("task-1")
    assert tracker.start("task-1").attempt == 1
    tracker.complete("task-1")
    tracker.add("task-2", category="security")
    tracker.claim("task-2")
    tracker.start("task-2")
    assert tracker.fail("task-2", error="timeout").metadata == {"last_error": "timeout"}
    assert tracker.retry("task-2").state is TaskState.RETRY_QUEUED
    tracker.claim("task-2")
    tracker.start("task-2")
    assert tracker.active_count(category="security") == 1
    assert [t.task_id for t in tracker.get_by_state(TaskState.RUNNING)] == ["task-2"]
    assert tracker.summary() == {"completed": 1, "running": 1}
    with pytest.raises(InvalidTransitionError, match="completed → claimed"):
        tracker.claim("task-1")
    with pytest.raises(ValueError, match="already exists"):
        tracker.add("task-1")


def test_a_task_may_be_retried_max_retries_times():
    tracker = TaskTracker(max_retries=1)
    tracker.add("t")
    tracker.claim("t")
    tracker.start("t")
    tracker.fail("t")
    tracker.retry("t")
    tracker.claim("t")
    tracker.start("t")
    tracker.fail("t")
    with pytest.raises(RuntimeError, match="exceeded max retries"):
        tracker.retry("t")
    tracker.cancel("t")
    assert tracker.is_all_terminal()
