"""Threads: a conversation that sends turns with its cached history, forks continuations, and survives stops."""

from __future__ import annotations

import runpy
from pathlib import Path

import anyio
import pytest
from fake_transport import FakePlugin

import mac_core.thread
from mac_core import Coordinator, InterruptToken, hookimpl, tool

EXAMPLE = Path(__file__).parents[2] / "examples" / "thread.py"
SYSTEM = "You answer questions about caches, briefly. " * 10


class StopAfter:
    """A policy that stops a task at its ``count``-th event of ``kind``; notes every task it saw finish."""

    def __init__(self, count: int = 3, kind: str = "text") -> None:
        self.count, self.kind = count, kind
        self.seen: dict[str, int] = {}

    @hookimpl
    def mac_should_interrupt(self, task, event, run):
        if event.type == self.kind:
            self.seen[task.name] = self.seen.get(task.name, 0) + 1
            if self.seen[task.name] >= self.count:
                return f"{self.count} {self.kind} events"
        return None


class Finished:
    """A reporter noting each task's name and status as it finishes."""

    def __init__(self) -> None:
        self.finished: list[tuple[str, str]] = []

    @hookimpl
    def mac_task_finished(self, task, result):
        self.finished.append((task.name, result.status))


def assert_api_accepts(history: list[dict]) -> None:
    """What the Messages API requires of a conversation it continues: alternation, content, answered tool calls."""
    assert len(history) % 2 == 0, "a thread's history ends with an answer"
    for i, message in enumerate(history):
        assert message["role"] == ("user" if i % 2 == 0 else "assistant"), (
            f"message {i} breaks the alternation"
        )
        assert message["content"], f"message {i} is empty"
        for block in message["content"]:
            assert block["type"] != "text" or block["text"].strip(), f"message {i} has an empty text block"
            assert "cache_control" not in block, "the history keeps no cache markers"
        asked = {b["id"] for b in message["content"] if b["type"] == "tool_use"}
        if asked:
            answered = {b["tool_use_id"] for b in history[i + 1]["content"] if b["type"] == "tool_result"}
            assert asked == answered, f"message {i} has tool calls with no result after them"


def texts(history: list[dict]) -> list[str]:
    return [" ".join(b.get("text", f"<{b['type']}>") for b in m["content"]) for m in history]


@tool
def add(a: int, b: int = 0) -> int:
    """Add two integers."""
    return a + b


@tool
async def wait_long(seconds: float) -> str:
    """A tool that takes its time."""
    await anyio.sleep(seconds)
    return "waited"


# --- the success path ------------------------------------------------------------------------------


def test_each_turn_sends_the_history_and_reads_the_prefix_every_earlier_turn_wrote(mac_sim):
    finished = Finished()
    thread = Coordinator(plugins=[finished]).thread(system=SYSTEM, max_tokens=200)
    chunks: list[str] = []
    results = [
        thread.send(f"Question {n}: what does a cache hold?", on_text=chunks.append) for n in range(1, 4)
    ]

    assert [r.status for r in results] == ["completed"] * 3
    assert "".join(chunks) == "".join(r.text for r in results)
    history = thread.history
    assert_api_accepts(history)
    assert texts(history) == [
        t for n, r in enumerate(results, 1) for t in (f"Question {n}: what does a cache hold?", r.text)
    ]
    # Turn 1 writes system + its question; each later turn reads all earlier turns wrote and writes only what is new.
    usage = [r.usage for r in results]
    assert usage[0].cache_read_input_tokens == 0 and usage[0].cache_creation_input_tokens > 0
    for n in (1, 2):
        written_before = sum(u.cache_creation_input_tokens for u in usage[:n])
        assert usage[n].cache_read_input_tokens == written_before, n
        assert 0 < usage[n].cache_creation_input_tokens < written_before
    # The coordinator's plugins see every turn, named in order.
    assert finished.finished == [("turn-1", "completed"), ("turn-2", "completed"), ("turn-3", "completed")]
    assert mac_sim.stats.messages == 3


@pytest.mark.mac_sim(batch_delay=0.0)
@pytest.mark.parametrize("transport", ["messages", "batch"])
def test_a_thread_runs_on_the_other_messages_api_transports_too(mac_sim, transport):
    thread = Coordinator().thread(system=SYSTEM, transport=transport)
    first, second = thread.send("One?"), thread.send("Two?")
    assert first.status == second.status == "completed" and first.transport == transport
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens > 0
    assert texts(thread.history) == ["One?", first.text, "Two?", second.text]


