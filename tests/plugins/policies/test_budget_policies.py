"""TokenBudget, CostBudget and MaxFailures: counted exactly where known, estimated where not."""

from __future__ import annotations

import pytest
from mac_plugins.policies import CostBudget, MaxFailures, TokenBudget
from scripted import HANG, failure, run_scripted

from mac_core import Event, Usage

CHUNK = "abcd"  # one token at chars_per_token=4


def by_name(results):
    return {r.name: r for r in results}


def test_the_run_budget_sums_tasks_and_trips_on_the_streamed_estimate():
    results, _ = run_scripted(
        {"a": [CHUNK] * 6, "b": [CHUNK] * 10, "c": ["never"]},
        plugins=[TokenBudget(10, chars_per_token=4)],
        max_concurrency=1,
    )
    r = by_name(results)
    reason = "the run reached its output-token budget: about 10 tokens used of 10 tokens allowed"
    assert r["a"].status == "completed"
    assert r["b"].status == "interrupted" and r["b"].text == CHUNK * 4  # 6 exact + 4 estimated
    assert r["b"].interrupt_reason == reason
    assert r["c"].status == "cancelled" and r["c"].interrupt_reason == reason


def test_the_run_budget_stops_every_task_in_flight():
    results, _ = run_scripted(
        {"a": [CHUNK, 0.05, CHUNK, HANG], "b": [0.02, CHUNK, HANG]},
        plugins=[TokenBudget(3, chars_per_token=4)],
    )
    r = by_name(results)
    assert r["a"].text == CHUNK * 2 and r["b"].text == CHUNK
    assert r["a"].status == r["b"].status == "interrupted"


def test_exact_counts_replace_the_estimate_when_they_arrive():
    long_chunk = "x" * 40  # estimated at 10 tokens, reported as far fewer
    script = [long_chunk, Usage(10, 2), long_chunk, Usage(10, 4), long_chunk]
    results, _ = run_scripted({"a": script}, plugins=[TokenBudget(15, scope="task", chars_per_token=4)])
    assert results[0].status == "completed"  # an estimate-only count would have reached 30


def test_a_usage_report_over_budget_lets_its_answer_complete_and_stops_the_run_after_it():
    results, _ = run_scripted(
        {"a": ["x", Usage(10, 50)], "b": ["y"]}, plugins=[TokenBudget(10)], max_concurrency=1
    )
    r = by_name(results)
    assert r["a"].status == "completed"
    assert r["b"].status == "cancelled"
    assert (
        r["b"].interrupt_reason
        == "the run reached its output-token budget: 50 tokens used of 10 tokens allowed"
    )


def test_task_scope_gives_each_task_its_own_budget():
    results, _ = run_scripted(
        {"a": [CHUNK] * 5, "b": [CHUNK] * 2, "c": [CHUNK] * 2},
        plugins=[TokenBudget(3, scope="task", chars_per_token=4)],
    )
    r = by_name(results)
    assert r["a"].status == "interrupted" and r["a"].text == CHUNK * 3
    assert (
        r["a"].interrupt_reason
        == "a reached its output-token budget: about 3 tokens used of 3 tokens allowed"
    )
    assert r["b"].status == r["c"].status == "completed"  # 7 tokens in all, but 2 each


def test_thinking_counts_as_output():
    thought = Event("thinking", CHUNK)
    results, _ = run_scripted(
        {"a": [thought, thought, thought, "answer"]}, plugins=[TokenBudget(3, chars_per_token=4)]
    )
    assert results[0].status == "interrupted" and results[0].text == ""


def test_the_cost_budget_prices_input_and_estimated_output_on_the_tasks_model():
    # claude-sonnet-4-6: $3 per million input tokens, $15 per million output tokens.
    script = [Usage(input_tokens=1000, output_tokens=1)] + ["x" * 35] * 20  # 10 tokens a chunk at 3.5
    results, _ = run_scripted({"a": script}, plugins=[CostBudget(0.0045)], model="claude-sonnet-4-6")
    # $0.003 input + $0.000015 × (1 + 10 n) output reaches $0.0045 at the 10th chunk.
    assert results[0].text == "x" * 350
    assert (
        results[0].interrupt_reason
        == "the run reached its cost budget: about $0.0045 used of $0.0045 allowed"
    )


def test_the_cost_budget_honours_the_batch_discount_and_the_model():
    script = [Usage(input_tokens=1000, output_tokens=1)] + ["x" * 35] * 20
    halved, _ = run_scripted(
        {"a": script}, plugins=[CostBudget(0.00225, batch=True)], model="claude-sonnet-4-6"
    )
    assert halved[0].text == "x" * 350
    cheaper, _ = run_scripted({"a": script}, plugins=[CostBudget(0.0045)], model="claude-haiku-4-5")
    assert cheaper[0].status == "completed"  # $1/$5: 20 chunks cost $0.002


def test_the_cost_budget_counts_cache_reads_and_writes():
    cached = Usage(
        input_tokens=10, output_tokens=1, cache_read_input_tokens=100_000
    )  # $0.03 of reads on Sonnet 4.6
    written = Usage(
        input_tokens=10, output_tokens=1, cache_creation_input_tokens=100_000
    )  # $0.375 of writes (plus 10 input and 2 output tokens)
    reads, _ = run_scripted({"a": [cached, "x"]}, plugins=[CostBudget(0.05)], model="claude-sonnet-4-6")
    writes, _ = run_scripted({"a": [written, "x"]}, plugins=[CostBudget(0.05)], model="claude-sonnet-4-6")
    assert reads[0].status == "completed"
    assert writes[0].status == "interrupted" and writes[0].interrupt_reason.endswith(
        "$0.3751 used of $0.0500 allowed"
    )


def test_max_failures_stops_the_run_at_the_nth_failure():
    results, _ = run_scripted(
        {
            "a": [0.01, failure()],
            "b": ["working", HANG],
            "c": [failure("HTTP 529 overloaded_error")],
            "d": ["x"],
        },
        plugins=[MaxFailures(2)],
        max_concurrency=2,
    )
    r = by_name(results)
    reason = "2 tasks failed, reaching the limit of 2 (the last, c: HTTP 529 overloaded_error)"
    assert [r["a"].status, r["c"].status] == ["failed", "failed"]
    assert r["b"].status == "interrupted" and r["b"].text == "working" and r["b"].interrupt_reason == reason
    assert r["d"].status == "cancelled" and r["d"].interrupt_reason == reason


def test_max_failures_ignores_stopped_tasks_and_a_run_under_the_limit():
    results, _ = run_scripted(
        {"a": [failure()], "b": ["ok"], "c": ["ok"]}, plugins=[MaxFailures(2)], max_concurrency=1
    )
    assert [r.status for r in results] == ["failed", "completed", "completed"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: TokenBudget(0), "max_output_tokens must be a positive integer"),
        (lambda: TokenBudget(1.5), "max_output_tokens must be a positive integer"),
        (lambda: TokenBudget(10, scope="all"), "scope must be"),
        (lambda: TokenBudget(10, chars_per_token=0), "chars_per_token"),
        (lambda: CostBudget(float("nan")), "max_usd must be a positive number"),
        (lambda: CostBudget(-1), "max_usd"),
        (lambda: MaxFailures(True), "n must be a positive integer"),
    ],
)
def test_bad_limits_are_refused_up_front(make, message):
    with pytest.raises(ValueError, match=message):
        make()
