"""A transport under the test's control, registered through a plugin like any third party's."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import anyio

from mac_core import Completion, Event, Transport, TransportError, Usage, hookimpl


class FakeTransport(Transport):
    """Plays ``steps[prompt]`` for each task and records what it saw.

    A step is a ``str`` (emit it as a text event), a number (sleep that long),
    ``"WAIT"`` (block until cancelled), or an exception (raise it).
    """

    name = "fake"
    streams = True
    needs_api_key = False
    task_options = frozenset({"tools"})

    steps: dict[str, list[Any]] = {}
    started: list[str] = []
    closed: list[str] = []  # tasks whose "connection" was closed by cancellation
    in_flight = 0
    max_in_flight = 0
    lock = threading.Lock()

    @classmethod
    def reset(cls, steps: dict[str, list[Any]]) -> None:
        cls.steps = steps
        cls.started = []
        cls.closed = []
        cls.in_flight = 0
        cls.max_in_flight = 0

    async def run_task(self, task, emit):
        cls = type(self)
        cls.started.append(task.prompt)
        cls.in_flight += 1
        cls.max_in_flight = max(cls.max_in_flight, cls.in_flight)
        try:
            for step in cls.steps.get(task.prompt, ["ok"]):
                if isinstance(step, BaseException):
                    raise step
                if step == "WAIT":
                    await anyio.sleep_forever()
                elif isinstance(step, (int, float)):
                    await anyio.sleep(step)
                else:
                    emit(Event("text", step))
                    await anyio.sleep(0)
            usage = Usage(input_tokens=3, output_tokens=len(cls.steps.get(task.prompt, ["ok"])))
            emit(Event("usage", data=usage))
            return Completion(usage=usage, stop_reason="end_turn")
        except anyio.get_cancelled_exc_class():
            cls.closed.append(task.prompt)
            raise
        finally:
            cls.in_flight -= 1


class FakePlugin:
    """Registers :class:`FakeTransport` as ``fake``."""

    @hookimpl
    def mac_register_transports(self, register: Callable[..., None]) -> None:
        register("fake", FakeTransport)


class Recorder:
    """A reporter plugin that records every hook call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    @hookimpl
    def mac_run_started(self, run):
        self.calls.append(("run_started", run.id))

    @hookimpl
    def mac_task_started(self, task):
        self.calls.append(("task_started", task.index))

    @hookimpl
    def mac_task_event(self, task, event):
        self.calls.append(("event", task.index, event.type, event.text))

    @hookimpl
    def mac_task_finished(self, task, result):
        self.calls.append(("task_finished", task.index, result.status))

    @hookimpl
    def mac_run_finished(self, run, results):
        self.calls.append(("run_finished", [r.status for r in results]))


def failure(message: str = "boom") -> TransportError:
    return TransportError(message, status_code=500, error_type="api_error")