def test_without_cache_nothing_is_marked_and_nothing_read(mac_sim):
    thread = Coordinator().thread(system=SYSTEM, cache=False)
    first, second = thread.send("One?"), thread.send("Two?")
    assert first.usage.cache_creation_input_tokens == second.usage.cache_read_input_tokens == 0
    assert second.usage.input_tokens > first.usage.input_tokens  # the history was sent all the same


def test_a_turn_with_python_tools_keeps_its_whole_exchange_and_the_next_turn_builds_on_it(mac_sim):
    thread = Coordinator().thread(tools=[add])
    result = thread.send('Add them [[tool: add {"a": 2, "b": 3}]]')
    assert result.status == "completed" and result.tool_calls[0]["output"] == 5
    history = thread.history
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    assert history[1]["content"][0]["type"] == "tool_use"
    assert history[2]["content"][0]["content"] == "5" and history[3]["content"][0]["text"] == result.text
    after = thread.send("And now?")
    assert after.status == "completed" and after.usage.cache_read_input_tokens > 0
    assert_api_accepts(thread.history)


def test_a_turn_that_adds_more_blocks_than_the_look_back_reaches_is_still_read_through_a_second_breakpoint(
    mac_sim, monkeypatch
):
    calls = " | ".join(
        f'add {{"a": {n}}}' for n in range(12)
    )  # 12 calls and 12 results: 24 blocks in one turn
    for anchored in (True, False):
        if not anchored:  # the same conversation with the second breakpoint disabled: the look-back misses
            monkeypatch.setattr(mac_core.thread, "ANCHOR_AFTER_BLOCKS", 10_000)
        thread = Coordinator().thread(tools=[add], system=f"Run {anchored}.")
        first = thread.send(f"Add all [[tools: {calls}]]")
        assert first.status == "completed" and len(first.tool_calls) == 12
        read = thread.send("Which was largest?").usage.cache_read_input_tokens
        written_by_turn_1 = first.usage.cache_creation_input_tokens  # the system and the first question
        if anchored:
            assert read >= written_by_turn_1 > 0
        else:  # only the system prompt's own breakpoint is read
            assert 0 < read < written_by_turn_1


# --- forks ---------------------------------------------------------------------------------------


def test_forks_continue_the_same_history_in_parallel_all_read_the_cache_and_are_not_appended(mac_sim):
    thread = Coordinator().thread(system=SYSTEM)
    first = thread.send("Tell me about caches.")
    before = thread.history
    forks = thread.fork(["Shorter?", "In French?", "As a poem?"], max_concurrency=3)

    assert [r.name for r in forks] == ["fork-0", "fork-1", "fork-2"]
    assert all(r.status == "completed" for r in forks)
    written = first.usage.cache_creation_input_tokens
    assert all(r.usage.cache_read_input_tokens >= written for r in forks)
    assert thread.history == before

    thread.adopt(forks[1])
    assert texts(thread.history)[2:] == ["In French?", forks[1].text]
    assert_api_accepts(thread.history)
    assert thread.send("Merci.").usage.cache_read_input_tokens > written
    with pytest.raises(ValueError, match="latest fork"):
        thread.adopt(forks[0])  # adopting clears the fork's results


def test_forks_of_a_fresh_thread_read_the_system_the_first_one_wrote(mac_sim):
    forks = Coordinator().thread(system=SYSTEM).fork(["A?", "B?", "C?"])
    reads = [r.usage.cache_read_input_tokens for r in forks]
    assert reads[0] == 0 and reads[1] == reads[2] == forks[0].usage.cache_creation_input_tokens > 0


def test_a_fork_result_cannot_be_adopted_once_the_history_has_moved_on(mac_sim):
    thread = Coordinator().thread()
    forks = thread.fork(["One?", "Two?"])
    thread.send("Something else.")
    with pytest.raises(ValueError, match="history grew"):
        thread.adopt(forks[0])
    with pytest.raises(ValueError, match="latest fork"):
        thread.adopt(thread.send("Not a fork."))


