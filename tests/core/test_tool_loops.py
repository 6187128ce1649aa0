"""Tool loops: a prompt's tools may be Python functions; the task sends, runs them, sends results, until done."""

from __future__ import annotations

import runpy
import threading
import time
from pathlib import Path
from typing import Literal

import anyio
import pytest
from pydantic import BaseModel, Field

from mac_core import Coordinator, InterruptToken, Tool, Usage, hookimpl, tool
from mac_core.events import MESSAGE_STOP, TOOL_RESULT, TOOL_USE, USAGE
from mac_core.pricing import cost_usd
from mac_core.prompts import build_tasks
from mac_core.results import CLIENT_ERROR_TYPES

EXAMPLE = Path(__file__).parents[2] / "examples" / "tool_loop.py"
TRANSPORTS = ("stream", "messages")


@tool
def add(a: int, b: int = 0) -> int:
    """Add two integers.

    :param a: the first number.
    :param b: the second number.
    """
    return a + b


@tool
async def lookup(city: str) -> dict:
    """The weather in a city."""
    await anyio.sleep(0)
    return {"city": city, "sky": "clear"}


@tool
def explode(reason: str) -> str:
    """A tool that always raises."""
    raise RuntimeError(f"cannot do that: {reason}")


class Events:
    """A reporter and policy that notes every event and stops a task on the first ``stop_on`` event."""

    def __init__(self, stop_on: str | None = None) -> None:
        self.events: list = []
        self.stop_on = stop_on

    @hookimpl
    def mac_task_event(self, task, event):
        self.events.append(event)

    @hookimpl
    def mac_should_interrupt(self, task, event, run):
        if event.type == self.stop_on:
            return f"seen a {event.type}"
        return None

    def of(self, kind: str) -> list:
        return [event for event in self.events if event.type == kind]


@pytest.mark.mac_sim(batch_delay=0.0)
@pytest.mark.parametrize("transport", [*TRANSPORTS, "batch"])
def test_a_sync_tool_runs_with_the_models_input_and_the_model_answers_after_its_result(mac_sim, transport):
    seen = Events()
    (result,) = Coordinator().run(
        [{"prompt": 'Add [[tool: add {"a": 2, "b": 3}]]', "tools": [add]}],
        transport=transport,
        plugins=[seen],
    )
    assert result.status == "completed", result.error
    assert result.text == "Done: add succeeded." and result.stop_reason == "end_turn"
    (call,) = result.tool_calls
    assert call["name"] == "add" and call["input"] == {"a": 2, "b": 3} and call["output"] == 5
    assert call["started_at"] >= result.started_at and 0 <= call["duration"] < 1
    (sent,) = seen.of(TOOL_RESULT)
    assert sent.data == {"type": "tool_result", "tool_use_id": call["id"], "content": "5", "is_error": False}
    assert mac_sim.stats.messages + mac_sim.stats.batch_requests == 2  # a batch round is one batch request


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_async_tool_is_awaited_and_a_dict_it_returns_reaches_the_model_as_json(mac_sim, transport):
    seen = Events()
    (result,) = Coordinator().run(
        [{"prompt": 'Weather? [[tool: lookup {"city": "Oslo"}]]', "tools": [lookup, add]}],
        transport=transport,
        plugins=[seen],
    )
    assert result.status == "completed", result.error
    assert result.tool_calls[0]["output"] == {"city": "Oslo", "sky": "clear"}
    assert seen.of(TOOL_RESULT)[0].data["content"] == '{"city": "Oslo", "sky": "clear"}'


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_two_tool_calls_in_one_response_run_at_the_same_time(mac_sim, transport):
    spans: dict[str, tuple[float, float]] = {}

    @tool
    async def slow_async(name: str) -> str:
        """Sleeps a while."""
        began = time.perf_counter()
        await anyio.sleep(0.3)
        spans[name] = (began, time.perf_counter())
        return name

    @tool
    def slow_sync(name: str) -> str:
        """Sleeps a while, in a thread."""
        began = time.perf_counter()
        time.sleep(0.3)
        spans[name] = (began, time.perf_counter())
        return name

    prompt = (
        'Both [[tools: slow_async {"name": "a1"} | slow_async {"name": "a2"}'
        ' | slow_sync {"name": "s1"} | slow_sync {"name": "s2"}]]'
    )
    (result,) = Coordinator().run([{"prompt": prompt, "tools": [slow_async, slow_sync]}], transport=transport)
    assert result.status == "completed", result.error
    assert [c["output"] for c in result.tool_calls] == ["a1", "a2", "s1", "s2"]
    assert max(start for start, _ in spans.values()) < min(
        end for _, end in spans.values()
    )  # all four overlapped
    assert mac_sim.stats.messages == 2  # one response asked for all four


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_raising_tool_becomes_an_error_result_the_model_reads_and_the_task_completes(mac_sim, transport):
    seen = Events()
    (result,) = Coordinator().run(
        [
            {
                "prompt": 'Try [[tool: explode {"reason": "no disk"}]] then [[tool: add {"a": 1}]]',
                "tools": [explode, add],
            }
        ],
        transport=transport,
        plugins=[seen],
    )
    assert result.status == "completed", result.error
    assert (
        result.text == "Done: explode failed; add succeeded."
    )  # the simulator saw is_error: true, then false
    failed, added = result.tool_calls
    assert failed["error"] == "RuntimeError: cannot do that: no disk" and "output" not in failed
    assert added["output"] == 1  # b left out: the function's own default
    assert [e.data["is_error"] for e in seen.of(TOOL_RESULT)] == [True, False]
    assert seen.of(TOOL_RESULT)[0].data["content"] == "RuntimeError: cannot do that: no disk"


