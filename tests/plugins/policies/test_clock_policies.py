"""Deadline and Stall: they act when nothing happens, through a watcher the run owns."""

from __future__ import annotations

import logging

import pytest
from mac_plugins.policies import Deadline, Stall
from scripted import HANG, run_scripted


def by_name(results):
    return {r.name: r for r in results}


def test_the_run_deadline_interrupts_tasks_in_flight_and_cancels_the_rest():
    results, options = run_scripted(
        {"a": ["partial a", HANG], "b": ["partial b", HANG], "c": ["never"]},
        plugins=[Deadline(0.2)],
        max_concurrency=2,
    )
    r = by_name(results)
    reason = "the run passed its deadline of 0.2 s"
    assert (r["a"].status, r["a"].text) == ("interrupted", "partial a")
    assert (r["b"].status, r["b"].text) == ("interrupted", "partial b")
    assert r["c"].status == "cancelled"
    assert {x.interrupt_reason for x in results} == {reason}
    assert sorted(options["log"]["cancelled"]) == ["a", "b"]


def test_a_run_that_ends_before_its_deadline_is_untouched():
    results, _ = run_scripted({"a": ["quick"], "b": ["also quick"]}, plugins=[Deadline(30)])
    assert all(r.status == "completed" and r.interrupt_reason is None for r in results)


def test_the_task_deadline_counts_from_each_tasks_own_start():
    results, _ = run_scripted(
        {"a": ["a so far", HANG], "b": ["b so far", HANG], "c": [0.01, "c done"]},
        plugins=[Deadline(0.15, scope="task")],
        max_concurrency=1,
    )
    r = by_name(results)
    assert (r["a"].status, r["a"].interrupt_reason) == ("interrupted", "a ran past its deadline of 0.15 s")
    # b started only when a was stopped, so it had its own 0.15 s; then c ran in full.
    assert (r["b"].status, r["b"].interrupt_reason) == ("interrupted", "b ran past its deadline of 0.15 s")
    assert r["c"].status == "completed"
    assert r["b"].started_at - r["a"].started_at >= 0.1


def test_a_stalled_task_is_interrupted_with_its_text_kept_and_a_lively_one_is_not(caplog):
    caplog.set_level(logging.WARNING)
    stall = Stall(0.2, interrupt=True)
    results, _ = run_scripted(
        {"quiet": ["x", 0.05, "y", HANG], "busy": ["p", 0.1, "q", 0.1, "r", 0.1, "s"]},
        plugins=[stall],
    )
    r = by_name(results)
    assert (r["quiet"].status, r["quiet"].text) == ("interrupted", "xy")
    assert r["quiet"].interrupt_reason == "quiet stalled: no event for 0.2 s"
    assert r["busy"].status == "completed"
    assert stall.stalled == ["quiet"]
    assert "quiet stalled: no event for 0.2 s; interrupting it" in caplog.text


def test_a_stall_is_reported_once_per_quiet_spell_and_the_task_goes_on(caplog):
    caplog.set_level(logging.WARNING)
    stall = Stall(0.1)
    results, _ = run_scripted({"slow": ["x", 0.3, "y", 0.3, "z"]}, plugins=[stall])
    assert results[0].status == "completed" and results[0].text == "xyz"
    assert stall.stalled == ["slow", "slow"]  # two quiet spells, one report each
    assert caplog.text.count("slow stalled") == 2


def test_the_wait_for_the_first_event_counts_as_a_stall():
    results, _ = run_scripted({"mute": [HANG]}, plugins=[Stall(0.1, interrupt=True)])
    assert results[0].interrupt_reason == "mute stalled: no event for 0.1 s"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Deadline(0),
        lambda: Deadline(float("inf")),
        lambda: Stall(-1),
        lambda: Deadline(1, scope="forever"),
    ],
)
def test_bad_durations_are_refused_up_front(make):
    with pytest.raises(ValueError):
        make()