@pytest.mark.mac_sim(token_delay=0.01, tokens=40)
def test_an_interrupt_token_stops_every_fork_and_an_interrupted_fork_is_adopted_as_policy_says(mac_sim):
    thread = Coordinator().thread()
    token = InterruptToken()
    forks = thread.fork(["A?", "B?"], interrupt_token=token, plugins=[_SetTokenOnText(token)])
    assert [r.status for r in forks] == ["interrupted", "interrupted"]
    thread.adopt(next(r for r in forks if r.text.strip()))
    assert_api_accepts(thread.history)
    assert len(thread.history) == 2


class _SetTokenOnText:
    def __init__(self, token: InterruptToken) -> None:
        self.token = token

    @hookimpl
    def mac_task_event(self, task, event):
        if event.type == "text" and len(task.text.split()) >= 2:
            self.token.interrupt("enough")


# --- interrupts and failures --------------------------------------------------------------------


@pytest.mark.mac_sim(token_delay=0.01, tokens=40)
def test_an_interrupted_turn_keeps_its_partial_answer_by_default_and_the_next_turn_goes_on(mac_sim):
    thread = Coordinator().thread(system=SYSTEM)
    thread.send("First question.")
    stopped = thread.send("Second question.", plugins=[StopAfter(3)])
    assert stopped.status == "interrupted" and stopped.interrupt_reason == "3 text events"
    assert 0 < len(stopped.text.split()) < 40
    assert texts(thread.history)[2:] == ["Second question.", stopped.text]
    following = thread.send("Third question.")
    assert following.status == "completed" and following.usage.cache_read_input_tokens > 0
    assert_api_accepts(thread.history)
    assert len(thread.history) == 6


@pytest.mark.mac_sim(token_delay=0.01, tokens=40)
def test_with_keep_interrupted_drop_an_interrupted_turn_leaves_no_trace(mac_sim):
    thread = Coordinator().thread(keep_interrupted="drop")
    first = thread.send("First question.")
    token = InterruptToken()
    stopped = thread.send(
        "Second question.", interrupt_token=token, on_text=lambda chunk: token.interrupt("user said stop")
    )
    assert stopped.status == "interrupted" and stopped.text and stopped.interrupt_reason == "user said stop"
    assert texts(thread.history) == ["First question.", first.text]
    assert thread.send("Second question, again.").status == "completed"
    assert texts(thread.history)[2] == "Second question, again."
    assert_api_accepts(thread.history)


def test_a_turn_stopped_before_any_answer_leaves_no_trace_even_when_partial_is_kept(mac_sim):
    thread = Coordinator().thread()
    token = InterruptToken()
    token.interrupt("stopped before it began")
    result = thread.send("Never answered.", interrupt_token=token)
    assert result.status in ("interrupted", "cancelled") and result.text == ""
    assert thread.history == []
    assert thread.send("Answered.").status == "completed" and len(thread.history) == 2


@pytest.mark.mac_sim(token_delay=0.0)
def test_a_turn_stopped_while_its_tool_runs_keeps_no_unanswered_call_and_the_next_turn_goes_on(mac_sim):
    thread = Coordinator().thread(tools=[wait_long])
    token = InterruptToken()

    class StopWhenToolStarts:
        @hookimpl
        def mac_task_event(self, task, event):
            if event.type == "tool_use":
                token.interrupt("too slow")

    stopped = thread.send(
        'Wait [[tool: wait_long {"seconds": 30}]]', interrupt_token=token, plugins=[StopWhenToolStarts()]
    )
    assert stopped.status == "interrupted" and stopped.tool_calls[0]["name"] == "wait_long"
    assert thread.history == []  # its one answer was a tool call that never got a result: nothing to keep
    assert thread.send("Something quick.").status == "completed"
    assert_api_accepts(thread.history)


def test_a_failed_turn_leaves_no_trace_and_sending_it_again_retries_it(mac_sim):
    thread = Coordinator(max_retries=0).thread()
    thread.send("First.")
    failed = thread.send("Second.", extra_headers={"x-mac-sim-fault": "overloaded"})
    assert failed.status == "failed" and failed.error_type == "overloaded_error"
    assert len(thread.history) == 2
    assert thread.send("Second.").status == "completed"
    assert texts(thread.history)[2] == "Second."


