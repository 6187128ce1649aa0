"""The sync API's only link to the engine: run a coroutine function to completion from sync code.

The coroutine runs on an event loop in a helper thread (an anyio blocking
portal), so the same call works from a plain script, from a worker thread and
from inside a running event loop (a Jupyter cell). Ctrl-C in the calling
thread cancels the run (its requests in flight are closed) and re-raises
``KeyboardInterrupt``.

If something holds the event loop (a hook or callback that blocks), that
cancellation cannot land. So from the first Ctrl-C until the run has stopped,
a second Ctrl-C in the main thread ends the process at once with exit status
130: stdout and stderr are flushed, files a plugin flushed stay as written.
This applies only while Python's own SIGINT handler is installed; a program
with its own handler, or calling from another thread, keeps its handling.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from anyio.from_thread import start_blocking_portal

if sys.version_info < (3, 11):  # anyio's own dependency there
    from exceptiongroup import BaseExceptionGroup

T = TypeVar("T")

#: The exit status of a process ended by a second Ctrl-C (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130


def run_sync(async_fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
    """Call ``async_fn(*args, **kwargs)`` on a private event loop and return its result.

    ``KeyboardInterrupt`` or ``SystemExit`` raised inside the call reaches the
    caller as itself, never wrapped in a ``BaseExceptionGroup``.
    """
    armed = False
    try:
        with start_blocking_portal(backend="asyncio") as portal:
            # On KeyboardInterrupt, leaving the portal cancels the call and waits for its cleanup.
            try:
                return portal.call(functools.partial(async_fn, *args, **kwargs))
            except KeyboardInterrupt:
                armed = _exit_on_second_interrupt()
                raise
            except BaseExceptionGroup as group:  # raised in a task of the run (a transport): unwrap it
                exc = _lone_exit(group)
                if exc is None:
                    raise
                raise exc from None
    finally:
        if armed:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _lone_exit(group: BaseExceptionGroup) -> BaseException | None:
    """The ``KeyboardInterrupt`` (else ``SystemExit``) of a group that holds nothing else, or ``None``."""
    exits, rest = group.split((KeyboardInterrupt, SystemExit))
    if exits is None or rest is not None:
        return None
    leaves: list[BaseException] = []
    pending: list[BaseException] = [exits]
    while pending:
        exc = pending.pop()
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(reversed(exc.exceptions))
        else:
            leaves.append(exc)
    return next((e for e in leaves if isinstance(e, KeyboardInterrupt)), leaves[0])


def _exit_on_second_interrupt() -> bool:
    """Make the next SIGINT end the process at once; ``True`` if installed (Python's handler was in place)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return False
    signal.signal(signal.SIGINT, _exit_now)
    return True


def _exit_now(signum: int, frame: Any) -> None:
    """The run did not stop after the first Ctrl-C (its event loop is held): end the process now."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or broken stream must not keep the process alive
            pass
    try:
        os.write(2, b"interrupted again: exiting at once (the run had not stopped)\n")
    except OSError:
        pass
    os._exit(EXIT_INTERRUPTED)