def test_input_that_does_not_match_the_schema_is_an_error_result_and_the_function_is_not_called(mac_sim):
    called = []

    @tool
    def record(count: int) -> int:
        """Records a count."""
        called.append(count)
        return count

    (result,) = Coordinator().run(
        [{"prompt": 'Go [[tool: record {"count": "many", "extra": 1}]]', "tools": [record]}]
    )
    assert result.status == "completed" and result.text == "Done: record failed."
    error = result.tool_calls[0]["error"]
    assert (
        error.startswith("invalid input for record: $.count:")
        and "$.extra: Extra inputs are not permitted" in error
    )
    assert called == []


def test_reaching_max_tool_rounds_fails_the_task_with_its_calls_and_text_kept(mac_sim):
    prompt = 'Loop [[tool: add {"a": 1}]] [[tool: add {"a": 2}]] [[tool: add {"a": 3}]]'
    (result,) = Coordinator().run([{"prompt": prompt, "tools": [add], "max_tool_rounds": 2}])
    assert result.status == "failed" and result.error_type == "max_tool_rounds"
    assert "max_tool_rounds (2)" in result.error and "max_tool_rounds" in CLIENT_ERROR_TYPES
    assert [c.get("output") for c in result.tool_calls] == [1, 2, None]
    assert result.tool_calls[2]["error"] == "not run: the task reached max_tool_rounds (2)"
    assert mac_sim.stats.messages == 3 and result.usage.output_tokens > 0 and result.cost_usd > 0


