"""Policies that watch the clock: :class:`Deadline` and :class:`Stall`.

They act when nothing happens, so they cannot wait for an event: each starts
one watcher coroutine with ``run.start_background`` that sleeps until the
next moment something could be due, and stops tasks with ``task.interrupt``
or the run with ``run.interrupt``. The engine cancels the watcher when the run ends.

In an orchestration (``Coordinator.orchestrate``) they follow the whole tree:
one watcher, started with the lead's run, sees every wave's tasks;
``Deadline`` counts from the lead's start and stops the whole tree, and
``Stall`` does not count an agent waiting on its workers as idle while they
are running (a worker that goes quiet is the one reported).
"""

from __future__ import annotations

import logging
import time

import anyio

from mac_core import hookimpl

from .base import Following, check_positive, check_scope

log = logging.getLogger("mac_plugins.policies")


def _seconds(value: float) -> str:
    return f"{value:g} s"


class Deadline:
    """Stop what runs longer than a wall-clock limit.

    ``Deadline(60)`` stops the whole run 60 seconds after it started (tasks
    in flight are interrupted with their partial text, the rest cancelled);
    ``Deadline(60, scope="task")`` stops each task 60 seconds after it started.
    In an orchestration, "the run" is the whole tree: the lead and every
    worker are stopped 60 seconds after the lead started.

    :param seconds: the limit.
    :param scope: ``"run"`` (from the run's start) or ``"task"`` (from each task's start).
    """

    def __init__(self, seconds: float, *, scope: str = "run") -> None:
        self.seconds = float(check_positive(seconds, "seconds"))
        self.scope = check_scope(scope)
        self._started: dict = {}
        self._wake: anyio.Event | None = None
        self._following = Following()

    @hookimpl
    def mac_run_started(self, run):
        if not self._following.enter(run):  # a wave of the orchestration: the lead's watcher sees it
            return
        self._started.clear()
        self._wake = anyio.Event()
        run.start_background(self._watch_run if self.scope == "run" else self._watch_tasks)

    @hookimpl
    def mac_task_started(self, task):
        if self.scope == "task" and self._wake is not None:
            self._started[task] = time.monotonic()
            self._wake.set()

    @hookimpl
    def mac_task_finished(self, task):
        self._started.pop(task, None)

    async def _watch_run(self) -> None:
        await anyio.sleep(self.seconds)
        whole = self._following.whole()
        self._following.current.interrupt(f"{whole} passed its deadline of {_seconds(self.seconds)}")

    async def _watch_tasks(self) -> None:
        while True:
            if not self._started:
                self._wake = anyio.Event()
                await self._wake.wait()
                continue
            # Every task has the same limit, so the one started first is due first.
            task, started = next(iter(self._started.items()))
            delay = started + self.seconds - time.monotonic()
            if delay > 0:
                await anyio.sleep(delay)
                continue
            del self._started[task]
            task.interrupt(f"{task.name} ran past its deadline of {_seconds(self.seconds)}")

    def __repr__(self) -> str:
        return f"Deadline({self.seconds:g}, scope={self.scope!r})"


class Stall:
    """Notice a task that has sent no event for a while; optionally stop it.

    A stall is logged as a warning (logger ``mac_plugins.policies``) once per
    quiet spell; the live reporter shows each running task's idle time too.
    With ``interrupt=True`` the task is also stopped, with its partial text
    kept, and the reason says it stalled. The time before a task's first
    event counts, so leave room for a slow first token.

    :param seconds: how long a task may go without an event.
    :param interrupt: stop the task too, not just report it.
    """

    def __init__(self, seconds: float, *, interrupt: bool = False) -> None:
        self.seconds = float(check_positive(seconds, "seconds"))
        self.interrupt = interrupt
        self.stalled: list[str] = []  #: names of the tasks that stalled in the last run, in order
        self._last: dict = {}
        self._wake: anyio.Event | None = None
        self._following = Following()
        self._running: dict[str, object] = {}  # in an orchestration: running tasks by path ("lead/a")

    @hookimpl
    def mac_run_started(self, run):
        if not self._following.enter(run):  # a wave of the orchestration: the lead's watcher sees it
            return
        self._last.clear()
        self._running.clear()
        self.stalled = []
        self._wake = anyio.Event()
        run.start_background(self._watch)

    @hookimpl
    def mac_task_started(self, task):
        if self._wake is not None:
            self._last[task] = time.monotonic()
            if self._following.in_tree:
                self._running[task.name] = task
            self._wake.set()

    @hookimpl
    def mac_task_event(self, task):
        if task in self._last:
            self._last[task] = time.monotonic()
        elif task.status == "running" and self._wake is not None:  # it stalled, was reported, and woke up
            self._last[task] = time.monotonic()
            self._wake.set()

    @hookimpl
    def mac_task_finished(self, task):
        self._last.pop(task, None)
        if self._running.pop(task.name, None) is not None:  # its spawner hears back now: its clock restarts
            now = time.monotonic()
            for parent in self._ancestors(task.name):
                if parent in self._last:
                    self._last[parent] = now

    def _ancestors(self, path: str) -> list:
        parents = []
        while "/" in path:
            path = path.rpartition("/")[0]
            if path in self._running:
                parents.append(self._running[path])
        return parents

    def _waits_on_workers(self, task) -> bool:
        prefix = task.name + "/"
        return any(name.startswith(prefix) for name in self._running)

    async def _watch(self) -> None:
        while True:
            if not self._last:
                self._wake = anyio.Event()
                await self._wake.wait()
                continue
            task, last = min(self._last.items(), key=lambda item: item[1])
            delay = last + self.seconds - time.monotonic()
            if delay > 0:
                await anyio.sleep(delay)
                continue
            if self._waits_on_workers(task):  # not idle: its workers run (a quiet one is reported itself)
                self._last[task] = time.monotonic()
                continue
            del self._last[task]  # watched again from its next event
            self.stalled.append(task.name)
            message = f"{task.name} stalled: no event for {_seconds(self.seconds)}"
            log.warning("%s%s", message, "; interrupting it" if self.interrupt else "")
            if self.interrupt:
                task.interrupt(message)

    def __repr__(self) -> str:
        return f"Stall({self.seconds:g}, interrupt={self.interrupt})"
