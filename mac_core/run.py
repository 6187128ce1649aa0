"""The live objects hooks see: :class:`Task` (one prompt in flight) and :class:`Run` (one fan-out)."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .results import CHARS_PER_TOKEN, Usage

PENDING = "pending"
#: How many times a tool loop runs the model's tool calls unless a prompt or run says ``max_tool_rounds``.
DEFAULT_MAX_TOOL_ROUNDS = 10
RUNNING = "running"


class Task:
    """One prompt of a run, as it executes.

    Read-only for plugins, except :meth:`interrupt`. The engine moves a task
    along with :meth:`begin`, the ``add_*``/``record_*`` methods and :meth:`end`.

    :ivar index: position in the run's prompts.
    :ivar name: a label for reporters (``"task-3"`` unless the prompt gave ``name``).
    :ivar id: the caller's id for the prompt, if any.
    :ivar prompt: the user message.
    :ivar system: the system prompt (a string or a list of text blocks), or ``None``.
    :ivar model, max_tokens, temperature: the request's parameters.
    :ivar options: further request parameters the transport accepts (``tools``…).
    :ivar status: ``pending``, ``running``, then a terminal status.
    :ivar usage: the latest token counts the far side reported.
    :ivar tool_calls: the tools the model called so far, as ``{"id", "name", "input"}`` dicts; in a
        tool loop each also gets ``output`` or ``error``, ``started_at`` and ``duration`` as it runs
        (:attr:`TaskResult.tool_calls <mac_core.results.TaskResult.tool_calls>`).
    :ivar tool_functions: the prompt's tools that are Python functions (:class:`~mac_core.tools.Tool`),
        by name; when there are any the engine runs a tool loop (:mod:`mac_core.tool_loop`).
    :ivar max_tool_rounds: the most times a tool loop runs the model's tool calls and sends the results back.
    :ivar tool_rounds: how many times it has done so.
    :ivar primes_cache: the run sends this task alone first and the others once
        it has started answering, so they read the prompt cache it writes; a
        transport that can tell early (a streamed ``message_start``) should.
    """

    __slots__ = (
        "index", "name", "id", "prompt", "system", "model", "max_tokens", "temperature",
        "options", "on_text", "status", "usage", "started_at", "first_event_at",
        "interrupt_reason", "tool_calls", "primes_cache", "_text", "_thinking", "_reported_chars", "_cancel",
        "tool_functions", "max_tool_rounds", "tool_rounds", "_answer_start",
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
        tool_functions: dict[str, Any] | None = None,
        max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS,
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
        self.tool_calls: list[dict[str, Any]] = []
        self.primes_cache = False
        self._text = ""
        self._thinking = ""
        self._reported_chars = 0  # len(text) + len(thinking) at the last usage report
        self._cancel: Callable[[], None] | None = None
        self.tool_functions: dict[str, Any] = tool_functions or {}
        self.max_tool_rounds = max_tool_rounds
        self.tool_rounds = 0
        self._answer_start = 0  # where in _text the model's latest response begins

    @property
    def text(self) -> str:
        """The text received so far; cheap to read on every event."""
        return self._text

    @property
    def answer(self) -> str:
        """The text of the model's latest response: :attr:`text` without the tool loop's earlier rounds."""
        return self._text[self._answer_start:] if self._answer_start else self._text

    @property
    def thinking(self) -> str:
        """The extended-thinking text received so far (empty when thinking was off)."""
        return self._thinking

    @property
    def stopped(self) -> bool:
        """True once the task was asked to stop; no later event reaches it or any hook."""
        return self.interrupt_reason is not None

    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop this task: its request in flight is cancelled, its text so far kept."""
        if self.interrupt_reason is None:
            self.interrupt_reason = reason
        if self._cancel is not None:
            self._cancel()

    # --- what the engine calls -------------------------------------------------

    def begin(self, cancel: Callable[[], None]) -> None:
        """The task starts running; ``cancel()`` stops its request in flight."""
        self.status = RUNNING
        self.started_at = time.time()
        self._cancel = cancel

    def add_text(self, chunk: str) -> None:
        """Append a chunk of the answer."""
        text = self._text
        self._text = ""  # drop the attribute's reference: CPython then appends in place, not by copying
        text += chunk
        self._text = text

    def add_thinking(self, chunk: str) -> None:
        """Append a chunk of extended thinking."""
        thinking = self._thinking
        self._thinking = ""
        thinking += chunk
        self._thinking = thinking

    def record_usage(self, usage: Usage) -> Usage:
        """Take the task's latest counts (a tool loop adds its earlier rounds' first); return how much they grew."""
        grown = usage - self.usage
        self.usage = usage
        self._reported_chars = len(self._text) + len(self._thinking)
        return grown

    def usage_so_far(self) -> Usage:
        """:attr:`usage` plus an estimate of the output since its last report (``estimated`` then set).

        Streams report output tokens late; a task that stops before the final
        count was still billed for what it received: ``CHARS_PER_TOKEN``
        characters a token, rounded up, as the budget policies count it.
        """
        unreported = len(self._text) + len(self._thinking) - self._reported_chars
        if not unreported:
            return self.usage
        return self.usage.with_estimated_output(math.ceil(unreported / CHARS_PER_TOKEN))

    def next_round(self) -> None:
        """A tool loop sends its next request: :attr:`answer` starts afresh."""
        self.tool_rounds += 1
        self._answer_start = len(self._text)

    def end(self, status: str) -> None:
        """The task reached a terminal ``status``; nothing can cancel it any more."""
        self.status = status
        self._cancel = None

    def __repr__(self) -> str:
        return f"<Task {self.index} {self.name!r} {self.status}>"


class RunControl(Protocol):
    """What a run in progress can be asked to do; the engine attaches one (:meth:`Run.attach`)."""

    def stop(self, reason: str) -> None:
        """Stop every task in flight and start no new one."""

    def start_background(self, async_fn: Callable[[], Awaitable[Any]]) -> None:
        """Run ``async_fn()`` alongside the tasks until the run ends."""


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
        self._control: RunControl | None = None

    @property
    def stopping(self) -> bool:
        """True once the run was asked to stop."""
        return self.interrupt_reason is not None

    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop the whole run: cancel every request in flight, start no new one."""
        if self._control is not None:
            self._control.stop(reason)
        elif self.interrupt_reason is None:
            self.interrupt_reason = reason

    def start_background(self, async_fn: Callable[[], Awaitable[Any]]) -> None:
        """Run ``async_fn()`` alongside the tasks; it is cancelled when the run ends.

        For plugins that act on time rather than events (a deadline, a stall
        watchdog). Call it from ``mac_run_started``.
        """
        if self._control is None:
            raise RuntimeError("start_background is only available while the run is active")
        self._control.start_background(async_fn)

    # --- what the engine calls -------------------------------------------------

    def attach(self, control: RunControl | None) -> None:
        """The engine hands in the run's controls while it executes, and ``None`` when it ends."""
        self._control = control

    def mark_stopping(self, reason: str) -> bool:
        """Record why the run stops; False if it was already stopping."""
        if self.interrupt_reason is not None:
            return False
        self.interrupt_reason = reason
        return True

    def add_usage(self, grown: Usage) -> None:
        """Add a task's newly reported tokens to the run's totals."""
        self.usage = self.usage + grown

    def __repr__(self) -> str:
        return f"<Run {self.id} transport={self.transport!r} tasks={len(self.tasks)}>"
