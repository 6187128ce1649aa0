"""The engine's promises: order, concurrency, isolation, terminal states, interrupts in flight."""

from __future__ import annotations

import logging
import threading
import time

import anyio
import pytest
from fake_transport import FakePlugin, FakeTransport, Recorder, failure

from mac_core import Coordinator, Interrupt, InterruptToken, hookimpl


def coordinator(*plugins) -> Coordinator:
    return Coordinator(plugins=[FakePlugin(), *plugins])


def test_results_keep_input_order_whatever_finishes_first():
    FakeTransport.reset({"slow": [0.05, "s"], "fast": ["f"], "mid": [0.02, "m"]})
    results = coordinator().run(["slow", "fast", "mid"], transport="fake", max_concurrency=3)
    assert [r.text for r in results] == ["s", "f", "m"]
    assert [r.index for r in results] == [0, 1, 2]
    assert all(r.status == "completed" for r in results)


def test_concurrency_limit_is_respected():
    FakeTransport.reset({f"p{i}": [0.01, "x"] for i in range(12)})
    results = coordinator().run([f"p{i}" for i in range(12)], transport="fake", max_concurrency=4)
    assert FakeTransport.max_in_flight == 4
    assert len(results) == 12 and all(r.ok for r in results)


def test_each_callback_sees_only_its_own_chunks():
    FakeTransport.reset({"a": ["a1", "a2"], "b": ["b1", 0.01, "b2"]})
    seen: dict[str, list[str]] = {"a": [], "b": []}
    coordinator().run(
        ["a", "b"], transport="fake", callbacks=[seen["a"].append, seen["b"].append]
    )
    assert seen == {"a": ["a1", "a2"], "b": ["b1", "b2"]}


def test_a_raising_callback_never_breaks_its_task(caplog):
    FakeTransport.reset({"a": ["one", "two"]})

    def explode(chunk):
        raise RuntimeError("callback bug")

    results = coordinator().run(["a"], transport="fake", callbacks=[explode])
    assert results[0].status == "completed" and results[0].text == "onetwo"
    assert "callback of task-0 raised" in caplog.text


def test_a_raising_plugin_is_logged_by_name_and_the_run_goes_on(caplog):
    class Broken:
        @hookimpl
        def mac_task_event(self, task, event):
            raise ValueError("reporter bug")

        @hookimpl
        def mac_should_interrupt(self, task, event, run):
            raise ValueError("policy bug")

    FakeTransport.reset({"a": ["x", "y"]})
    caplog.set_level(logging.ERROR)
    results = coordinator(Broken()).run(["a"], transport="fake")
    assert results[0].status == "completed"
    assert "Broken" in caplog.text and "mac_task_event" in caplog.text
    assert "mac_should_interrupt" in caplog.text


def test_hooks_see_every_task_reach_exactly_one_terminal_state():
    FakeTransport.reset({"ok": ["t"], "bad": [failure()], "wait": ["w", "WAIT"]})
    recorder = Recorder()

    class StopOnW:
        @hookimpl
        def mac_should_interrupt(self, task, event, run):
            return event.type == "text" and event.text == "w"

    results = coordinator(recorder, StopOnW()).run(
        ["ok", "bad", "wait", "never"], transport="fake", max_concurrency=1
    )
    assert [r.status for r in results] == ["completed", "failed", "interrupted", "cancelled"]
    finished = [c for c in recorder.calls if c[0] == "task_finished"]
    assert sorted(c[1] for c in finished) == [0, 1, 2, 3]
    assert recorder.calls[0][0] == "run_started"
    assert recorder.calls[-1] == ("run_finished", ["completed", "failed", "interrupted", "cancelled"])
    assert ("event", 0, "text", "t") in recorder.calls


def test_a_failure_keeps_its_message_and_does_not_touch_the_others():
    FakeTransport.reset({"bad": ["partial", failure("HTTP 500 api_error: kaboom")], "good": ["fine"]})
    bad, good = coordinator().run(["bad", "good"], transport="fake")
    assert bad.status == "failed" and bad.error == "HTTP 500 api_error: kaboom"
    assert bad.text == "partial"
    assert good.status == "completed" and good.text == "fine"


def test_an_interrupted_token_starts_nothing():
    FakeTransport.reset({})
    token = InterruptToken()
    token.interrupt()
    results = coordinator().run(["a", "b"], transport="fake", interrupt_token=token)
    assert [r.status for r in results] == ["cancelled", "cancelled"]
    assert FakeTransport.started == []
    assert all(r.started_at is None for r in results)


def test_interrupt_from_another_thread_stops_requests_in_flight_and_keeps_their_text():
    FakeTransport.reset({f"p{i}": [f"part{i}", "WAIT"] for i in range(6)})
    token = InterruptToken()
    streaming = threading.Event()

    class Watch:
        @hookimpl
        def mac_task_event(self, task, event):
            if task.index == 1:
                streaming.set()

    def press_stop():
        assert streaming.wait(5)
        token.interrupt("user pressed stop")

    stopper = threading.Thread(target=press_stop)
    stopper.start()
    began = time.monotonic()
    results = coordinator(Watch()).run(
        [f"p{i}" for i in range(6)], transport="fake", max_concurrency=2, interrupt_token=token
    )
    stopper.join()
    assert time.monotonic() - began < 5  # the tasks would otherwise wait forever
    assert [r.status for r in results[:2]] == ["interrupted", "interrupted"]
    assert [r.text for r in results[:2]] == ["part0", "part1"]
    assert all(r.interrupt_reason == "user pressed stop" for r in results)
    assert [r.status for r in results[2:]] == ["cancelled"] * 4
    assert FakeTransport.started == ["p0", "p1"]  # nothing started after the interrupt
    assert sorted(FakeTransport.closed) == ["p0", "p1"]


