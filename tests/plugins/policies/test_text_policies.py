"""StopOnPattern and Quorum: they stop exactly their scope, at the chunk that completes the match."""

from __future__ import annotations

import re

import pytest
from mac_plugins.policies import Quorum, StopOnPattern
from mac_plugins.policies.base import TextWindow
from scripted import HANG, run_scripted

from mac_core import Event, Task


def by_name(results):
    return {r.name: r for r in results}


def test_run_scope_stops_every_task_at_the_chunk_with_the_keyword():
    results, options = run_scripted(
        {
            "security": ["looking ", 0.01, "CRITICAL: sql", " injection", "more"],
            "performance": ["fine so far", HANG],
            "architecture": ["never started"],
        },
        plugins=[StopOnPattern("CRITICAL")],
        max_concurrency=2,
    )
    r = by_name(results)
    reason = "security wrote 'CRITICAL', which matches the stop pattern 'CRITICAL'"
    assert r["security"].status == "interrupted" and r["security"].text == "looking CRITICAL: sql"
    assert r["performance"].status == "interrupted" and r["performance"].text == "fine so far"
    assert r["architecture"].status == "cancelled" and r["architecture"].text == ""
    assert {x.interrupt_reason for x in results} == {reason}
    assert sorted(options["log"]["cancelled"]) == ["performance", "security"]  # cut off in flight


def test_task_scope_stops_only_the_task_that_wrote_it():
    results, _ = run_scripted(
        {"a": ["CRITICAL", "after"], "b": ["x", 0.02, "y"], "c": ["z"]},
        plugins=[StopOnPattern("CRITICAL", scope="task")],
    )
    r = by_name(results)
    assert r["a"].status == "interrupted" and r["a"].text == "CRITICAL"
    assert "a wrote 'CRITICAL'" in r["a"].interrupt_reason
    assert [r["b"].status, r["c"].status] == ["completed", "completed"]
    assert r["b"].text == "xy"


def test_a_keyword_split_across_chunks_is_found_at_the_chunk_that_completes_it():
    results, _ = run_scripted(
        {"a": ["all good, CRI", "TICAL issue", " tail"]}, plugins=[StopOnPattern("CRITICAL")]
    )
    assert results[0].status == "interrupted"
    assert results[0].text == "all good, CRITICAL issue"


def test_literal_keywords_ignore_regex_syntax_and_case_can_be_ignored():
    results, _ = run_scripted(
        {"a": ["costs $5.00 now", "x"], "b": ["costs $5a00", "y"], "c": ["a Critical bug", "z"]},
        plugins=[
            StopOnPattern("$5.00", literal=True, scope="task"),
            StopOnPattern("critical", ignore_case=True, scope="task"),
        ],
    )
    assert [r.status for r in results] == ["interrupted", "completed", "interrupted"]


def test_a_regex_with_alternatives_names_what_matched():
    results, _ = run_scripted(
        {"a": ["found a SEVERE leak", "x"]}, plugins=[StopOnPattern(r"CRITICAL|SEVERE \w+")]
    )
    assert (
        results[0].interrupt_reason
        == "a wrote 'SEVERE leak', which matches the stop pattern 'CRITICAL|SEVERE \\\\w+'"
    )


def test_only_the_chosen_event_types_are_searched():
    thinking = Event("thinking", "this looks CRITICAL")
    results, _ = run_scripted({"a": [thinking, "answer"]}, plugins=[StopOnPattern("CRITICAL")])
    assert results[0].status == "completed"
    results, _ = run_scripted(
        {"a": [thinking, "answer"]}, plugins=[StopOnPattern("CRITICAL", events=("thinking",))]
    )
    assert results[0].status == "interrupted" and results[0].text == ""


@pytest.mark.parametrize(
    ("pattern", "kwargs", "message"),
    [
        ("(", {}, "not a valid regular expression"),
        ("", {}, "non-empty"),
        ("x", {"scope": "everything"}, "scope must be 'run' or 'task'"),
        ("x", {"window": 0}, "window must be a positive integer"),
    ],
)
def test_bad_arguments_are_refused_up_front(pattern, kwargs, message):
    with pytest.raises(ValueError, match=message):
        StopOnPattern(pattern, **kwargs)


# --- the sliding window ----------------------------------------------------------


def task() -> Task:
    return Task(0, "p", model="m", max_tokens=1)


def test_the_window_finds_matches_spanning_chunks_but_never_rereads_old_text():
    window = TextWindow(re.compile("AB"), window=2)
    t = task()
    assert window.search(t, "xxA") is None
    assert window.search(t, "B") is not None
    window.clear()
    window.search(t, "A" + "x" * 1000)
    assert window.search(t, "B") is None  # the A is long gone
    assert len(window._tails[t]) == 3  # bounded: window + one character of context


def test_a_regex_match_may_reach_back_at_most_the_window():
    window = TextWindow(re.compile(r"A.*B"), window=10)
    t = task()
    window.search(t, "A" + "x" * 5)
    assert window.search(t, "B") is not None
    window.clear()
    window.search(t, "A" + "x" * 50)
    assert window.search(t, "B") is None


def test_anchors_and_lookbehinds_see_the_real_text_not_the_window_edge():
    start = TextWindow(re.compile(r"^CRITICAL"), window=8)
    t = task()
    start.search(t, "x" * 12)
    assert start.search(t, "CRITICAL") is None  # not at the start of the text
    line = TextWindow(re.compile(r"(?m)^CRITICAL"), window=8)
    line.search(t, "x" * 12 + "\n")
    assert line.search(t, "CRITICAL") is not None
    word = TextWindow(re.compile(r"\bERROR"), window=5)
    word.search(t, "yyyyyyyyyyyyyyyyy")
    assert word.search(t, "ERROR") is None  # glued to the previous word


# --- Quorum ------------------------------------------------------------------------


def test_quorum_stops_the_run_once_k_tasks_matched_and_names_them():
    results, _ = run_scripted(
        {
            "alice": ["verdict: ", "VULNERABLE", HANG],
            "bob": [0.05, "verdict: VULNER", "ABLE", HANG],
            "carol": ["still reading", HANG],
            "dave": ["fine"],
        },
        plugins=[Quorum(2, "VULNERABLE")],
        max_concurrency=3,
    )
    r = by_name(results)
    reason = "quorum reached: 2 of 4 tasks matched 'VULNERABLE' (alice, bob)"
    assert r["bob"].text == "verdict: VULNERABLE" and r["bob"].interrupt_reason == reason
    assert r["alice"].status == r["carol"].status == "interrupted"
    assert r["dave"].status == "cancelled" and r["dave"].interrupt_reason == reason


def test_quorum_counts_each_task_once_and_lets_the_run_finish_when_not_reached():
    results, _ = run_scripted(
        {"a": ["VULNERABLE", " and VULNERABLE again"], "b": ["safe"]}, plugins=[Quorum(2, "VULNERABLE")]
    )
    assert all(r.status == "completed" for r in results)


def test_an_unreachable_quorum_is_logged(caplog):
    run_scripted({"a": ["x"]}, plugins=[Quorum(3, "x")])
    assert "can never be reached by a run of 1 tasks" in caplog.text
