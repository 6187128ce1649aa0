"""Coordinator.orchestrate: a lead model spawns waves of workers on this engine, within limits, stopped as one tree."""

from __future__ import annotations

import json
import runpy
import threading
import time
from pathlib import Path

import pytest
from mac_plugins.policies import CostBudget, Deadline, MaxFailures, StopOnPattern, TokenBudget

from mac_core import Coordinator, InterruptToken, hookimpl
from mac_core.orchestrator import LEAD_SYSTEM, Orchestration
from mac_core.pricing import cost_usd
from mac_core.task_tree import task_tree

EXAMPLE = Path(__file__).parents[2] / "examples" / "orchestrate.py"


def spawn(*tasks: tuple[str, str], directive: str = "tool") -> str:
    """A ``[[tool: spawn_agents {...}]]`` directive running ``(name, prompt)`` workers."""
    body = json.dumps({"tasks": [{"name": name, "prompt": prompt} for name, prompt in tasks]})
    return f"[[{directive}: spawn_agents {body}]]"


class Seen:
    """A reporter noting each run's task names, every task's end, and every tool_result."""

    def __init__(self) -> None:
        self.runs: list[list[str]] = []
        self.finished: dict[str, str] = {}
        self.trees: list = []

    @hookimpl
    def mac_run_started(self, run):
        self.runs.append([task.name for task in run.tasks])
        self.trees.append(task_tree())

    @hookimpl
    def mac_task_finished(self, task, result):
        self.finished[task.name] = result.status


def test_the_lead_spawns_two_waves_and_answers_from_what_the_workers_wrote(mac_sim):
    seen = Seen()
    goal = (
        "Review the shop's checkout. "
        + spawn(
            ("security", "Audit the login. [[reply: SQL injection in login]]"),
            ("perf", "Profile checkout. [[reply: N+1 queries in cart]]"),
        )
        + spawn(("fix", "Plan the fix. [[reply: use bound parameters]]"))
        + " [[reply: Findings: {{tool_results}}]]"
    )
    outcome = Coordinator(plugins=[seen]).orchestrate(goal, max_workers=2, max_waves=2)
    assert isinstance(outcome, Orchestration) and outcome.status == "completed" and outcome.ok
    # the lead's answer is built from the workers' answers, which came back to it as tool results
    assert outcome.text.startswith("Findings: ")
    for answer in ("SQL injection in login", "N+1 queries in cart", "use bound parameters"):
        assert answer in outcome.text
    assert list(outcome.workers) == ["security", "perf", "fix"]
    assert {key: r.text for key, r in outcome.workers.items()} == {
        "security": "SQL injection in login",
        "perf": "N+1 queries in cart",
        "fix": "use bound parameters",
    }
    assert [r.name for r in outcome.workers.values()] == ["lead/security", "lead/perf", "lead/fix"]
    assert [(w.agent, w.number, w.names) for w in outcome.waves] == [
        ("lead", 1, ["security", "perf"]),
        ("lead", 2, ["fix"]),
    ]
    # the lead's tool calls hold what each wave returned
    first, second = outcome.lead.tool_calls
    assert first["output"]["security"] == {"status": "completed", "text": "SQL injection in login"}
    assert second["output"] == {"fix": {"status": "completed", "text": "use bound parameters"}}
    # one run for the lead and one per wave, every one under the same tree, seen by the coordinator's plugins
    assert seen.runs == [["lead"], ["lead/security", "lead/perf"], ["lead/fix"]]
    assert seen.trees[0] is not None and all(tree is seen.trees[0] for tree in seen.trees)
    # totals add the lead and every worker
    results = [outcome.lead, *outcome.workers.values()]
    assert outcome.usage.output_tokens == sum(r.usage.output_tokens for r in results) > 0
    assert outcome.cost_usd == pytest.approx(sum(r.cost_usd for r in results))
    assert mac_sim.stats.messages == 3 + 3  # the lead's three rounds, one request per worker


def test_the_lead_gets_the_goal_its_system_prompt_and_the_tool_the_workers_do_not(mac_sim):
    captured = {}

    class Requests:
        @hookimpl
        def mac_task_started(self, task):
            captured[task.name] = (task.system, [tool["name"] for tool in task.options.get("tools", [])])

    goal = "Go. " + spawn(("a", "[[reply: A]]"))
    Coordinator(plugins=[Requests()]).orchestrate(goal, worker_system="Be brief.")
    assert captured["lead"][1] == ["spawn_agents"]
    assert LEAD_SYSTEM in json.dumps(captured["lead"][0])
    assert captured["lead/a"][1] == [] and "Be brief." in json.dumps(captured["lead/a"][0])