def test_a_run_wide_max_tool_rounds_applies_to_every_prompt_and_a_prompts_own_wins(mac_sim):
    prompt = 'Loop [[tool: add {"a": 1}]] [[tool: add {"a": 2}]]'
    limited, own = Coordinator().run(
        [prompt, {"prompt": prompt, "max_tool_rounds": 5}], tools=[add], max_tool_rounds=1
    )
    assert limited.error_type == "max_tool_rounds"
    assert own.status == "completed" and [c["output"] for c in own.tool_calls] == [1, 2]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_api_tool_dicts_pass_through_unchanged_and_the_caller_gets_the_call(mac_sim, transport):
    raw = {"name": "search", "description": "Search", "input_schema": {"type": "object", "properties": {}}}
    server_tool = {"type": "web_search_20250305", "name": "web_search"}
    (task,) = build_tasks(
        [{"prompt": "x", "tools": [raw, server_tool]}], model="m", max_tokens=5, task_options={"tools"}
    )
    assert (
        task.options["tools"][0] is raw
        and task.options["tools"][1] is server_tool
        and task.tool_functions == {}
    )
    (result,) = Coordinator().run(
        [{"prompt": 'Find [[tools: search {"q": "a"} | search {"q": "b"}]]', "tools": [raw, add]}],
        transport=transport,
    )
    assert (
        result.status == "completed" and result.stop_reason == "tool_use"
    )  # no loop: the caller runs search
    assert [c["input"] for c in result.tool_calls] == [{"q": "a"}, {"q": "b"}]
    assert mac_sim.stats.messages == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_interrupt_during_a_slow_async_tool_cancels_it_and_keeps_the_calls_so_far(mac_sim, transport):
    token = InterruptToken()
    outcome: list[str] = []

    @tool
    async def crawl(url: str) -> str:
        """Takes ages."""
        threading.Timer(0.2, token.interrupt, args=("enough",)).start()
        try:
            await anyio.sleep(30)
        except anyio.get_cancelled_exc_class():
            outcome.append("cancelled")
            raise
        return "never"

    began = time.perf_counter()
    (result,) = Coordinator().run(
        [{"prompt": 'Go [[tool: add {"a": 4}]] [[tool: crawl {"url": "x"}]]', "tools": [add, crawl]}],
        transport=transport,
        interrupt_token=token,
    )
    assert time.perf_counter() - began < 5
    assert result.status == "interrupted" and result.interrupt_reason == "enough"
    assert outcome == ["cancelled"]
    done, stopped = result.tool_calls
    assert done["output"] == 4
    assert stopped["error"].startswith("interrupted") and "output" not in stopped and stopped["duration"] < 5
    assert result.usage.input_tokens > 0  # both rounds' requests were billed and counted


def test_an_interrupt_during_a_slow_sync_tool_drops_its_result(mac_sim):
    token = InterruptToken()
    finished = threading.Event()

    @tool
    def compile_all(target: str) -> str:
        """Blocks its thread for a while."""
        threading.Timer(0.2, token.interrupt, args=("stop now",)).start()
        time.sleep(2.0)
        finished.set()
        return "built"

    (result,) = Coordinator().run(
        [{"prompt": 'Go [[tool: compile_all {"target": "all"}]]', "tools": [compile_all]}],
        interrupt_token=token,
    )
    assert not finished.is_set()  # the run did not wait for the thread
    assert result.status == "interrupted" and result.interrupt_reason == "stop now"
    (call,) = result.tool_calls
    assert call["error"].startswith("interrupted") and "output" not in call
    assert finished.wait(5)  # the thread ran to its end on its own ...
    assert "output" not in result.tool_calls[0]  # ... and its result was dropped
    assert mac_sim.stats.messages == 1


