"""The live objects hooks see: :class:`Task` (one prompt in flight) and :class:`Run` (one fan-out)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from .results import Usage

PENDING = "pending"
RUNNING = "running"


class Task:
    """One prompt of a run, as it executes.

    Read-only for plugins, except :meth:`interrupt`.

    :ivar index: position in the run's prompts.
    :ivar name: a label for reporters (``"task-3"`` unless the prompt gave ``name``).
    :ivar id: the caller's id for the prompt, if any.
    :ivar prompt: the user message.
    :ivar system: the system prompt (a string or a list of text blocks), or ``None``.
    :ivar model, max_tokens, temperature: the request's parameters.
    :ivar options: further request parameters the transport accepts (``tools``…).
    :ivar status: ``pending``, ``running``, then a terminal status.
    :ivar usage: the latest token counts.
    """

    __slots__ = (
        "index", "name", "id", "prompt", "system", "model", "max_tokens", "temperature",
        "options", "on_text", "status", "usage", "started_at", "first_event_at",
        "interrupt_reason", "_parts", "_text", "_cancel",
    )

    def __init__(
        self,
        index: int,
        prompt: str,
        *,
        model: str,
        max_tokens: int,
        name: str | None = None,
        id: str | None = None,
        system: Any = None,
        temperature: float | None = None,
        options: dict[str, Any] | None = None,
        on_text: Callable[[str], Any] | None = None,
    ) -> None:
        self.index = index
        self.name = name or f"task-{index}"
        self.id = id
        self.prompt = prompt
        self.system = system
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.options = options or {}
        self.on_text = on_text
        self.status = PENDING
        self.usage = Usage()
        self.started_at: float | None = None
        self.first_event_at: float | None = None
        self.interrupt_reason: str | None = None
        self._parts: list[str] = []
        self._text: str | None = ""
        self._cancel: Callable[[], None] | None = None

    @property
    def text(self) -> str:
        """The text received so far."""
        if self._text is None:
            self._text = "".join(self._parts)
        return self._text

    def add_text(self, chunk: str) -> None:
        """Append a chunk (the engine calls this for ``text`` events)."""
        self._parts.append(chunk)
        self._text = None

    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop this task: its request in flight is cancelled, its text so far kept."""
        if self.interrupt_reason is None:
            self.interrupt_reason = reason
        if self._cancel is not None:
            self._cancel()

    def __repr__(self) -> str:
        return f"<Task {self.index} {self.name!r} {self.status}>"


class Run:
    """One call of ``Coordinator.run``: a set of tasks under one transport.

    :ivar id: a short unique id.
    :ivar transport: the transport's name.
    :ivar tasks: every :class:`Task`, in input order.
    :ivar usage: token totals over all tasks so far.
    :ivar interrupt_reason: why the run was stopped early, or ``None``.
    :ivar started_at: ``time.time()`` at start.
    """

    def __init__(self, tasks: list[Task], transport: str) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.transport = transport
        self.tasks = tasks
        self.usage = Usage()
        self.interrupt_reason: str | None = None
        self.started_at = time.time()
        self._stop: Callable[[str], None] | None = None
        self._start_background: Callable[[Callable[[], Awaitable[Any]]], None] | None = None

    @property
    def stopping(self) -> bool:
        """True once the run was asked to stop."""
        return self.interrupt_reason is not None

    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop the whole run: cancel every request in flight, start no new one."""
        if self._stop is not None:
            self._stop(reason)
        elif self.interrupt_reason is None:
            self.interrupt_reason = reason

    def start_background(self, async_fn: Callable[[], Awaitable[Any]]) -> None:
        """Run ``async_fn()`` alongside the tasks; it is cancelled when the run ends.

        For plugins that act on time rather than events (a deadline, a stall
        watchdog). Call it from ``mac_run_started``.
        """
        if self._start_background is None:
            raise RuntimeError("start_background is only available while the run is active")
        self._start_background(async_fn)

    def __repr__(self) -> str:
        return f"<Run {self.id} transport={self.transport!r} tasks={len(self.tasks)}>"