def test_a_spawn_over_the_limits_is_an_error_the_lead_reads_and_then_it_recovers(mac_sim):
    goal = (
        spawn(("a", "[[reply: A]]"), ("b", "[[reply: B]]"), ("c", "[[reply: C]]"))  # over max_workers
        + spawn(("a", "[[reply: A]]"), ("a", "[[reply: again]]"))  # a name twice
        + spawn(("a", "[[reply: A]]"), ("b", "[[reply: B]]"))  # fits: runs
        + spawn(("a", "[[reply: reused]]"))  # a name already used
    )
    outcome = Coordinator().orchestrate(goal, max_workers=2, max_waves=2)
    assert outcome.status == "completed"
    calls = outcome.lead.tool_calls
    assert "one call runs at most 2" in calls[0]["error"] and "nothing was run" in calls[0]["error"]
    assert "'a' is given twice" in calls[1]["error"]
    assert calls[2]["output"] == {
        "a": {"status": "completed", "text": "A"},
        "b": {"status": "completed", "text": "B"},
    }
    assert "'a' was used by an earlier worker" in calls[3]["error"]
    # the simulator's closing text names each tool result as the lead saw it: is_error for the refused ones
    assert outcome.text == (
        "Done: spawn_agents failed; spawn_agents failed; spawn_agents succeeded; spawn_agents failed."
    )
    assert list(outcome.workers) == ["a", "b"] and [w.number for w in outcome.waves] == [1]
    assert mac_sim.stats.messages == 5 + 2


def test_a_spawn_after_the_last_wave_is_refused_and_the_lead_answers_with_what_it_has(mac_sim):
    goal = spawn(("a", "[[reply: A]]")) + spawn(("b", "[[reply: B]]")) + " [[reply: with {{tool_results}}]]"
    outcome = Coordinator().orchestrate(goal, max_waves=1)
    first, second = outcome.lead.tool_calls
    assert first["output"] == {"a": {"status": "completed", "text": "A"}}
    assert second["error"].startswith("no waves left: all 1 spawn_agents calls are used")
    assert outcome.status == "completed" and '"text": "A"' in outcome.text and "no waves left" in outcome.text
    assert list(outcome.workers) == ["a"]


@pytest.mark.parametrize(
    ("tasks", "expected"),
    [
        ({"tasks": [{"name": "a"}]}, "invalid input for spawn_agents: $.tasks[0].prompt: Field required"),
        ({"tasks": "all of them"}, "invalid input for spawn_agents: $.tasks"),
        ({"tasks": []}, "tasks is empty"),
        ({"tasks": [{"name": " ", "prompt": "x"}]}, "tasks[0]: name is empty"),
        ({"tasks": [{"name": "a/b", "prompt": "x"}]}, "without '/'"),
        ({"tasks": [{"name": "a", "prompt": "  "}]}, "the prompt of 'a' is empty"),
    ],
)
def test_malformed_spawn_input_is_an_error_result_and_no_worker_runs(mac_sim, tasks, expected):
    outcome = Coordinator().orchestrate(f"[[tool: spawn_agents {json.dumps(tasks)}]] [[reply: gave up]]")
    assert outcome.status == "completed" and outcome.text == "gave up"
    (call,) = outcome.lead.tool_calls
    assert expected in call["error"]
    assert outcome.workers == {} and outcome.waves == []
    assert mac_sim.stats.messages == 2


def test_two_spawn_calls_in_one_response_run_as_two_waves_at_once(mac_sim):
    goal = (
        f"[[tools: spawn_agents {json.dumps({'tasks': [{'name': 'a', 'prompt': '[[reply: A]]'}]})}"
        f" | spawn_agents {json.dumps({'tasks': [{'name': 'b', 'prompt': '[[reply: B]]'}]})}]]"
        " [[reply: {{tool_results}}]]"
    )
    outcome = Coordinator().orchestrate(goal, max_waves=2)
    assert outcome.status == "completed"
    assert {key: r.text for key, r in outcome.workers.items()} == {"a": "A", "b": "B"}
    first, second = outcome.lead.tool_calls
    assert (
        first["started_at"] < second["started_at"] + second["duration"]
    )  # the second began before the first ended
    assert second["started_at"] < first["started_at"] + first["duration"]


def test_with_max_depth_2_a_worker_spawns_its_own_workers_and_only_depth_limits_who_may(mac_sim):
    inner = (
        spawn(("deps", "Check the dependencies. [[reply: one outdated]]"))
        + " [[reply: audit: {{tool_results}}]]"
    )
    goal = spawn(("security", inner)) + " [[reply: {{tool_results}}]]"
    deep = Coordinator().orchestrate(goal, max_depth=2)
    assert deep.status == "completed"
    assert list(deep.workers) == ["security", "security/deps"]
    assert deep.workers["security/deps"].name == "lead/security/deps"
    assert deep.workers["security/deps"].text == "one outdated"
    assert "one outdated" in deep.workers["security"].text and "one outdated" in deep.text
    assert [(w.agent, w.number) for w in deep.waves] == [("lead", 1), ("lead/security", 1)]
    # at the default depth a worker is not offered the tool: it cannot spawn (the simulator says so)
    shallow = Coordinator().orchestrate(goal)
    assert list(shallow.workers) == ["security"]
    assert "cannot call spawn_agents" in shallow.workers["security"].text


