"""A hook or callback cannot break a run: async hooks are refused, odd exceptions contained, stuck ones named."""

from __future__ import annotations

import asyncio
import logging
import threading
import types

import pytest
from fake_transport import FakePlugin, FakeTransport

import mac_core.plugins as plugins
from mac_core import Coordinator, hookimpl
from mac_core.plugins import plugin_manager


class AsyncPolicy:
    """A policy written as ``async def``: its coroutine would read as "stop"."""

    @hookimpl
    async def mac_should_interrupt(self, task, event):
        return None


def test_a_coordinator_refuses_an_async_hook_naming_the_plugin_and_hook():
    with pytest.raises(TypeError, match=r"plugin AsyncPolicy-\w+: mac_should_interrupt is async"):
        Coordinator(plugins=[FakePlugin(), AsyncPolicy()])


def test_a_run_refuses_an_async_hook_among_its_own_plugins():
    FakeTransport.reset({"a": ["x"]})
    coordinator = Coordinator(plugins=[FakePlugin()])
    with pytest.raises(TypeError, match="mac_should_interrupt is async"):
        coordinator.run(["a"], transport="fake", plugins=[AsyncPolicy()])
    assert FakeTransport.started == []  # refused before anything was sent


def test_registering_an_async_generator_hook_later_is_refused_and_leaves_nothing_registered():
    class Reporter:
        @hookimpl
        async def mac_task_event(self, task, event):
            yield

    pm = Coordinator(plugins=[FakePlugin()]).plugin_manager
    reporter = Reporter()
    with pytest.raises(TypeError, match=r"mac_task_event is async"):
        pm.register(reporter)
    assert not pm.is_registered(reporter)


def test_an_installed_plugin_with_an_async_hook_is_skipped_and_named(monkeypatch, caplog):
    module = types.ModuleType("slow_reporter")

    async def mac_task_finished(task, result):
        return None

    module.mac_task_finished = hookimpl(mac_task_finished)
    monkeypatch.setattr(plugins, "_entry_point_plugins", [("slow_reporter", module, "slow-reporter")])
    pm = plugin_manager()
    assert not pm.is_registered(module)
    assert "'slow_reporter' is skipped" in caplog.text and "mac_task_finished is async" in caplog.text


class Raising:
    """Raises ``exc`` from the hook named ``where`` on every call."""

    def __init__(self, where: str, exc: BaseException) -> None:
        self.where, self.exc, self.finished = where, exc, []

    @hookimpl
    def mac_task_event(self, task, event):
        if self.where == "mac_task_event":
            raise self.exc

    @hookimpl
    def mac_should_interrupt(self, task, event):
        if self.where == "mac_should_interrupt":
            raise self.exc

    @hookimpl
    def mac_task_finished(self, task, result):
        self.finished.append(result.status)
        if self.where == "mac_task_finished":
            raise self.exc


ODD_EXCEPTIONS = [asyncio.CancelledError("from a hook"), SystemExit(3)]
PLACES = ["mac_task_event", "mac_should_interrupt", "mac_task_finished", "callback"]


