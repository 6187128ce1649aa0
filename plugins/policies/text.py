"""Policies that read what agents write: :class:`StopOnPattern` and :class:`Quorum`.

In an orchestration (``Coordinator.orchestrate``) they follow the whole tree:
a wave starting does not reset them, so a run-scoped stop stops the lead and
every worker, and a :class:`Quorum` counts matches over the lead and every
worker of every wave.
"""

from __future__ import annotations

import logging
import re

from mac_core import Interrupt, hookimpl
from mac_core.events import TEXT

from .base import Following, TextWindow, check_positive, check_scope, compile_pattern, shorten

log = logging.getLogger("mac_plugins.policies")

REGEX_WINDOW = 256  #: how far back a regex match may start before the newest chunk, by default


def _event_types(events: tuple[str, ...] | str) -> frozenset[str]:
    return frozenset((events,) if isinstance(events, str) else events)


def _window_for(pattern: re.Pattern[str], literal: bool, window: int | None) -> int:
    if window is not None:
        return int(check_positive(window, "window", integer=True))
    return len(pattern.pattern) if literal else REGEX_WINDOW


class StopOnPattern:
    """Stop when an agent writes a keyword or text matching a regular expression.

    ``StopOnPattern("CRITICAL")`` stops the whole run the moment any agent
    writes ``CRITICAL``, even when the word arrives split over two chunks.

    :param pattern: a regular expression (``r"CRITICAL|SEVERE"``), a keyword
        with ``literal=True``, or a compiled ``re.Pattern``.
    :param scope: ``"run"`` stops every task; ``"task"`` only the one that wrote it.
    :param literal: match ``pattern`` as plain text, not as a regex.
    :param ignore_case: match regardless of case.
    :param window: how many characters before the newest chunk a match may
        start (default: the keyword's length, or 256 for a regex). The text is
        searched in this sliding window, never re-read whole.
    :param events: the event types whose text is searched (``"text"``; add
        ``"thinking"`` or ``"info"`` to watch those too).
    """

    def __init__(
        self,
        pattern: str | re.Pattern[str],
        *,
        scope: str = "run",
        literal: bool = False,
        ignore_case: bool = False,
        window: int | None = None,
        events: tuple[str, ...] = (TEXT,),
    ) -> None:
        self.pattern = compile_pattern(pattern, literal=literal, ignore_case=ignore_case)
        self.scope = check_scope(scope)
        self.events = _event_types(events)
        self._window = TextWindow(self.pattern, _window_for(self.pattern, literal, window))
        self._matched: set = set()
        self._following = Following()

    @hookimpl
    def mac_run_started(self, run):
        if self._following.enter(run):  # a wave of the same orchestration keeps the other tasks' windows
            self._window.clear()
            self._matched.clear()

    @hookimpl
    def mac_should_interrupt(self, task, event):
        if event.type not in self.events or task in self._matched:
            return None
        match = self._window.search(task, event.text)
        if match is None:
            return None
        self._matched.add(task)
        return Interrupt(
            reason=f"{task.name} wrote {shorten(match.group(0))!r}, which matches the stop pattern {self.pattern.pattern!r}",
            scope=self.scope,
        )

    @hookimpl
    def mac_task_finished(self, task):
        self._window.forget(task)
        self._matched.discard(task)

    def __repr__(self) -> str:
        return f"StopOnPattern({self.pattern.pattern!r}, scope={self.scope!r})"


class Quorum:
    """Stop the run once ``k`` tasks' text has matched a pattern: k of n analyses agree.

    ``Quorum(2, "VERDICT: vulnerable", literal=True)`` stops a fan-out of
    reviewers as soon as two of them have said so; each task counts once, the
    moment the words stream in. In an orchestration the tasks are the lead
    and every worker of every wave.

    :param k: how many tasks must match.
    :param pattern, literal, ignore_case, window, events: as for :class:`StopOnPattern`.
    """

    def __init__(
        self,
        k: int,
        pattern: str | re.Pattern[str],
        *,
        literal: bool = False,
        ignore_case: bool = False,
        window: int | None = None,
        events: tuple[str, ...] = (TEXT,),
    ) -> None:
        self.k = int(check_positive(k, "k", integer=True))
        self.pattern = compile_pattern(pattern, literal=literal, ignore_case=ignore_case)
        self.events = _event_types(events)
        self._window = TextWindow(self.pattern, _window_for(self.pattern, literal, window))
        self._matched: dict = {}
        self._of = 0
        self._following = Following()

    @hookimpl
    def mac_run_started(self, run):
        if self._following.enter(run):
            self._window.clear()
            self._matched.clear()
            self._of = 0
        self._of += len(run.tasks)  # an orchestration's tasks so far: each wave adds its own
        if self.k > self._of and not self._following.in_tree:  # a tree's later waves may bring more
            log.warning("Quorum(%d) can never be reached by a run of %d tasks", self.k, self._of)

    @hookimpl
    def mac_should_interrupt(self, task, event):
        if event.type not in self.events or task in self._matched:
            return None
        if self._window.search(task, event.text) is None:
            return None
        self._window.forget(task)
        self._matched[task] = task.name
        if len(self._matched) < self.k:
            return None
        names = list(self._matched.values())
        listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return Interrupt(
            reason=f"quorum reached: {len(names)} of {self._of} tasks matched {self.pattern.pattern!r} ({listed})",
            scope="run",
        )

    @hookimpl
    def mac_task_finished(self, task):
        self._window.forget(task)

    def __repr__(self) -> str:
        return f"Quorum({self.k}, {self.pattern.pattern!r})"