def worker_stream_goal(*names: str) -> str:
    """A goal whose workers each write the simulator's generated words (slow when token_delay is set)."""
    return spawn(*((name, f"Look into {name}.") for name in names)) + " [[reply: {{tool_results}}]]"


class CostBeforeWave2:
    """Notes what the tree had cost when its second wave started: the lead's rounds so far and the first wave."""

    def __init__(self) -> None:
        self.tasks: list = []
        self.results: dict = {}
        self.cost: float | None = None

    @hookimpl
    def mac_run_started(self, run):
        self.tasks += run.tasks
        if [task.name for task in run.tasks] == ["lead/second"]:
            lead = self.tasks[0]
            self.cost = cost_usd(lead.model, lead.usage) + self.results["lead/first"].cost_usd

    @hookimpl
    def mac_task_finished(self, task, result):
        self.results[task.name] = result


@pytest.mark.mac_sim(tokens=60)
def test_a_cost_budget_counts_the_lead_and_every_wave_and_stops_the_whole_tree(mac_sim):
    goal = (
        spawn(("first", "Look into the first part."))
        + spawn(("second", "Look into the second part."))
        + " [[reply: {{tool_results}}]]"
    )
    probe = CostBeforeWave2()
    free = Coordinator().orchestrate(goal, max_waves=2, plugins=[probe])
    assert free.status == "completed"
    second = free.workers["second"].cost_usd
    # the tree reaches this limit halfway through wave 2, though wave 2's run alone costs less than it
    limit = probe.cost + second / 2
    assert second < limit and free.workers["first"].cost_usd < limit
    seen = Seen()
    budget = CostBudget(limit)
    stopped = Coordinator(plugins=[budget, seen]).orchestrate(goal, max_waves=2)
    reason = stopped.interrupt_reason
    assert reason is not None and reason.startswith("the orchestration reached its cost budget")
    assert stopped.status == "interrupted" and stopped.lead.interrupt_reason == reason
    assert stopped.workers["first"].status == "completed"
    cut = stopped.workers["second"]
    assert cut.status == "interrupted" and cut.interrupt_reason == reason
    assert 0 < len(cut.text) < len(free.workers["second"].text)  # it kept what it had streamed
    assert seen.finished == {"lead/first": "completed", "lead/second": "interrupted", "lead": "interrupted"}


@pytest.mark.mac_sim(tokens=80, token_delay=0.005)
def test_a_token_budget_over_a_wave_of_parallel_workers_stops_them_all_and_the_lead(mac_sim):
    free = Coordinator().orchestrate(worker_stream_goal("a", "b", "c"))
    limit = sum(r.usage.output_tokens for r in free.workers.values()) // 2  # reached with the three in flight
    stopped = Coordinator().orchestrate(worker_stream_goal("a", "b", "c"), plugins=[TokenBudget(limit)])
    assert stopped.status == "interrupted" and "output-token budget" in stopped.interrupt_reason
    assert [r.status for r in stopped.workers.values()] == ["interrupted"] * 3
    assert stopped.usage.output_tokens < free.usage.output_tokens


def test_max_failures_counts_failed_workers_across_waves(mac_sim):
    fault = "[[reply: x]]"
    goal = spawn(("a", fault)) + spawn(("b", fault)) + " [[reply: done]]"

    class FailEveryWorker:  # a fault header on the workers only: each gets a 500
        @hookimpl
        def mac_task_started(self, task):
            if task.name != "lead":
                task.options["extra_headers"] = {"x-mac-sim-fault": "server_error"}

    outcome = Coordinator(max_retries=0).orchestrate(
        goal, max_waves=2, plugins=[FailEveryWorker(), MaxFailures(2)]
    )
    assert [r.status for r in outcome.workers.values()] == ["failed", "failed"]
    assert outcome.status == "interrupted" and outcome.interrupt_reason.startswith("2 tasks failed")


