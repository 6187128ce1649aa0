"""Stopping work: :class:`InterruptToken` (from anywhere) and :class:`Interrupt` (from a policy)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass

RUN = "run"
TASK = "task"


@dataclass(frozen=True, slots=True)
class Interrupt:
    """A policy's request to stop: ``scope="run"`` stops everything, ``"task"`` just the task."""

    reason: str = "interrupted"
    scope: str = RUN

    def __post_init__(self) -> None:
        if self.scope not in (RUN, TASK):
            raise ValueError(f"Interrupt scope must be 'run' or 'task', not {self.scope!r}")


class InterruptToken:
    """A thread-safe stop button for one or more runs.

    ``interrupt()`` may be called from any thread, from a signal handler or
    from a callback inside the run; every run watching the token is woken at
    once (no polling), cancels its requests in flight, keeps their partial
    text, and starts no new request.
    """

    __slots__ = ("_interrupted", "_reason", "_watchers", "_lock")

    def __init__(self) -> None:
        self._interrupted = False
        self._reason: str | None = None
        # A tuple rebound under the lock, read without it: interrupt() takes no
        # lock, so calling it from a signal handler cannot deadlock.
        self._watchers: tuple[tuple[asyncio.AbstractEventLoop, Callable[[str], None]], ...] = ()
        self._lock = threading.Lock()

    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop every run watching this token (and any run started with it later)."""
        if self._interrupted:
            return
        self._reason = reason
        self._interrupted = True
        for loop, callback in self._watchers:
            try:
                loop.call_soon_threadsafe(callback, reason)
            except RuntimeError:  # that loop has closed; its run is over
                pass

    def is_interrupted(self) -> bool:
        """True once :meth:`interrupt` was called (until :meth:`reset`)."""
        return self._interrupted

    @property
    def reason(self) -> str | None:
        """The reason given to :meth:`interrupt`, or ``None``."""
        return self._reason

    def reset(self) -> None:
        """Make the token usable for a new run."""
        self._interrupted = False
        self._reason = None

    def watch(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(reason)`` on the running loop when interrupted; returns an unwatch function.

        Used by the engine; a callback registered after the interrupt is not
        called (check :meth:`is_interrupted` first).
        """
        entry = (asyncio.get_running_loop(), callback)
        with self._lock:
            self._watchers = self._watchers + (entry,)

        def unwatch() -> None:
            with self._lock:
                self._watchers = tuple(w for w in self._watchers if w is not entry)

        return unwatch

    def __repr__(self) -> str:
        return f"InterruptToken(interrupted={self._interrupted})"