def test_a_policy_sees_tool_use_and_tool_result_events_and_can_stop_on_a_result(mac_sim):
    watcher = Events()
    (whole,) = Coordinator().run(
        [{"prompt": 'Go [[tool: add {"a": 1}]] [[tool: lookup {"city": "Rome"}]]', "tools": [add, lookup]}],
        plugins=[watcher],
    )
    assert whole.status == "completed"
    assert [e.data["name"] for e in watcher.of(TOOL_USE)] == ["add", "lookup"]
    assert len(watcher.of(TOOL_RESULT)) == 2

    stopper = Events(stop_on=TOOL_RESULT)
    (stopped,) = Coordinator().run(
        [{"prompt": 'Go [[tool: add {"a": 1}]] [[tool: lookup {"city": "Rome"}]]', "tools": [add, lookup]}],
        plugins=[stopper],
    )
    assert stopped.status == "interrupted" and stopped.interrupt_reason == "seen a tool_result"
    assert [c["output"] for c in stopped.tool_calls] == [1]
    assert mac_sim.stats.messages == 3 + 1  # the stopped task sent no second request


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_usage_and_cost_add_up_over_the_rounds(mac_sim, transport):
    seen = Events()

    class RunUsage:
        total = None

        @hookimpl
        def mac_run_finished(self, run, results):
            RunUsage.total = run.usage

    (result,) = Coordinator().run(
        [{"prompt": 'Go [[tool: add {"a": 1}]] [[tool: add {"a": 2}]]', "tools": [add]}],
        transport=transport,
        plugins=[seen, RunUsage()],
    )
    rounds, current = [], None
    for event in seen.events:  # a usage event carries the task's running total, over the rounds too
        if event.type == USAGE:
            assert current is None or event.data.input_tokens >= current.input_tokens
            current = event.data
        elif event.type == MESSAGE_STOP:
            rounds.append(current)
    assert len(rounds) == 3 and rounds[-1] == result.usage
    first, third = rounds[0], rounds[2] - rounds[1]
    assert first.input_tokens < third.input_tokens  # each request resends the growing conversation
    assert result.usage.output_tokens > max(r.output_tokens for r in (first, rounds[1] - first, third))
    assert RunUsage.total == result.usage
    assert result.cost_usd == pytest.approx(cost_usd(result.model, result.usage))


def test_a_structured_answer_is_parsed_from_the_final_response_only(mac_sim):
    schema = {"type": "object", "properties": {"total": {"type": "integer"}}, "required": ["total"]}
    (result,) = Coordinator().run(
        [{"prompt": 'Sum [[tool: add {"a": 1, "b": 2}]]', "tools": [add], "output": schema}]
    )
    assert result.status == "completed", result.error
    assert isinstance(result.parsed, dict) and set(result.parsed) == {"total"}


@pytest.mark.parametrize(
    ("prompt", "error", "names"),
    [
        (
            {"prompt": "x", "tools": [3]},
            TypeError,
            "prompts[1]['tools'][0] must be a function (a tool) or an API tool dict",
        ),
        ({"prompt": "x", "tools": add}, TypeError, "prompts[1]['tools'] must be a list"),
        (
            {"prompt": "x", "tools": [lambda: 1]},
            ValueError,
            "prompts[1]['tools'][0]: the tool name '<lambda>'",
        ),
        ({"prompt": "x", "tools": [add, add]}, ValueError, "two tools are named 'add'"),
        (
            {"prompt": "x", "tools": [add], "max_tool_rounds": 0},
            ValueError,
            "max_tool_rounds must be at least 1",
        ),
        (
            {"prompt": "x", "tools": [add], "max_tool_rounds": True},
            TypeError,
            "max_tool_rounds must be an integer",
        ),
        (
            {"prompt": "x", "tools": [add], "thinking": {"type": "enabled", "budget_tokens": 1024}},
            ValueError,
            "cannot run with extended thinking",
        ),
    ],
)
def test_bad_tools_are_refused_before_any_request_is_sent(mac_sim, prompt, error, names):
    with pytest.raises(error) as caught:
        Coordinator().run(["fine", prompt])
    assert names in str(caught.value)
    assert mac_sim.stats.messages == 0


def test_a_bad_run_wide_tools_or_max_tool_rounds_is_refused_naming_it(mac_sim):
    with pytest.raises(TypeError, match=r"^tools\[1\] must be a function"):
        Coordinator().run(["x"], tools=[add, object()])
    with pytest.raises(ValueError, match=r"^max_tool_rounds: max_tool_rounds must be at least 1, got -1"):
        Coordinator().run(["x"], tools=[add], max_tool_rounds=-1)
    with pytest.raises(ValueError, match="unknown field 'tools'"):
        Coordinator().run(
            [{"prompt": "x", "tools": [add]}], transport="agent-ws", transport_options={"url": mac_sim.ws_url}
        )
    assert mac_sim.stats.messages == 0


