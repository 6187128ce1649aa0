"""An orchestration's runs as one tree: stopped as one, and counted as one by the policies that count per run.

``Coordinator.orchestrate`` (:mod:`mac_core.orchestrator`) runs the lead and
each wave of workers as runs of their own; while any of them starts, runs or
ends, :func:`task_tree` is their :class:`TaskTree`. A policy that keeps a
count per run (a budget) calls :func:`counting_scope` in ``mac_run_started``
and resets only when the scope changes, so it counts the whole tree. This
module imports nothing heavy: policies load it with the plugins.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .interrupt import InterruptToken

if TYPE_CHECKING:
    from .run import Run, Task

_TREE: contextvars.ContextVar[TaskTree | None] = contextvars.ContextVar("mac_task_tree", default=None)


def task_tree() -> TaskTree | None:
    """The :class:`TaskTree` whose run is executing here (its hooks included), or ``None`` outside one."""
    return _TREE.get()


def counting_scope(run: Run) -> Run | TaskTree:
    """What a policy that keeps a count per run should count over: ``run``'s tree when it has one, else ``run``.

    Call it from ``mac_run_started`` and reset the count when the scope
    changes. Both kinds have ``tasks``, ``stopping`` and ``interrupt(reason)``,
    so stopping "the scope" stops the run, or every run of the tree.
    """
    tree = _TREE.get()
    return tree if tree is not None else run


@contextlib.contextmanager
def active(tree: TaskTree) -> Iterator[TaskTree]:
    """Make ``tree`` what :func:`task_tree` returns here and in every task started inside (the engine's included)."""
    token = _TREE.set(tree)
    try:
        yield tree
    finally:
        _TREE.reset(token)


class TaskTree:
    """The runs of one orchestration, stopped as one and counted as one.

    Quacks like a :class:`~mac_core.Run` where a policy needs it to
    (:attr:`tasks`, :attr:`stopping`, :meth:`interrupt`).

    :ivar interrupt_reason: why the tree was stopped, or ``None``.
    """

    def __init__(self) -> None:
        self.interrupt_reason: str | None = None
        self.token = InterruptToken()  # given to every run, so one that starts after a stop stops at once
        self._runs: list[Run] = []

    @property
    def runs(self) -> list[Run]:
        """The tree's runs executing now (the lead's, and each wave's in flight)."""
        return list(self._runs)

    @property
    def tasks(self) -> list[Task]:
        """The tasks of the runs executing now."""
        return [task for run in self._runs for task in run.tasks]

    @property
    def stopping(self) -> bool:
        """True once the tree was asked to stop."""
        return self.interrupt_reason is not None

    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop the lead and every worker in flight (text so far kept); no further wave starts.

        Call it on the event loop's thread (a hook does); from another thread,
        use the ``interrupt_token`` given to ``orchestrate``.
        """
        if self.interrupt_reason is None:
            self.interrupt_reason = reason
        for run in list(
            self._runs
        ):  # at once, so each worker is stopped for this reason, not by its caller's end
            run.interrupt(self.interrupt_reason)
        self.token.interrupt(self.interrupt_reason)

    def __repr__(self) -> str:
        return f"<TaskTree runs={len(self._runs)} stopping={self.stopping}>"
