"""The async engine: one run is one task group; every task ends in one terminal state.

:func:`execute` hands a run to a :class:`RunExecution`, which owns what is
run-wide: the task group, the workers (as many as the concurrency limit,
pulling tasks in input order), the cache-priming gate and the stop. Each task
is carried by a :class:`~mac_core.task_runner.TaskRunner` in its own cancel
scope, so stopping a task or the run cancels its request in flight at the
next ``await``: the transport's ``async with`` closes the connection, the text
received so far is kept, and the task is ``interrupted``. Tasks no worker
reached are ``cancelled``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import TaskGroup

from .interrupt import InterruptToken
from .plugins import RunHooks
from .rate_limits import RequestScheduler, ScheduledRequests
from .results import CANCELLED, TaskResult
from .run import RUNNING, Run, Task
from .task_runner import TaskRunner, failed_result, task_result
from .transport import Transport

log = logging.getLogger("mac_core.engine")

TRANSPORT_CLOSE_TIMEOUT = 5.0
"""Seconds a transport has to close its clients when a run ends: closing must not hang a stop."""


async def execute(
    run: Run,
    transport: Transport,
    hooks: RunHooks,
    *,
    max_concurrency: int,
    interrupt_token: InterruptToken | None = None,
    prime_cache: bool = False,
    scheduler: RequestScheduler | None = None,
) -> list[TaskResult]:
    """Run every task of ``run`` on ``transport``; return their results in input order.

    :param prime_cache: send the first task alone and release the others once
        it starts answering or ends (in any state), so they read the prompt
        cache it writes.
    :param scheduler: admits each request of a ``rate_limited`` transport to
        its model's rate limits and sends a 429 or 529 again
        (:mod:`mac_core.rate_limits`); ``None``: requests go at once.
    """
    execution = RunExecution(
        run, transport, hooks, max_concurrency=max_concurrency, token=interrupt_token, prime_cache=prime_cache,
        scheduler=scheduler,
    )
    return await execution.execute()


class RunExecution:
    """One run in progress: its task group, workers, cache-priming gate and stop.

    It is the run's :class:`~mac_core.run.RunControl` (``run.interrupt()`` and
    ``run.start_background()`` land here) while it executes.
    """

    def __init__(
        self,
        run: Run,
        transport: Transport,
        hooks: RunHooks,
        *,
        max_concurrency: int,
        token: InterruptToken | None,
        prime_cache: bool,
        scheduler: RequestScheduler | None = None,
    ) -> None:
        self.run = run
        self.transport = transport
        #: what sends a task's requests: the transport, or the transport behind the rate-limit scheduler
        self.requests: Transport | ScheduledRequests = transport
        if scheduler is not None and transport.rate_limited:
            self.requests = ScheduledRequests(transport, scheduler, transport.settings.max_retries, hooks.task_waiting)
        self.hooks = hooks
        self.token = token
        self.results: list[TaskResult | None] = [None] * len(run.tasks)
        # A batching transport needs every task in hand to group them; its far side queues.
        self.slots = len(run.tasks) if transport.batches else min(max_concurrency, len(run.tasks))
        self.gate = anyio.Event() if prime_cache and len(run.tasks) > 1 else None
        if self.gate is not None:
            run.tasks[0].primes_cache = True
        self._pending = iter(run.tasks)
        self._background: TaskGroup | None = None

    # --- the run, top to bottom ------------------------------------------------

    async def execute(self) -> list[TaskResult]:
        """Start, run every task, finish; every task has its result even if the caller cancels."""
        run = self.run
        unwatch = self.token.watch(self.stop) if self.token is not None else None
        if self.token is not None and self.token.is_interrupted():
            self.stop(self.token.reason or "interrupted")
        run.attach(self)
        try:
            async with anyio.create_task_group() as background:
                self._background = background
                if self.hooks.run_started is not None:
                    self.hooks.run_started(run)
                if not run.stopping:
                    await self._run_on_open_transport()
                background.cancel_scope.cancel()
        finally:
            run.attach(None)
            self._background = None
            if unwatch is not None:
                unwatch()
            reason = run.interrupt_reason or "run cancelled"
            for task in run.tasks:
                if self.results[task.index] is None:
                    self.finish(task, task_result(task, run, CANCELLED, transport=self.transport,
                                                  interrupt_reason=reason))
            if self.hooks.run_finished is not None:
                self.hooks.run_finished(run, self.results)
        return self.results  # type: ignore[return-value]

    async def _run_on_open_transport(self) -> None:
        try:
            await self.transport.open()
        except Exception as exc:
            log.debug("transport %s failed to open", self.run.transport, exc_info=exc)
            for task in self.run.tasks:
                self.finish(task, failed_result(task, self.run, exc, transport=self.transport))
            return
        try:
            async with anyio.create_task_group() as workers:
                for slot in range(self.slots):
                    workers.start_soon(self._worker, self.gate is not None and slot > 0)
        finally:
            with anyio.move_on_after(TRANSPORT_CLOSE_TIMEOUT, shield=True):
                await self.transport.aclose()
                if isinstance(self.requests, ScheduledRequests):
                    await self.requests.aclose()

    async def _worker(self, wait_for_gate: bool) -> None:
        if wait_for_gate:
            await self.gate.wait()  # type: ignore[union-attr]
        for task in self._pending:
            if self.token is not None and self.token.is_interrupted():
                self.stop(self.token.reason or "interrupted")
            if self.run.stopping:
                return
            await TaskRunner(self, task).execute()

    # --- what tasks and plugins call -------------------------------------------

    def finish(self, task: Task, result: TaskResult) -> None:
        """Record ``task``'s terminal result, once; the first task's end opens the priming gate."""
        task.end(result.status)
        self.results[task.index] = result
        self.open_gate()
        if self.hooks.task_finished is not None:
            self.hooks.task_finished(task, result)

    def open_gate(self) -> None:
        """Let the tasks waiting for the cache-priming task go (it answered, ended, or the run stops)."""
        if self.gate is not None:
            self.gate.set()

    def stop(self, reason: str) -> None:
        """Stop the run: interrupt every running task (keeping its text) and start no new one."""
        if not self.run.mark_stopping(reason):
            return
        log.debug("run %s stopping: %s", self.run.id, reason)
        for task in self.run.tasks:
            if task.status == RUNNING:
                task.interrupt(reason)
        self.open_gate()

    def start_background(self, async_fn: Callable[[], Awaitable[Any]]) -> None:
        """Run ``async_fn()`` in the run's task group; it is cancelled when the tasks are done."""
        if self._background is None:
            raise RuntimeError("start_background is only available while the run is active")
        self._background.start_soon(async_fn)
