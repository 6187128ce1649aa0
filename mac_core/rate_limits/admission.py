"""The engine's side of scheduling: each request waits for its budget, and a 429 or 529 is sent again.

A transport that sets ``rate_limited = True`` sends one Messages API request
per ``run_task`` call, reports the response's headers in
``Completion.headers`` (or ``TransportError.headers``) and raises a
:class:`~mac_core.transport.TransportError` with ``status_code`` 429 or 529
when refused, before emitting anything. Its SDK clients do not retry those
two themselves (``ClientSettings.scheduler_retries``): :class:`ScheduledRequests`
does, after the scheduler's wait, so many tasks refused at once do not retry
together.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from ..transport import Completion, Emit, Transport, TransportError
from .buckets import MAX_RETRY_AFTER_SECONDS, retry_after
from .counting import TokenCounter, counted_input_tokens
from .scheduler import RequestScheduler, Reservation

if TYPE_CHECKING:
    from ..run import Task

#: The longest a waiting task sleeps before asking again (answers giving back ``max_tokens`` free room early).
POLL_SECONDS = 0.5
#: The HTTP statuses the scheduler retries: rate limited, overloaded.
REFUSED_STATUSES = frozenset({429, 529})
#: Where the SDK toolkit keeps a refusal's own ``x-should-retry`` (see :mod:`mac_core.anthropic_api`).
SERVER_SHOULD_RETRY = "x-mac-server-should-retry"
#: The request header that says which retry this is, as the SDK's own retries do.
RETRY_COUNT_HEADER = "x-stainless-retry-count"

#: ``notify(task, seconds, reason)``: a task waits ``seconds`` for the limit ``reason`` before sending.
WaitNotice = Callable[["Task", float, str], None]


class ScheduledRequests:
    """A transport's ``run_task``, each call admitted by the scheduler and retried on 429/529.

    It has the one method a tool loop calls, so every round of a tool loop is scheduled too.

    :param transport: the run's transport (``rate_limited``).
    :param scheduler: the run's :class:`RequestScheduler`.
    :param max_retries: how many times a refused request is sent again.
    :param notify: told when a task waits (the ``mac_task_waiting`` hook), or ``None``.
    """

    def __init__(
        self, transport: Transport, scheduler: RequestScheduler, max_retries: int, notify: WaitNotice | None
    ) -> None:
        self.transport = transport
        self.scheduler = scheduler
        self.max_retries = max_retries
        self.notify = notify
        self._counter: TokenCounter | None = None

    async def run_task(self, task: Task, emit: Emit) -> Completion:
        """Send ``task``'s request when its budget allows; send it again after a 429 or 529, up to ``max_retries``."""
        scheduler = self.scheduler
        attempt = 0
        counted = await self._count(task) if scheduler.count_tokens(task.model) else None
        while True:
            reservation = await self._reserve(task, counted)
            if reservation.wait == math.inf:
                raise TransportError(
                    reservation.reason or "the request is larger than its rate limit",
                    error_type="rate_limit_error",
                )
            told = False
            while reservation.wait > 0:  # nothing charged yet: a stop here leaves nothing to give back
                if not told and self.notify is not None:
                    self.notify(task, reservation.wait, reservation.reason or "the rate limit")
                    told = True
                await anyio.sleep(min(reservation.wait, POLL_SECONDS))
                reservation = await self._reserve(task, counted)
            try:
                if attempt:
                    completion = await self._retry(task, emit, attempt)
                else:
                    completion = await self.transport.run_task(task, emit)
            except TransportError as exc:
                if exc.status_code in REFUSED_STATUSES:
                    await _shielded(scheduler.refused(reservation, exc.status_code, exc.headers, attempt))
                    wait = retry_after(exc.headers)
                    if wait is not None and wait > MAX_RETRY_AFTER_SECONDS:
                        exc.args = (
                            f"{exc} (retry-after {wait:.0f} s is longer than the {MAX_RETRY_AFTER_SECONDS:.0f} s "
                            "any per-minute limit takes to refill: not waited for)",
                        )
                    elif attempt < self.max_retries and not task.stopped and _may_retry(exc.headers):
                        attempt += 1
                        continue
                else:
                    await _shielded(scheduler.released(reservation))
                exc.retries = max(exc.retries, attempt)  # a retry's request header already says which it was
                raise
            except BaseException:
                await _shielded(scheduler.released(reservation))
                raise
            await scheduler.answered(reservation, completion.headers, completion.usage)
            completion.retries += attempt
            return completion

    async def _reserve(self, task: Task, counted: int | None) -> Reservation:
        """The scheduler's reservation, charging ``counted`` input tokens if the API counted them."""
        if counted is None:
            return await self.scheduler.reserve(task)
        token = counted_input_tokens.set(counted)
        try:
            return await self.scheduler.reserve(task)
        finally:
            counted_input_tokens.reset(token)

    async def _count(self, task: Task) -> int | None:
        """``count_tokens`` for ``task``'s next request (``None``: use the local estimate)."""
        if self._counter is None:
            self._counter = TokenCounter(self.transport.settings)
        return await self._counter.count(task)

    async def aclose(self) -> None:
        """Close what counting tokens opened (the run's transport is closed by the engine)."""
        if self._counter is not None:
            await self._counter.aclose()

    async def _retry(self, task: Task, emit: Emit, attempt: int) -> Completion:
        """Send again, saying which retry it is in the request's headers (the far side may count them)."""
        options = task.options
        headers = dict(options.get("extra_headers") or {})
        headers[RETRY_COUNT_HEADER] = str(attempt)
        task.options = {**options, "extra_headers": headers}
        try:
            return await self.transport.run_task(task, emit)
        finally:
            task.options = options


async def _shielded(step: Any) -> None:
    """Await the scheduler's bookkeeping even while the task is being cancelled."""
    with anyio.CancelScope(shield=True):
        await step


def _may_retry(headers: Any) -> bool:
    """False when the server said not to retry (a request larger than a whole bucket never fits)."""
    return headers is None or headers.get(SERVER_SHOULD_RETRY) != "false"
