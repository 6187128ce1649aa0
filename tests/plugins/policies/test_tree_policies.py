"""The built-in policies in an orchestration: they follow the whole tree, not each wave on its own."""

from __future__ import annotations

import json
import logging

import pytest
from mac_plugins.policies import Deadline, Quorum, Stall, StopOnPattern, TokenBudget

from mac_core import Coordinator, hookimpl


def words(n: int, word: str = "word") -> str:
    """A scripted reply of ``n`` words (``n`` text deltas; slow when the simulator has a token_delay)."""
    return " ".join(f"{word}{i}" for i in range(n))


def spawn(*tasks: tuple[str, str]) -> str:
    """One wave of ``(name, reply)`` workers, each scripted to answer exactly its reply."""
    body = {"tasks": [{"name": name, "prompt": f"Do {name}. [[reply: {reply}]]"} for name, reply in tasks]}
    return f"[[tool: spawn_agents {json.dumps(body)}]]"


@pytest.mark.mac_sim(token_delay=0.01)
def test_a_quorum_counts_matches_over_every_wave_and_stops_the_tree_before_the_next(mac_sim, caplog):
    caplog.set_level(logging.WARNING, logger="mac_plugins.policies")
    goal = (
        "Vote. "
        + spawn(("first", "VERDICT: vulnerable"))
        + spawn(("second", "so far VERDICT: vulnerable and more words after it"))
        + spawn(("third", "never asked"))
        + " [[reply: done]]"
    )
    outcome = Coordinator(plugins=[Quorum(2, "VERDICT: vulnerable", literal=True)]).orchestrate(goal)
    # the first wave's match still counts when the second wave starts: two of the tree's tasks agree
    assert outcome.status == "interrupted"
    assert outcome.interrupt_reason.startswith("quorum reached: 2 of 3 tasks")
    assert "lead/first, lead/second" in outcome.interrupt_reason
    assert outcome.workers["second"].text.rstrip().endswith("VERDICT: vulnerable")  # stopped at the match
    assert "third" not in outcome.workers  # no wave after the stop
    # a lead alone is one task, but its waves bring more: no "can never be reached" warning
    assert not [r for r in caplog.records if "never be reached" in r.getMessage()]


def generated(name: str) -> str:
    """A wave of one worker that writes the simulator's generated words (``tokens`` of them, paced)."""
    return f"[[tool: spawn_agents {json.dumps({'tasks': [{'name': name, 'prompt': 'Look into it.'}]})}]]"


@pytest.mark.mac_sim(token_delay=0.02, tokens=400)
def test_a_run_deadline_counts_from_the_leads_start_and_stops_every_worker(mac_sim):
    goal = spawn(("quick", "a quick answer")) + generated("slow") + " [[reply: done]]"
    outcome = Coordinator(plugins=[Deadline(3)]).orchestrate(goal)
    reason = "the orchestration passed its deadline of 3 s"
    assert outcome.status == "interrupted" and outcome.interrupt_reason == reason
    assert outcome.lead.interrupt_reason == reason
    assert outcome.workers["quick"].status == "completed"
    slow = outcome.workers["slow"]
    assert slow.status == "interrupted" and slow.interrupt_reason == reason
    assert 0 < slow.usage.output_tokens < 400 and slow.text  # what it streamed is kept


@pytest.mark.mac_sim(token_delay=0.02)
def test_a_task_deadline_still_covers_the_lead_after_its_waves_start(mac_sim):
    # each worker stays well inside the limit; the lead, waiting on three waves in turn, does not
    goal = "".join(spawn((name, words(25))) for name in ("a", "b", "c")) + " [[reply: done]]"
    outcome = Coordinator(plugins=[Deadline(1.0, scope="task")]).orchestrate(goal, max_waves=3)
    assert outcome.status == "interrupted"
    assert outcome.lead.interrupt_reason == "lead ran past its deadline of 1 s"
    assert len(outcome.waves) < 3


