"""A conversation on a :class:`~mac_core.Coordinator`: :class:`Thread` sends turns and forks continuations.

Every turn is one task of an ordinary run (``Coordinator.arun``) whose
request carries the whole history as ``messages``, so the coordinator's
plugins apply to it: reporters show it, policies and budgets see its events
and may stop it, an :class:`~mac_core.InterruptToken` stops it, and a prompt's
Python tools run in a tool loop (:mod:`mac_core.tool_loop`).

Caching (``cache=True``): the system prompt is marked, and the newest block of
each request is a cache breakpoint. The API's look-back (about 20 blocks
before a breakpoint) then finds the prefix the previous turn wrote, so each
turn reads the whole history before it from the cache and writes only what is
new (``TaskResult.usage.cache_read_input_tokens``). A turn that added more
blocks than :data:`ANCHOR_AFTER_BLOCKS` (a long tool loop) gets a second
breakpoint on that earlier prefix, which the look-back would not reach.

What a turn leaves in the history: a completed turn adds the user message and
the answer (with a tool loop's ``tool_use`` and ``tool_result`` exchange). An
interrupted turn follows ``keep_interrupted``: ``"partial"`` (the default)
keeps what was received, cut back to the longest part the API accepts (text,
and only tool calls whose results came back); ``"drop"`` leaves no trace. A
failed or cancelled turn leaves no trace, so sending the same text again
retries it. A turn with nothing the API would accept as an answer (no text)
leaves no trace either: the history always alternates user and assistant and
ends with an answer.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .bridge import run_sync
from .history import (
    Message,
    TurnRecorder,
    block_count,
    check_encodable,
    checked_history,
    settled,
    user_message,
    with_breakpoints,
)
from .interrupt import InterruptToken
from .prompts import (
    build_tasks,
    check_max_tokens,
    check_model,
    check_positive_int,
    check_temperature,
    system_blocks,
)
from .results import COMPLETED, INTERRUPTED, TaskResult

if TYPE_CHECKING:
    from .coordinator import Coordinator

KEEP_PARTIAL = "partial"  #: an interrupted turn keeps what it received (what the API accepts of it)
DROP = "drop"  #: an interrupted turn leaves no trace in the history
KEEP_INTERRUPTED = (KEEP_PARTIAL, DROP)

#: New blocks after the prefix the last turn cached beyond which a request marks that prefix too
#: (the API's look-back reaches about 20 blocks; this stays well inside it).
ANCHOR_AFTER_BLOCKS = 15

#: Run parameters a thread sets itself; a turn may not override them.
_THREAD_OWNED = {
    "messages": "the thread sends its history",
    "prompt": "the text is send()'s first argument",
    "system": "the system prompt is the thread's (Coordinator.thread(system=...))",
    "cache_shared_system": "caching is the thread's (cache=)",
    "transport": "the transport is the thread's (Coordinator.thread(transport=...))",
    "transport_options": "transport options are the thread's",
    "callbacks": "use on_text=",
    "max_concurrency": "it applies to fork() only",
}


def _checked_text(text: Any, where: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{where} must be a string, not {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"{where} is empty")
    return check_encodable(text, where)


def _checked_options(options: Mapping[str, Any], where: str) -> dict[str, Any]:
    for name in options:
        if name in _THREAD_OWNED:
            raise TypeError(f"{where} does not take {name}=: {_THREAD_OWNED[name]}")
    return dict(options)


@dataclass
class _Fork:
    """What :meth:`Thread.adopt` needs of one fork's result."""

    result: TaskResult
    turn: list[Message]
    version: int
    marked: int | None  # the history message the fork's request marked, if any


