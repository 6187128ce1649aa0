"""What the built-in policies share: a scope, a bounded text window, and an output-token meter."""

from __future__ import annotations

import json
import math
import re

from mac_core import Run, Task, Usage
from mac_core.events import TEXT, THINKING, TOOL_USE, USAGE
from mac_core.results import CHARS_PER_TOKEN  # the engine's figure: a budget and the results' estimate agree
from mac_core.task_tree import TaskTree, counting_scope

SCOPES = ("run", "task")


def check_scope(scope: str) -> str:
    """``scope`` if it is ``"run"`` or ``"task"``, else ``ValueError``."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be 'run' or 'task', not {scope!r}")
    return scope


def check_positive(value: float, name: str, *, integer: bool = False) -> float:
    """``value`` if it is a positive finite number (an ``int`` when ``integer``), else ``ValueError``."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive {'integer' if integer else 'number'}, got {value!r}")
    return value


def compile_pattern(pattern: str | re.Pattern[str], *, literal: bool, ignore_case: bool) -> re.Pattern[str]:
    """A compiled regex from a regex string, a keyword (``literal=True``) or a compiled pattern."""
    if isinstance(pattern, re.Pattern):
        return pattern
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"pattern must be a non-empty string or a compiled regex, got {pattern!r}")
    try:
        return re.compile(re.escape(pattern) if literal else pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None


def stop_run_if_work_left(run: Run | None, reason: str) -> None:
    """Stop ``run`` unless every task has already ended (a stop then would change nothing)."""
    if run is None or run.stopping:
        return
    if any(task.status in ("pending", "running") for task in run.tasks):
        run.interrupt(reason)


def shorten(text: str, width: int = 80) -> str:
    """``text`` on one line, cut to ``width`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class TextWindow:
    """Finds a pattern in a task's stream of chunks without re-reading the whole text.

    It keeps the last ``window`` characters (plus one of context, so ``^``,
    ``\\b`` and lookbehinds see the real text before them) and searches them
    with each new chunk: a match may start at most ``window`` characters
    before the chunk that completes it. Each search costs ``window`` plus the
    chunk's length, however long the answer grows.
    """

    __slots__ = ("pattern", "window", "_tails")

    def __init__(self, pattern: re.Pattern[str], window: int) -> None:
        self.pattern = pattern
        self.window = window
        self._tails: dict[Task, str] = {}

    def search(self, task: Task, chunk: str) -> re.Match[str] | None:
        """Add ``chunk`` to ``task``'s window; return a match that ends in it, or ``None``."""
        tail = self._tails.get(task, "")
        text = tail + chunk
        self._tails[task] = text[-(self.window + 1) :]
        return self.pattern.search(text, max(0, len(tail) - self.window))

    def forget(self, task: Task) -> None:
        """Drop ``task``'s window (it ended)."""
        self._tails.pop(task, None)

    def clear(self) -> None:
        """Drop every window (a new run)."""
        self._tails.clear()


class Following:
    """What a policy follows: the run, or in an orchestration the whole tree of runs.

    :meth:`enter` is called from ``mac_run_started``; it says whether this is a
    new scope (reset per-run state then) or another wave of the orchestration
    already followed (keep counting; the watcher started with the lead's run
    goes on).
    """

    __slots__ = ("current",)

    def __init__(self) -> None:
        self.current: Run | TaskTree | None = None

    def enter(self, run: Run) -> bool:
        """Follow ``run``'s scope (:func:`~mac_core.task_tree.counting_scope`); True when it is a new one."""
        scope = counting_scope(run)
        if scope is self.current:
            return False
        self.current = scope
        return True

    @property
    def in_tree(self) -> bool:
        """True when the scope is an orchestration's tree."""
        return isinstance(self.current, TaskTree)

    def whole(self) -> str:
        """The scope, for a reason: ``"the run"`` or ``"the orchestration"``."""
        return "the orchestration" if self.in_tree else "the run"


def tool_use_chars(data) -> int:
    """The characters a ``tool_use`` block's name and input took to generate (JSON, as the model wrote it)."""
    data = data or {}
    return len(str(data.get("name", ""))) + len(
        json.dumps(data.get("input"), ensure_ascii=False, default=str)
    )


class OutputMeter:
    """Output tokens per task: the exact count of the last ``usage`` event, plus an estimate
    (``CHARS_PER_TOKEN``) of the text, thinking and tool calls streamed since.

    Streams report output tokens late (Messages: at the end; agents: per
    turn), so between reports the estimate fills in; each report replaces it.
    A report is taken as the task's whole count so far (``task.usage``: in a
    tool loop, every round's), not the one request's that the event holds.
    """

    __slots__ = ("chars_per_token", "_usage", "_chars")

    def __init__(self, chars_per_token: float = CHARS_PER_TOKEN) -> None:
        self.chars_per_token = check_positive(chars_per_token, "chars_per_token")
        self._usage: dict[Task, Usage] = {}
        self._chars: dict[Task, int] = {}

    def observe(self, task: Task, event) -> bool:
        """Take ``event`` into account; True when the task's count may have changed."""
        kind = event.type
        if kind == TEXT or kind == THINKING:
            self._chars[task] = self._chars.get(task, 0) + len(event.text)
            return True
        if kind == TOOL_USE:  # the call's input is generated output too, billed before its report arrives
            self._chars[task] = self._chars.get(task, 0) + tool_use_chars(event.data)
            return True
        if kind == USAGE:
            self._usage[task] = getattr(task, "usage", None) or event.data
            self._chars[task] = 0
            return True
        return False

    def settle(self, task: Task, usage: Usage, *, complete: bool) -> None:
        """Record a finished task's final usage (exact, or with the engine's estimate of its unreported output)."""
        self._usage[task] = usage
        self._chars[task] = 0

    def estimated(self, task: Task) -> int:
        """Output tokens streamed since the last usage report (an estimate)."""
        return math.ceil(self._chars.get(task, 0) / self.chars_per_token)

    def any_estimated(self) -> bool:
        """True when some task's count includes an estimate."""
        return any(self._chars.values())

    def usage(self, task: Task) -> Usage:
        """``task``'s usage with the estimate added to its output tokens."""
        usage = self._usage.get(task) or Usage()
        extra = self.estimated(task)
        if not extra:
            return usage
        return Usage(
            usage.input_tokens,
            usage.output_tokens + extra,
            usage.cache_read_input_tokens,
            usage.cache_creation_input_tokens,
        )

    def clear(self) -> None:
        """Forget every task (a new run)."""
        self._usage.clear()
        self._chars.clear()


class RunningTotal:
    """A sum over tasks that is updated in O(1) when one task's share changes."""

    __slots__ = ("total", "_shares")

    def __init__(self) -> None:
        self.total = 0.0
        self._shares: dict[Task, float] = {}

    def set(self, task: Task, share: float) -> float:
        """Set ``task``'s share; return the new total."""
        self.total += share - self._shares.get(task, 0.0)
        self._shares[task] = share
        return self.total

    def clear(self) -> None:
        """Back to zero (a new run)."""
        self.total = 0.0
        self._shares.clear()
