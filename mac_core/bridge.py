"""The sync API's only link to the engine: run a coroutine function to completion from sync code.

The coroutine runs on an event loop in a helper thread (an anyio blocking
portal), so the same call works from a plain script, from a worker thread and
from inside a running event loop (a Jupyter cell). Ctrl-C in the calling
thread cancels the run (its requests in flight are closed) and re-raises
``KeyboardInterrupt``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from anyio.from_thread import start_blocking_portal

T = TypeVar("T")


def run_sync(async_fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
    """Call ``async_fn(*args, **kwargs)`` on a private event loop and return its result."""
    with start_blocking_portal(backend="asyncio") as portal:
        # On KeyboardInterrupt, leaving the portal cancels the call and waits for its cleanup.
        return portal.call(functools.partial(async_fn, *args, **kwargs))