@pytest.mark.mac_sim(tokens=200, token_delay=0.02)
def test_an_interrupt_token_mid_wave_stops_the_lead_and_every_worker_in_flight(mac_sim):
    token = InterruptToken()
    streaming = threading.Event()

    class FirstWorkerText:
        @hookimpl
        def mac_task_event(self, task, event):
            if task.name.startswith("lead/") and event.type == "text" and len(task.text) > 20:
                streaming.set()

    threading.Thread(
        target=lambda: streaming.wait(20) and token.interrupt("the user stopped it"), daemon=True
    ).start()
    began = time.monotonic()
    outcome = Coordinator().orchestrate(
        worker_stream_goal("a", "b"), interrupt_token=token, plugins=[FirstWorkerText()]
    )
    assert time.monotonic() - began < 3.5  # each worker would stream for 4 s
    assert outcome.status == "interrupted" and outcome.lead.interrupt_reason == "the user stopped it"
    assert outcome.interrupt_reason == "the user stopped it"
    assert list(outcome.workers) == ["a", "b"]
    for result in outcome.workers.values():
        assert result.status == "interrupted" and result.interrupt_reason == "the user stopped it"
        assert 0 < len(result.text) and result.usage.output_tokens > 0  # partial text and its bill kept
    assert outcome.usage.output_tokens == sum(r.usage.output_tokens for r in outcome.results)


@pytest.mark.mac_sim(tokens=200, token_delay=0.02)
def test_a_policy_stopping_a_wave_stops_the_lead_too(mac_sim):
    goal = (
        spawn(
            ("finder", "Look. [[reply: all good until CRITICAL: a leaked key and more words after it]]"),
            ("slow", "Take your time."),
        )
        + " [[reply: {{tool_results}}]]"
    )
    outcome = Coordinator().orchestrate(goal, plugins=[StopOnPattern("CRITICAL")])
    assert outcome.status == "interrupted"
    assert "finder wrote 'CRITICAL'" in outcome.interrupt_reason
    assert outcome.workers["finder"].text.rstrip().endswith("CRITICAL:")  # nothing after the stop
    assert outcome.workers["slow"].status == "interrupted"


def test_an_interrupt_before_the_start_sends_nothing(mac_sim):
    token = InterruptToken()
    token.interrupt("not today")
    outcome = Coordinator().orchestrate(worker_stream_goal("a"), interrupt_token=token)
    assert outcome.status == "cancelled" and outcome.interrupt_reason == "not today"
    assert outcome.workers == {} and mac_sim.stats.messages == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"goal": "  "}, "goal is empty"),
        ({"goal": "Review caf\udce9.py"}, "goal holds '\\\\udce9' at character 10, a lone surrogate"),
        ({"max_workers": 0}, "max_workers must be at least 1"),
        ({"max_waves": "3"}, "max_waves must be an integer"),
        ({"max_depth": 0}, "max_depth must be at least 1"),
        ({"max_concurrency": 0}, "max_concurrency must be at least 1"),
        ({"worker_options": {"colour": "blue"}}, "unknown option 'colour'"),
        ({"worker_options": ["thinking"]}, "worker_options must be a dict"),
        ({"interrupt_token": "stop"}, "interrupt_token must be an InterruptToken"),
        ({"model": ""}, "model: model is empty"),
        ({"transport": "nope"}, "unknown transport 'nope'"),
        (
            {"max_depth": 2, "worker_options": {"thinking": {"type": "enabled", "budget_tokens": 1024}}},
            "cannot run with extended thinking on",
        ),
    ],
)
def test_bad_arguments_are_refused_before_any_request(mac_sim, kwargs, error):
    goal = kwargs.pop("goal", "Do it.")
    with pytest.raises((TypeError, ValueError), match=error.replace("(", r"\(").replace("'", "'")):
        Coordinator().orchestrate(goal, **kwargs)
    assert mac_sim.stats.messages == 0


def test_workers_think_and_keep_their_thinking(mac_sim):
    goal = spawn(("a", "Think first. [[thinking: The login builds SQL by hand.]] [[reply: injection]]"))
    outcome = Coordinator().orchestrate(
        goal + " [[reply: {{tool_results}}]]",
        max_tokens=2048,
        worker_options={"thinking": {"type": "enabled", "budget_tokens": 1024}},
    )
    assert outcome.workers["a"].thinking == "The login builds SQL by hand."
    assert outcome.workers["a"].text == "injection" and outcome.lead.thinking == ""


def test_the_example_runs_offline(monkeypatch, capsys):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setattr("sys.argv", [str(EXAMPLE)])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "lead: completed" in out and "security" in out and "stopped" in out


@pytest.mark.mac_sim(tokens=300, token_delay=0.02)
def test_a_stop_of_the_lead_alone_stops_its_workers_for_the_same_reason_with_their_text(mac_sim):
    # a task-scoped policy stops only the lead: its workers, whose answers nobody would read, stop with it
    outcome = Coordinator(plugins=[Deadline(1.5, scope="task")]).orchestrate(worker_stream_goal("a", "b"))
    reason = "lead ran past its deadline of 1.5 s"
    assert outcome.status == "interrupted" and outcome.interrupt_reason == reason
    for worker in outcome.workers.values():
        assert (worker.status, worker.interrupt_reason) == ("interrupted", reason)  # not "run cancelled"
        assert worker.text and worker.usage.output_tokens > 0