@pytest.mark.mac_sim(token_delay=0.005, tokens=40)
def test_a_turn_that_fails_mid_stream_leaves_no_trace_of_its_partial_text(mac_sim):
    thread = Coordinator(max_retries=0).thread()
    failed = thread.send("Cut off.", extra_headers={"x-mac-sim-fault": "midstream"})
    assert failed.status == "failed" and failed.text
    assert thread.history == []


# --- concurrency and the async twins ----------------------------------------------------------------


@pytest.mark.mac_sim(token_delay=0.01, tokens=30)
def test_a_second_send_while_one_is_in_flight_is_refused_but_a_fork_may_run(mac_sim):
    thread = Coordinator().thread()
    thread.send("Before.")
    outcome = {}

    async def main():
        async with anyio.create_task_group() as group:

            async def first():
                outcome["first"] = await thread.asend("In flight.")

            group.start_soon(first)
            await anyio.sleep(0.05)
            with pytest.raises(RuntimeError, match="already sending"):
                await thread.asend("Too soon.")
            outcome["forks"] = await thread.afork(["Meanwhile?"])

    anyio.run(main)
    assert outcome["first"].status == "completed" and outcome["forks"][0].status == "completed"
    assert texts(thread.history)[::2] == ["Before.", "In flight."]  # the fork built on the history before it


# --- bad input ------------------------------------------------------------------------------------


def test_bad_input_is_refused_before_any_request(mac_sim):
    coordinator = Coordinator(plugins=[FakePlugin()])
    thread = coordinator.thread()
    cases = [
        (lambda: thread.send(""), ValueError, "text is empty"),
        (lambda: thread.send("   "), ValueError, "text is empty"),
        (lambda: thread.send(42), TypeError, "must be a string"),
        (lambda: thread.send("Hi", system="other"), TypeError, "system prompt is the thread's"),
        (lambda: thread.send("Hi", messages=[]), TypeError, "sends its history"),
        (lambda: thread.send("Hi", max_tokens=0), ValueError, "max_tokens"),
        (lambda: thread.send("Hi", bogus=1), ValueError, "unknown option 'bogus'"),
        (lambda: thread.fork([]), ValueError, "at least one prompt"),
        (lambda: thread.fork("one"), TypeError, "list of prompt strings"),
        (lambda: thread.fork(["ok", ""]), ValueError, r"prompts\[1\] is empty"),
        # text that cannot be encoded (a lone surrogate, as a bad decode leaves) is named, not sent and failed
        (lambda: thread.send("caf\udce9 au lait"), ValueError, r"text holds '\\udce9' at character 3"),
        (lambda: thread.fork(["ok", "\ud800"]), ValueError, r"prompts\[1\] holds '\\ud800'"),
        (lambda: coordinator.thread(transport="fake"), ValueError, "sends a conversation"),
        (lambda: coordinator.thread(transport="nope"), ValueError, "unknown transport"),
        (lambda: coordinator.thread(keep_interrupted="maybe"), ValueError, "keep_interrupted"),
        (lambda: coordinator.thread(cache="yes"), TypeError, "cache must be True or False"),
        (lambda: coordinator.thread(system=3), TypeError, "system must be a string"),
        (lambda: coordinator.thread(output=42), TypeError, "output"),
        (
            lambda: coordinator.thread(history=[{"role": "assistant", "content": "Hi"}]),
            ValueError,
            "alternate",
        ),
        (
            lambda: coordinator.thread(history=[{"role": "user", "content": "Hi"}]),
            ValueError,
            "end with an assistant",
        ),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    assert mac_sim.stats.messages == 0


def test_a_thread_may_continue_a_given_history(mac_sim):
    given = [
        {"role": "user", "content": "Earlier question."},
        {"role": "assistant", "content": "Earlier answer."},
    ]
    thread = Coordinator().thread(history=given)
    assert thread.send("Next?").status == "completed"
    assert texts(thread.history)[:3] == ["Earlier question.", "Earlier answer.", "Next?"]
    given[0]["content"] = "changed"  # the thread holds its own copy
    assert texts(thread.history)[0] == "Earlier question."


def test_the_thread_example_runs_offline(capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", [str(EXAMPLE)])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "read from the cache" in out and "fork" in out and "interrupted" in out
