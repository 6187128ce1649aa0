"""What the engine's docs promise, tried from outside on the simulator: every run ends, a stop is a stop,
every policy sees every event, usage and cost are always filled in."""

from __future__ import annotations

import time

import pytest
from mac_plugins.simulator import Simulator

from mac_core import Coordinator, Interrupt, hookimpl
from mac_core.pricing import cost_usd
from mac_core.results import ERROR_TYPES

KEY = "sk-ant-engine-promises"
SHARED = "You review code. " * 40


@pytest.fixture
def sim():
    with Simulator(tokens=200, token_delay=0.0) as sim:
        yield sim


def coordinator(sim, *plugins, **settings) -> Coordinator:
    return Coordinator(plugins=list(plugins), api_key=KEY, base_url=sim.url, **settings)


def fault(kind: str) -> dict:
    return {"extra_headers": {"x-mac-sim-fault": kind}}


class Recorder:
    """Every event each task delivered to the hooks, and every text chunk its callback got."""

    def __init__(self) -> None:
        self.events: dict[str, list] = {}

    @hookimpl
    def mac_task_event(self, task, event):
        self.events.setdefault(task.name, []).append(event)

    def texts(self, name: str) -> str:
        return "".join(e.text for e in self.events.get(name, []) if e.type == "text")


class StopAtWord:
    """Stops a task at the event that brings its text to ``words`` words (scope ``task`` or ``run``)."""

    def __init__(self, words: int, scope: str = "task") -> None:
        self.words, self.scope = words, scope
        self.trigger: dict[str, str] = {}

    @hookimpl
    def mac_should_interrupt(self, task, event):
        if event.type == "text" and len(task.text.split()) >= self.words and task.name not in self.trigger:
            self.trigger[task.name] = event.text
            return Interrupt(reason=f"{task.name} said enough", scope=self.scope)
        return None