@pytest.mark.parametrize("exc", ODD_EXCEPTIONS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("where", PLACES)
def test_cancelled_error_or_system_exit_from_a_hook_or_callback_is_logged_and_the_run_completes(where, exc, caplog):
    def callback(chunk):
        if where == "callback":
            raise exc

    FakeTransport.reset({"a": ["x", "y"], "b": ["z"]})
    raising = Raising(where, exc)
    results = Coordinator(plugins=[FakePlugin(), raising]).run(["a", "b"], transport="fake", callbacks=[callback] * 2)
    assert [r.status for r in results] == ["completed", "completed"]
    assert [r.text for r in results] == ["xy", "z"]
    assert raising.finished == ["completed", "completed"]  # every task reached its terminal state, hooks included
    assert f"({type(exc).__name__}); ignored" in caplog.text


@pytest.mark.parametrize("where", PLACES)
def test_keyboard_interrupt_raised_by_a_hook_off_the_main_thread_is_contained_not_grouped(where, caplog):
    """The sync API runs hooks on its loop thread: a KeyboardInterrupt there is a hook's own, not Ctrl-C."""

    def callback(chunk):
        if where == "callback":
            raise KeyboardInterrupt

    FakeTransport.reset({"a": ["x"]})
    raising = Raising(where, KeyboardInterrupt())
    results = Coordinator(plugins=[FakePlugin(), raising]).run(["a"], transport="fake", callbacks=[callback])
    assert [r.status for r in results] == ["completed"]
    assert "(KeyboardInterrupt); ignored" in caplog.text


@pytest.mark.parametrize("exc", [SystemExit(5), KeyboardInterrupt()], ids=lambda e: type(e).__name__)
def test_an_exit_raised_inside_a_run_reaches_the_sync_caller_as_itself_not_as_an_exception_group(exc):
    FakeTransport.reset({"a": ["x", exc], "b": ["y", 0.2]})  # a transport, not a hook: nothing contains it
    with pytest.raises(type(exc)) as caught:
        Coordinator(plugins=[FakePlugin()]).run(["a", "b"], transport="fake", max_concurrency=2)
    assert caught.type is type(exc)  # exactly it: pytest.raises would also accept a subclass


@pytest.mark.parametrize("exc", ODD_EXCEPTIONS, ids=lambda e: type(e).__name__)
def test_the_async_api_contains_the_same_exceptions(exc):
    FakeTransport.reset({"a": ["x"]})
    raising = Raising("mac_should_interrupt", exc)
    coordinator = Coordinator(plugins=[FakePlugin(), raising])
    results = asyncio.run(coordinator.arun(["a"], transport="fake", callbacks=[lambda chunk: (_ for _ in ()).throw(exc)]))
    assert [r.status for r in results] == ["completed"]


# --- a hook holding the event loop is named while it holds it ------------------


class WarningSeen(logging.Handler):
    """Sets :attr:`seen` when ``mac_core.plugins`` logs a warning."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = threading.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.WARNING:
            self.messages.append(record.getMessage())
            self.seen.set()


@pytest.fixture
def warnings_seen():
    handler = WarningSeen()
    logger = logging.getLogger("mac_core.plugins")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_a_hook_holding_the_loop_over_a_second_is_named_while_it_still_holds_it(warnings_seen):
    class Stuck:
        named_while_stuck = False

        @hookimpl
        def mac_should_interrupt(self, task, event):
            # Blocks the loop until the warning arrives (3 s at most): the warning cannot wait for it to return.
            Stuck.named_while_stuck = warnings_seen.seen.wait(3)

    FakeTransport.reset({"a": ["x"]})
    results = Coordinator(plugins=[FakePlugin(), Stuck()]).run(["a"], transport="fake")
    assert results[0].status == "completed"
    assert Stuck.named_while_stuck
    assert len(warnings_seen.messages) == 1  # once per stuck call, not once per look
    assert "plugin Stuck-" in warnings_seen.messages[0] and "in mac_should_interrupt" in warnings_seen.messages[0]
    assert "has held the event loop for over 1 s" in warnings_seen.messages[0]


def test_a_callback_holding_the_loop_is_named_by_its_task(warnings_seen):
    def callback(chunk):
        warnings_seen.seen.wait(3)

    FakeTransport.reset({"a": ["x"]})
    Coordinator(plugins=[FakePlugin()]).run([{"prompt": "a", "name": "slow-one"}], transport="fake", callbacks=[callback])
    assert warnings_seen.messages and warnings_seen.messages[0].startswith("the callback of slow-one has held")


def test_many_quick_hook_calls_over_more_than_a_second_are_not_reported(warnings_seen):
    class Quick:
        @hookimpl
        def mac_task_event(self, task, event):
            pass

    FakeTransport.reset({"a": ["x", 0.01] * 130})  # about 1.3 s of events, each hook call instant
    results = Coordinator(plugins=[FakePlugin(), Quick()]).run(["a"], transport="fake")
    assert results[0].status == "completed"
    assert warnings_seen.messages == []


def test_the_watch_thread_runs_with_the_run_and_ends_with_it():
    watching: list[threading.Thread] = []

    class Reporter:
        @hookimpl
        def mac_task_event(self, task, event):
            watching.extend(t for t in threading.enumerate() if t.name == "mac-hook-watch")

    FakeTransport.reset({"a": ["x"]})
    Coordinator(plugins=[FakePlugin(), Reporter()]).run(["a"], transport="fake")
    assert watching
    for thread in watching:
        thread.join(1)
        assert not thread.is_alive()