def test_policy_with_run_scope_stops_everything_at_the_tripping_event():
    FakeTransport.reset(
        {"sec": ["looking", "CRITICAL: sql injection", "more"], "perf": ["fine", "WAIT"], "arch": ["x", "WAIT"]}
    )

    class StopOnCritical:
        @hookimpl
        def mac_should_interrupt(self, task, event, run):
            if "CRITICAL" in event.text:
                return Interrupt(reason=f"{task.name} found a critical issue", scope="run")
            return None

    results = coordinator(StopOnCritical()).run(
        [{"prompt": "perf", "name": "perf"}, {"prompt": "arch", "name": "arch"}, {"prompt": "sec", "name": "security"}],
        transport="fake",
        max_concurrency=3,
    )
    by_name = {r.name: r for r in results}
    assert by_name["security"].status == "interrupted"
    assert by_name["security"].text == "lookingCRITICAL: sql injection"  # stopped at the event, not after
    assert by_name["perf"].status == "interrupted" and by_name["perf"].text == "fine"
    assert all(r.interrupt_reason == "security found a critical issue" for r in results)


def test_policy_with_task_scope_stops_only_that_task():
    FakeTransport.reset({"a": ["a1", "STOP", "a3"], "b": ["b1", 0.02, "b2"]})

    class StopTask:
        @hookimpl
        def mac_should_interrupt(self, task, event):
            return Interrupt(reason="told to stop", scope="task") if event.text == "STOP" else None

    a, b = coordinator(StopTask()).run(["a", "b"], transport="fake")
    assert a.status == "interrupted" and a.text == "a1STOP" and a.interrupt_reason == "told to stop"
    assert b.status == "completed" and b.text == "b1b2" and b.interrupt_reason is None


def test_a_policy_returning_true_stops_the_run_and_names_itself():
    FakeTransport.reset({"a": ["x", "WAIT"]})

    class Impatient:
        @hookimpl
        def mac_should_interrupt(self, event):
            return event.type == "text"

    (result,) = coordinator(Impatient()).run(["a"], transport="fake")
    assert result.status == "interrupted"
    assert "Impatient" in result.interrupt_reason


def test_prime_cache_sends_the_first_request_alone_until_its_first_event():
    FakeTransport.reset({"first": [0.05, "f", 0.05], "second": ["s"], "third": ["t"]})
    order: list[str] = []

    class Order:
        @hookimpl
        def mac_task_started(self, task):
            order.append(f"start {task.prompt}")

        @hookimpl
        def mac_task_event(self, task, event):
            if event.type == "text":
                order.append(f"text {task.prompt}")

    coordinator(Order()).run(
        ["first", "second", "third"], transport="fake", max_concurrency=3, system="shared", cache_shared_system=True
    )
    assert order[:2] == ["start first", "text first"]


def test_background_work_of_a_plugin_ends_with_the_run():
    FakeTransport.reset({"a": [0.01, "x"]})
    ticks: list[int] = []

    class Ticker:
        @hookimpl
        def mac_run_started(self, run):
            async def tick():
                while True:
                    ticks.append(1)
                    await anyio.sleep(0.001)

            run.start_background(tick)

    (result,) = coordinator(Ticker()).run(["a"], transport="fake")
    assert result.ok and ticks
    count = len(ticks)
    time.sleep(0.02)
    assert len(ticks) == count  # cancelled with the run


def test_usage_is_totalled_over_the_run():
    FakeTransport.reset({"a": ["x"], "b": ["y", "z"]})
    totals = []

    class Totals:
        @hookimpl
        def mac_run_finished(self, run):
            totals.append(run.usage)

    results = coordinator(Totals()).run(["a", "b"], transport="fake")
    assert [r.usage.output_tokens for r in results] == [1, 2]
    assert totals[0].output_tokens == 3 and totals[0].input_tokens == 6


@pytest.mark.anyio
async def test_the_async_twin_runs_in_the_callers_loop():
    FakeTransport.reset({"a": ["x"]})
    results = await coordinator().arun(["a"], transport="fake")
    assert results[0].text == "x"


@pytest.fixture
def anyio_backend():
    return "asyncio"


def test_a_task_stopped_by_its_own_start_hook_sends_nothing():
    FakeTransport.reset({"a": ["x"], "b": ["y"]})

    class StopFirst:
        @hookimpl
        def mac_task_started(self, task):
            if task.index == 0:
                task.interrupt("not this one")

    a, b = coordinator(StopFirst()).run(["a", "b"], transport="fake", max_concurrency=1)
    assert a.status == "interrupted" and a.interrupt_reason == "not this one"
    assert b.status == "completed"
    assert FakeTransport.started == ["b"]