def test_a_tools_schema_comes_from_its_type_hints_and_docstring():
    assert (
        isinstance(add, Tool) and add(2, 3) == 5 and add.__name__ == "add"
    )  # still a function to its caller
    assert add.definition() == {
        "name": "add",
        "description": "Add two integers.",
        "input_schema": {
            "type": "object",
            "properties": {
                "a": {"type": "integer", "description": "the first number."},
                "b": {"type": "integer", "description": "the second number.", "default": 0},
            },
            "required": ["a"],
            "additionalProperties": False,
        },
    }

    @tool(name="forecast", description="Tomorrow's weather.")
    def weather(city: str, unit: Literal["C", "F"] = "C", json: bool = False) -> str:
        """Ignored: the decorator's description wins.

        Args:
            city: the city's name.
        """
        return city

    schema = weather.definition()
    assert schema["name"] == "forecast" and schema["description"] == "Tomorrow's weather."
    assert schema["input_schema"]["properties"]["city"] == {
        "type": "string",
        "description": "the city's name.",
    }
    assert schema["input_schema"]["properties"]["unit"]["enum"] == ["C", "F"]
    assert weather.arguments({"city": "Oslo", "json": True}) == {
        "city": "Oslo",
        "json": True,
    }  # no clash with BaseModel


def test_a_tool_whose_one_parameter_is_a_pydantic_model_takes_the_models_schema_and_gets_an_instance():
    class Query(BaseModel):
        """A search."""

        text: str
        limit: int = Field(3, ge=1)

    @tool
    async def search(query: Query) -> list[str]:
        """Searches."""
        return [query.text] * query.limit

    assert search.is_async and search.input_schema["properties"]["limit"]["minimum"] == 1
    (arguments,) = search.arguments({"text": "a"}).values()
    assert arguments == Query(text="a", limit=3)


def test_a_plain_function_is_a_tool_as_it_is_and_a_function_with_star_args_is_refused():
    def double(x: float) -> float:
        """Doubles x."""
        return 2 * x

    (task,) = build_tasks(
        [{"prompt": "x", "tools": [double]}], model="m", max_tokens=5, task_options={"tools"}
    )
    assert task.options["tools"][0]["name"] == "double" and task.tool_functions["double"].function is double

    def spread(*values: int) -> int:
        """Takes any number of values."""
        return sum(values)

    with pytest.raises(TypeError, match=r"the tool spread may take named parameters only, not \*values"):
        tool(spread)


def test_the_tool_loop_example_runs_offline(capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", [str(EXAMPLE)])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "completed" in out and "get_weather" in out and "error" in out


class OutputCap:
    """A third-party budget that reads only ``event.data`` of usage events, as events.py documents it."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens

    @hookimpl
    def mac_should_interrupt(self, task, event, run):
        if event.type == USAGE and event.data.output_tokens >= self.tokens:
            return f"over {self.tokens} output tokens"
        return None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_policy_reading_usage_event_data_counts_every_round_of_a_tool_loop(mac_sim, transport):
    prompt = 'Go [[tool: add {"a": 1}]] [[tool: add {"a": 2}]] [[tool: add {"a": 3}]]'
    seen = Events()
    (free,) = Coordinator().run([{"prompt": prompt, "tools": [add]}], transport=transport, plugins=[seen])
    totals, current = [Usage()], None
    for event in seen.events:  # the task's total at the end of each request
        if event.type == USAGE:
            current = event.data
        elif event.type == MESSAGE_STOP:
            totals.append(current)
    per_round = [b.output_tokens - a.output_tokens for a, b in zip(totals[:-1], totals[1:], strict=True)]
    assert free.status == "completed" and len(free.tool_calls) == 3 and len(per_round) == 4
    cap = free.usage.output_tokens  # the task's total reaches it at its last round; no single request does
    assert all(0 < tokens < cap for tokens in per_round)

    (capped,) = Coordinator().run(
        [{"prompt": prompt, "tools": [add]}], transport=transport, plugins=[OutputCap(cap)]
    )
    assert capped.status == "interrupted" and capped.interrupt_reason == f"over {cap} output tokens"
    assert capped.usage.output_tokens >= cap and len(capped.tool_calls) >= 2