class CountingPolicy:
    """Never stops; counts the events it is asked about, per task."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    @hookimpl
    def mac_should_interrupt(self, task, event):
        self.seen[task.name] = self.seen.get(task.name, 0) + 1
        return None


# --- 1. every run ends ---------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("transport", ["stream", "messages"])
def test_a_cache_priming_run_ends_when_every_request_fails_before_answering(sim, transport):
    # A bad key or model fails every request alike: no task ever sends an event to open the gate.
    prompts = [{"prompt": f"p{i}", **fault("server_error")} for i in range(3)]
    results = coordinator(sim, max_retries=0).run(
        prompts, transport=transport, system=SHARED, cache_shared_system=True, max_concurrency=3
    )
    assert [r.status for r in results] == ["failed"] * 3
    assert all(r.status_code == 500 for r in results)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("transport", ["stream", "messages"])
@pytest.mark.parametrize("kind", ["server_error", "disconnect"])
def test_a_cache_priming_run_ends_when_its_first_request_fails(sim, transport, kind):
    prompts = [{"prompt": "first", **fault(kind)}, "second", "third"]
    results = coordinator(sim, max_retries=0).run(
        prompts, transport=transport, system=SHARED, cache_shared_system=True, max_concurrency=3
    )
    assert [r.status for r in results] == ["failed", "completed", "completed"]
    assert results[1].usage.cache_read_input_tokens > 0 or results[2].usage.cache_read_input_tokens > 0 or (
        results[1].usage.cache_creation_input_tokens > 0  # the primer failed before writing the cache
    )


@pytest.mark.timeout(30)
def test_a_cache_priming_run_ends_when_its_first_task_is_stopped_before_any_event(sim):
    class StopFirstAtStart:
        @hookimpl
        def mac_task_started(self, task):
            if task.index == 0:
                task.interrupt("not this one")

    results = coordinator(sim, StopFirstAtStart()).run(
        ["first", "second"], transport="stream", system=SHARED, cache_shared_system=True, max_concurrency=2
    )
    assert [r.status for r in results] == ["interrupted", "completed"]


def test_without_streaming_the_primer_still_releases_the_others_at_its_first_event(sim):
    """The non-streaming transport primes with a streamed request, so the others start at message_start."""
    started: dict[int, float] = {}

    class StartTimes:
        @hookimpl
        def mac_task_started(self, task):
            started[task.index] = time.monotonic()

        @hookimpl
        def mac_task_finished(self, task, result):
            started.setdefault(f"end-{task.index}", time.monotonic())

    with Simulator(tokens=40, token_delay=0.01) as slow:
        results = coordinator(slow, StartTimes()).run(
            ["first", "second", "third"], transport="messages", system=SHARED, cache_shared_system=True,
            max_concurrency=3,
        )
        unprimed = coordinator(slow).run(["first", "second", "third"], transport="messages", system=SHARED)
    assert all(r.ok for r in results)
    assert started[1] < started["end-0"] and started[2] < started["end-0"]  # not after the whole first answer
    assert results[1].usage.cache_read_input_tokens > 0 and results[2].usage.cache_read_input_tokens > 0
    assert [r.text for r in results] == [r.text for r in unprimed]  # the same answers as without priming


# --- 2. a stop is a stop ---------------------------------------------------------


@pytest.mark.parametrize("scope", ["task", "run"])
@pytest.mark.parametrize("transport", ["stream", "messages"])
def test_nothing_after_the_stopping_event_reaches_the_text_the_callback_or_the_hooks(sim, scope, transport):
    recorder, stopper, counter = Recorder(), StopAtWord(5, scope), CountingPolicy()
    chunks: list[str] = []
    (result,) = coordinator(sim, recorder, stopper, counter).run(
        ["Tell me a long story."], transport=transport, callbacks=[chunks.append]
    )
    assert result.status == "interrupted" and result.interrupt_reason == "task-0 said enough"
    assert result.text.endswith(stopper.trigger["task-0"])  # the text ends with the event that stopped it
    assert "".join(chunks) == result.text == recorder.texts("task-0")
    events = recorder.events["task-0"]
    assert events[-1].type == "text" and events[-1].text == stopper.trigger["task-0"]
    assert counter.seen["task-0"] == len(events)  # the other policy was asked about exactly those events
    if transport == "stream":
        assert len(result.text.split()) < 20  # unpaced: 200 words were on their way


def test_a_token_stop_drops_what_was_already_buffered(sim):
    from mac_core import InterruptToken

    token = InterruptToken()
    recorder = Recorder()

    class StopOnThirdWord:
        @hookimpl
        def mac_task_event(self, task, event):
            if event.type == "text" and len(task.text.split()) >= 3:
                token.interrupt("enough from the token")

    (result,) = coordinator(sim, StopOnThirdWord(), recorder).run(
        ["Tell me a long story."], transport="stream", interrupt_token=token
    )
    assert result.status == "interrupted" and result.interrupt_reason == "enough from the token"
    # The token's stop is delivered on the next loop turn: at most the rest of one network read may pass.
    assert result.text == recorder.texts("task-0") and len(result.text.split()) < 200


# --- 3. every policy sees every event ---------------------------------------------


@pytest.mark.parametrize("counter_first", [True, False])
def test_a_counting_policy_sees_every_delivered_event_whatever_its_place(sim, counter_first):
    recorder, stopper, counter = Recorder(), StopAtWord(3), CountingPolicy()
    plugins = [stopper, counter] if counter_first else [counter, stopper]  # the last registered is asked first
    results = coordinator(sim, recorder, *plugins).run(["One story.", "Another story."], transport="stream")
    assert all(r.status == "interrupted" for r in results)
    for name in ("task-0", "task-1"):
        assert counter.seen[name] == len(recorder.events[name])


def test_the_first_policy_to_ask_for_a_stop_wins_the_reason(sim):
    first = StopAtWord(2)
    second_reason = Interrupt(reason="second wins", scope="task")

    class Second(StopAtWord):
        @hookimpl
        def mac_should_interrupt(self, task, event):
            return second_reason if super().mac_should_interrupt(task, event) else None

    (result,) = coordinator(sim, first, Second(2)).run(["A story."], transport="stream")
    assert result.interrupt_reason == "second wins"  # asked first (registered last); the other still saw it
    assert first.trigger["task-0"]


# --- 4. usage and cost are always filled in ----------------------------------------


def test_a_task_stopped_mid_stream_carries_an_estimated_output_count_and_its_cost():
    seen_run = {}

    class Totals:
        @hookimpl
        def mac_run_finished(self, run, results):
            seen_run["usage"] = run.usage

    with Simulator(tokens=200, token_delay=0.005) as paced:  # the final count is still far off when it stops
        (result,) = coordinator(paced, StopAtWord(20), Totals()).run(["A long story."], transport="stream")
    assert result.status == "interrupted"
    assert result.usage.estimated and result.usage.output_tokens >= len(result.text) / 3.5
    assert result.usage.input_tokens > 0
    assert result.cost_usd == pytest.approx(cost_usd(result.model, result.usage))
    assert seen_run["usage"].output_tokens == result.usage.output_tokens  # the run's totals agree


def test_a_token_budget_and_the_results_count_the_same_tokens():
    from mac_plugins.policies import TokenBudget

    budget = TokenBudget(60)
    with Simulator(tokens=200, token_delay=0.005) as paced:
        results = coordinator(paced, budget).run(["One story.", "Another story."], transport="stream", max_concurrency=2)
    assert all(r.status == "interrupted" for r in results)
    reported = sum(r.usage.output_tokens for r in results)
    assert budget._total.total == reported  # the figure the budget stopped on is what the results say


def test_completed_and_failed_tasks_carry_model_cost_and_error_fields(sim):
    results = coordinator(sim, max_retries=1).run(
        ["fine", {"prompt": "broken", **fault("rate_limit")}, {"prompt": "cut", **fault("midstream")}],
        transport="stream", model="claude-sonnet-4-6",
    )
    done, limited, cut = results
    assert done.ok and done.cost_usd == pytest.approx(cost_usd("claude-sonnet-4-6", done.usage))
    assert not done.usage.estimated and done.retries == 0 and done.model == "claude-sonnet-4-6"
    assert (limited.status, limited.status_code, limited.error_type, limited.retries) == (
        "failed", 429, "rate_limit_error", 1)
    assert cut.status == "failed" and cut.error_type == "overloaded_error" and cut.text
    assert cut.usage.estimated and cut.cost_usd > 0  # the text it received was billed
    assert {r.error_type for r in results if r.error_type} <= set(ERROR_TYPES)


def test_a_success_after_retries_says_how_many(sim):
    for transport in ("stream", "messages"):
        (result,) = coordinator(sim, max_retries=2).run(
            [{"prompt": "x", "extra_headers": {"x-mac-sim-fault": "overloaded:2", "x-mac-sim-retry-after": "0"}}],
            transport=transport,
        )
        assert result.ok and result.retries == 2, transport


def test_thinking_and_tool_calls_are_kept_on_the_result(sim):
    tools = [{"name": "lookup", "description": "Look up a word.",
              "input_schema": {"type": "object", "properties": {"word": {"type": "string"}}}}]
    for transport in ("stream", "messages"):
        (thought,) = coordinator(sim).run(
            ["Think first."], transport=transport, max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
        assert thought.ok and thought.thinking, transport
        (called,) = coordinator(sim).run(['[[tool: lookup {"word": "cache"}]]'], transport=transport, tools=tools)
        assert called.tool_calls and called.tool_calls[0]["name"] == "lookup", transport
        assert called.tool_calls[0]["input"] == {"word": "cache"}