class Thread:
    """A conversation: :meth:`send` a turn (appended to the history), :meth:`fork` continuations (not appended).

    Made by :meth:`Coordinator.thread <mac_core.Coordinator.thread>`; every
    parameter is optional.

    :param system: the system prompt (a string or text blocks).
    :param model, max_tokens, temperature: for every turn (else the coordinator's defaults).
    :param cache: mark the system prompt and the growing history for prompt
        caching, so each turn and every fork reads the history before it from
        the cache (default on).
    :param transport: a transport that sends ``messages`` (``"stream"``, the
        default, ``"messages"`` or ``"batch"``).
    :param keep_interrupted: what an interrupted turn leaves in the history:
        ``"partial"`` (default: the text received, and tool calls whose
        results came back) or ``"drop"`` (nothing).
    :param max_concurrency: forks in flight at once (default 5).
    :param history: a conversation to continue: alternating ``user`` and
        ``assistant`` messages, ending with an answer.
    :param transport_options: settings for the transport.
    :param options: request options for every turn, as for ``Coordinator.run``
        (``tools=``, ``max_tool_rounds=``, ``output=``, ``stop_sequences=``…).

    One :meth:`send` at a time: a second one while a turn is in flight raises
    ``RuntimeError`` (the history it would build on is not settled yet).
    :meth:`fork` may run while a turn is in flight: it continues the history
    as it was when the fork started.
    """

    def __init__(
        self,
        coordinator: Coordinator,
        *,
        system: Any = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        cache: bool = True,
        transport: str = "stream",
        keep_interrupted: str = KEEP_PARTIAL,
        max_concurrency: int = 5,
        history: Sequence[Mapping[str, Any]] = (),
        transport_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        entry = coordinator.transports.get(transport) if isinstance(transport, str) else None
        if entry is None:
            raise ValueError(
                f"unknown transport {transport!r} (installed: {', '.join(sorted(coordinator.transports))})"
            )
        if "messages" not in entry.transport.task_options:
            raise ValueError(
                f"a thread needs a transport that sends a conversation (stream, messages); {transport!r} does not"
            )
        if not isinstance(cache, bool):
            raise TypeError(f"cache must be True or False, not {type(cache).__name__}")
        if keep_interrupted not in KEEP_INTERRUPTED:
            raise ValueError(f"keep_interrupted must be 'partial' or 'drop', got {keep_interrupted!r}")
        self.system = system_blocks(system, "system")  # checked now; marked for the cache per request
        self.model = check_model(model, "thread") if model is not None else None
        self.max_tokens = check_max_tokens(max_tokens, "thread") if max_tokens is not None else None
        self.temperature = check_temperature(temperature, "thread")
        self.cache = cache
        self.transport = transport
        self.keep_interrupted = keep_interrupted
        self.max_concurrency = check_positive_int(max_concurrency, "max_concurrency")
        self._coordinator = coordinator
        self._transport_options = transport_options
        self._options = _checked_options(options, "Coordinator.thread()")
        # Every request option is checked once here, before any turn is sent.
        build_tasks(
            ["(check)"],
            model=self.model or "check",
            max_tokens=self.max_tokens or 1,
            task_options=entry.transport.task_options,
            options=self._options,
        )
        self._history = checked_history(history)
        self._anchor: int | None = None  # the history message whose end the last request cached
        self._version = 0  # moves each time the history grows
        self._sending = threading.Lock()
        self._forks: list[_Fork] = []

    @property
    def history(self) -> list[Message]:
        """A copy of the conversation so far: ``{"role", "content"}`` dicts, content as lists of blocks."""
        return copy.deepcopy(self._history)

    def send(self, text: str, **kwargs: Any) -> TaskResult:
        """Send the next user turn with the whole history, stream the answer, and keep both.

        :param text: the user's message.
        :param on_text: called with each chunk of the answer as it arrives.
        :param interrupt_token: an :class:`~mac_core.InterruptToken` that stops the turn.
        :param plugins: plugins for this turn only (a policy, a reporter).
        :param kwargs: request options for this turn (``output=``, ``tools=``,
            ``max_tokens=``…), over the thread's.
        :return: the turn's :class:`~mac_core.TaskResult`; the history then
            holds it as the module docstring says (completed: kept; interrupted:
            per ``keep_interrupted``; failed: not kept).
        :raises RuntimeError: another :meth:`send` of this thread is in flight.
        """
        _checked_text(text, "send(): text")
        self._coordinator.settings(
            self.transport
        )  # a missing key is raised here, before the event loop starts
        return run_sync(self.asend, text, **kwargs)

    async def asend(
        self,
        text: str,
        *,
        on_text: Callable[[str], Any] | None = None,
        interrupt_token: InterruptToken | None = None,
        plugins: Iterable[object] | None = None,
        **options: Any,
    ) -> TaskResult:
        """The async twin of :meth:`send`."""
        text = _checked_text(text, "send(): text")
        options = _checked_options(options, "send()")
        if not self._sending.acquire(blocking=False):
            raise RuntimeError(
                "this thread is already sending a turn: wait for its result (fork() may run meanwhile)"
            )
        try:
            user = user_message(text)
            messages = [*self._history, user]
            marks = [len(messages) - 1, *self._anchor_mark(messages, len(messages) - 1)] if self.cache else []
            recorder = TurnRecorder()
            (result,) = await self._run(
                [
                    {
                        "prompt": text,
                        "name": f"turn-{len(self._history) // 2 + 1}",
                        "messages": with_breakpoints(messages, marks),
                    }
                ],
                options,
                interrupt_token=interrupt_token,
                plugins=[recorder, *(plugins or ())],
                callbacks=[on_text] if on_text is not None else None,
                max_concurrency=1,
            )
            kept = self._kept([user, *recorder.messages(0)], result)
            if kept:
                if self.cache:
                    self._anchor = len(self._history)  # the user message this request marked
                self._history += kept
                self._version += 1
            return result
        finally:
            self._sending.release()

    def fork(self, prompts: Sequence[str], **kwargs: Any) -> list[TaskResult]:
        """Continue the history with each of ``prompts`` at once; the results are returned, not appended.

        Every fork sends the same history (cached: each reads it from the
        cache; with a system prompt the first fork goes alone until it starts
        answering, so the rest read what it wrote) and its own prompt, which
        is not cached. :meth:`adopt` one result to make it the next turn.

        :param prompts: the user messages, one per continuation.
        :param max_concurrency: forks in flight at once (default: the thread's).
        :param interrupt_token: an :class:`~mac_core.InterruptToken` that stops every fork.
        :param plugins: plugins for these forks only.
        :param kwargs: request options for every fork, over the thread's.
        :return: one :class:`~mac_core.TaskResult` per prompt, in order (named ``fork-0``, ``fork-1``…).
        """
        self._checked_prompts(prompts)
        self._coordinator.settings(self.transport)
        return run_sync(self.afork, prompts, **kwargs)

    async def afork(
        self,
        prompts: Sequence[str],
        *,
        max_concurrency: int | None = None,
        interrupt_token: InterruptToken | None = None,
        plugins: Iterable[object] | None = None,
        **options: Any,
    ) -> list[TaskResult]:
        """The async twin of :meth:`fork`."""
        prompts = self._checked_prompts(prompts)
        options = _checked_options(options, "fork()")
        history, version = (
            list(self._history),
            self._version,
        )  # the history as it is now, whatever a send does
        marked = len(history) - 1 if self.cache and history else None
        marks = [] if marked is None else [marked, *self._anchor_mark(history, marked)]
        base = with_breakpoints(history, marks)
        recorder = TurnRecorder()
        results = await self._run(
            [
                {"prompt": p, "name": f"fork-{i}", "messages": [*base, user_message(p)]}
                for i, p in enumerate(prompts)
            ],
            options,
            interrupt_token=interrupt_token,
            plugins=[recorder, *(plugins or ())],
            max_concurrency=check_positive_int(max_concurrency, "max_concurrency")
            if max_concurrency is not None
            else self.max_concurrency,
        )
        self._forks = [
            _Fork(result, [user_message(prompt), *recorder.messages(i)], version, marked)
            for i, (prompt, result) in enumerate(zip(prompts, results, strict=True))
        ]
        return results

    def adopt(self, result: TaskResult) -> None:
        """Make a result of the latest :meth:`fork` the thread's next turn, as if it had been sent.

        Kept as a sent turn would be (an interrupted fork per ``keep_interrupted``).

        :raises ValueError: ``result`` is not from this thread's latest fork;
            the history grew since that fork; or nothing of it can be kept (it failed).
        :raises RuntimeError: a :meth:`send` is in flight.
        """
        fork = next((f for f in self._forks if f.result is result), None)
        if fork is None:
            raise ValueError("adopt() takes a TaskResult returned by this thread's latest fork()")
        if not self._sending.acquire(blocking=False):
            raise RuntimeError("this thread is sending a turn: adopt a fork once it has its result")
        try:
            if fork.version != self._version:
                raise ValueError(
                    "the history grew since that fork (a send or adopt came after it): fork again"
                )
            kept = self._kept(fork.turn, result)
            if not kept:
                raise ValueError(f"nothing of {result.name} can join the history: it is {result.status}")
            if fork.marked is not None:
                self._anchor = fork.marked
            self._history += kept
            self._version += 1
            self._forks = []
        finally:
            self._sending.release()

    async def _run(
        self, prompts: list[dict[str, Any]], options: dict[str, Any], **run: Any
    ) -> list[TaskResult]:
        """One run of these prompts on the thread's coordinator, transport, system and options."""
        defaults = {"model": self.model, "max_tokens": self.max_tokens, "temperature": self.temperature}
        return await self._coordinator.arun(
            prompts,
            transport=self.transport,
            system=self.system,
            cache_shared_system=self.cache,
            transport_options=self._transport_options,
            **{**defaults, **self._options, **options, **run},
        )

    def _anchor_mark(self, messages: list[Message], breakpoint: int) -> list[int]:
        """The cached prefix to mark too when the look-back from ``messages[breakpoint]`` would not reach it."""
        anchor = self._anchor
        if anchor is None or anchor >= breakpoint:
            return []
        return [anchor] if block_count(messages[anchor + 1 : breakpoint + 1]) > ANCHOR_AFTER_BLOCKS else []

    def _kept(self, turn: list[Message], result: TaskResult) -> list[Message]:
        """What of a turn joins the history: see the module docstring."""
        if result.status == COMPLETED or (
            result.status == INTERRUPTED and self.keep_interrupted == KEEP_PARTIAL
        ):
            return settled(turn)
        return []

    @staticmethod
    def _checked_prompts(prompts: Any) -> list[str]:
        if isinstance(prompts, (str, bytes)) or not isinstance(prompts, Sequence):
            raise TypeError(f"fork() takes a list of prompt strings, not {type(prompts).__name__}")
        if not prompts:
            raise ValueError("fork() needs at least one prompt")
        return [_checked_text(p, f"fork(): prompts[{i}]") for i, p in enumerate(prompts)]

    def __repr__(self) -> str:
        return f"<Thread {len(self._history) // 2} turns on {self.transport!r}, cache={'on' if self.cache else 'off'}>"