@pytest.mark.mac_sim(token_delay=0.02, tokens=75, slow_seconds=1.0)
def test_a_stall_is_the_quiet_workers_and_is_remembered_over_waves_and_a_waiting_lead_is_not_one(mac_sim):
    class QuietFirstByte:  # the simulator holds back this worker's first byte for slow_seconds
        @hookimpl
        def mac_task_started(self, task):
            if task.name == "lead/quiet":
                task.options["extra_headers"] = {"x-mac-sim-fault": "slow"}

    stall = Stall(0.5)
    goal = spawn(("quiet", "late but fine")) + generated("lively") + " [[reply: done]]"
    outcome = Coordinator(plugins=[QuietFirstByte(), stall]).orchestrate(goal)
    assert outcome.status == "completed"
    # the second wave did not forget the first one's stall; the lead, silent through 2.5 s of waves, is not one
    assert stall.stalled == ["lead/quiet"]


@pytest.mark.mac_sim(token_delay=0.01)
def test_a_pattern_stop_in_a_nested_wave_stops_the_whole_tree(mac_sim):
    mid = "Split. " + spawn(("leaf", "all fine then CRITICAL: leaked key " + words(100))) + " [[reply: ok]]"
    body = {
        "tasks": [{"name": "mid", "prompt": mid}, {"name": "other", "prompt": f"[[reply: {words(300)}]]"}]
    }
    goal = f"[[tool: spawn_agents {json.dumps(body)}]] [[reply: done]]"
    outcome = Coordinator(plugins=[StopOnPattern("CRITICAL")]).orchestrate(goal, max_depth=2)
    assert outcome.status == "interrupted" and "leaf wrote 'CRITICAL'" in outcome.interrupt_reason
    assert outcome.workers["mid/leaf"].text.rstrip().endswith("CRITICAL:")
    assert outcome.workers["other"].status == "interrupted"
    assert outcome.workers["mid"].status == "interrupted"


@pytest.mark.mac_sim(tokens=40)
def test_a_budget_the_leads_spawn_call_reaches_runs_no_wave(mac_sim):
    goal = spawn(("a", words(20)), ("b", words(20))) + " [[reply: done]]"
    outcome = Coordinator(plugins=[TokenBudget(5)]).orchestrate(goal)
    assert outcome.status == "interrupted" and "output-token budget" in outcome.interrupt_reason
    assert outcome.waves == [] and outcome.workers == {}
    assert mac_sim.stats.messages == 1  # nothing was sent over the budget


@pytest.mark.mac_sim(tokens=40)
def test_a_budget_reached_exactly_by_the_report_closing_a_spawn_call_runs_no_wave(mac_sim):
    goal = spawn(("a", words(20)), ("b", words(20))) + " [[reply: done]]"
    # an estimate too small to trip: only the exact count the response ends with reaches the limit
    budget = TokenBudget(2, chars_per_token=1e9)
    outcome = Coordinator(plugins=[budget]).orchestrate(goal)
    assert outcome.status == "interrupted" and "output-token budget" in outcome.interrupt_reason
    assert outcome.waves == [] and outcome.workers == {}
    assert mac_sim.stats.messages == 1


@pytest.mark.mac_sim(token_delay=0.005)
def test_a_budget_counts_every_round_of_the_lead_not_only_its_latest_request(mac_sim):
    brief = {"name": "a", "prompt": f"Read these notes first: {words(40, 'note')}. [[reply: short]]"}
    goal = f"[[tool: spawn_agents {json.dumps({'tasks': [brief]})}]] [[reply: {words(60)}]]"
    free = Coordinator().orchestrate(goal)
    lead, worker = free.lead.usage.output_tokens, free.workers["a"].usage.output_tokens
    # reached 10 tokens before the end of the lead's final answer, counting its spawn round too
    limit = lead + worker - 10
    assert free.lead.tool_calls and lead - 60 > 30  # the spawn round alone is worth more than the margin
    stopped = Coordinator(plugins=[TokenBudget(limit)]).orchestrate(goal)
    assert stopped.status == "interrupted" and "output-token budget" in stopped.interrupt_reason
    assert 0 < len(stopped.text) < len(free.text)


def test_a_report_over_the_budget_closing_a_call_to_a_raw_api_tool_lets_that_answer_complete(mac_sim):
    lookup = {"name": "lookup", "description": "Look it up.", "input_schema": {"type": "object"}}
    prompt = {"prompt": 'Find it. [[tool: lookup {"q": "x"}]]', "tools": [lookup]}
    # no loop runs a raw tool: the answer is the call itself, and it is whole
    (result,) = Coordinator(plugins=[TokenBudget(2, chars_per_token=1e9)]).run([prompt])
    assert result.status == "completed" and result.tool_calls[0]["name"] == "lookup"
