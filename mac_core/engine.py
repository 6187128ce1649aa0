"""The async engine: one run is one task group; every task ends in one terminal state.

Workers (as many as the concurrency limit) pull tasks in input order. Each
task runs in its own cancel scope, so stopping a task or the run cancels the
requests in flight at their next ``await``: the transport's ``async with``
closes the connection, the text received so far is kept, and the task is
``interrupted``. Tasks no worker reached are ``cancelled``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
import anyio.lowlevel

from .events import TEXT, USAGE, Event
from .interrupt import RUN, Interrupt, InterruptToken
from .plugins import RunHooks, contain
from .results import CANCELLED, COMPLETED, FAILED, INTERRUPTED, TaskResult, known_error_type
from .run import RUNNING, Run, Task
from .transport import Completion, Emit, Transport, TransportError

log = logging.getLogger("mac_core.engine")


async def execute(
    run: Run,
    transport: Transport,
    hooks: RunHooks,
    *,
    max_concurrency: int,
    interrupt_token: InterruptToken | None = None,
    prime_cache: bool = False,
) -> list[TaskResult]:
    """Run every task of ``run`` on ``transport``; return their results in input order.

    :param prime_cache: send the first task alone and release the others on
        its first event (or its end), so they read the prompt cache it writes.
    """
    tasks = run.tasks
    results: list[TaskResult | None] = [None] * len(tasks)
    gate = anyio.Event() if prime_cache and len(tasks) > 1 else None
    token = interrupt_token

    def stop(reason: str) -> None:
        if run.interrupt_reason is not None:
            return
        run.interrupt_reason = reason
        log.debug("run %s stopping: %s", run.id, reason)
        for task in tasks:
            if task.status == RUNNING:
                task.interrupt(reason)
        if gate is not None:
            gate.set()

    def finish(task: Task, result: TaskResult) -> None:
        task.status = result.status
        results[task.index] = result
        if hooks.task_finished is not None:
            hooks.task_finished(task, result)

    def result_of(task: Task, status: str, **fields: Any) -> TaskResult:
        fields.setdefault("text", task.text)
        fields.setdefault("usage", task.usage)
        return TaskResult(
            index=task.index,
            name=task.name,
            id=task.id,
            status=status,
            transport=run.transport,
            started_at=task.started_at,
            finished_at=time.time(),
            first_event_at=task.first_event_at,
            model=task.model,
            **fields,
        )

    def apply(task: Task, verdict: tuple[str, Any]) -> None:
        plugin, decision = verdict
        if not isinstance(decision, Interrupt):
            reason = decision if isinstance(decision, str) else f"stopped by {plugin}"
            decision = Interrupt(reason=reason, scope=RUN)
        log.debug("plugin %s interrupts %s (%s): %s", plugin, decision.scope, task.name, decision.reason)
        task.interrupt(decision.reason)
        if decision.scope == RUN:
            stop(decision.reason)

    def make_emit(task: Task) -> Emit:
        on_text = task.on_text
        task_event = hooks.task_event
        decide = hooks.should_interrupt
        watch = hooks.watch
        callback_label = f"the callback of {task.name}"

        def emit(event: Event) -> None:
            if task.first_event_at is None:
                task.first_event_at = time.time()
                if gate is not None:
                    gate.set()
            kind = event.type
            if kind == TEXT:
                task.add_text(event.text)
                if on_text is not None:
                    watch.running = (callback_label,)  # named in a warning if it holds the loop
                    try:
                        on_text(event.text)
                    except BaseException as exc:  # SystemExit, CancelledError too: see plugins.contain
                        contain(exc, f"callback of {task.name} raised")
                    watch.running = None
            elif kind == USAGE:
                run.usage = run.usage + (event.data - task.usage)
                task.usage = event.data
            if task_event is not None:
                task_event(task, event)
            if decide is not None:
                verdict = decide(task, event, run)
                if verdict is not None:
                    apply(task, verdict)

        return emit

    def completed(task: Task, completion: Completion) -> TaskResult:
        if completion.usage is not None and completion.usage != task.usage:
            run.usage = run.usage + (completion.usage - task.usage)
            task.usage = completion.usage
        text = completion.text if completion.text is not None else task.text
        return result_of(
            task,
            COMPLETED,
            text=text,
            stop_reason=completion.stop_reason,
            request_id=completion.request_id,
            cost_usd=completion.cost_usd,
        )

    def failed(task: Task, exc: Exception) -> TaskResult:
        if isinstance(exc, TransportError):
            return result_of(
                task, FAILED, error=str(exc), request_id=exc.request_id, status_code=exc.status_code,
                error_type=known_error_type(exc.error_type), retries=exc.retries,
            )
        log.debug("task %s raised", task.name, exc_info=exc)
        return result_of(task, FAILED, error=f"{type(exc).__name__}: {exc}", error_type="error")

    async def run_one(task: Task) -> None:
        task.status = RUNNING
        task.started_at = time.time()
        if hooks.task_started is not None:
            hooks.task_started(task)
        result = None
        try:
            with anyio.CancelScope() as scope:
                task._cancel = scope.cancel
                if task.interrupt_reason is not None:  # stopped while a hook ran: never send the request
                    scope.cancel()
                try:
                    await anyio.lowlevel.checkpoint()  # where that cancellation lands, before the transport runs
                    completion = await transport.run_task(task, make_emit(task))
                except Exception as exc:
                    # An error raised while unwinding our own cancellation is the interrupt, not a failure.
                    if not scope.cancel_called:
                        result = failed(task, exc)
                else:
                    result = completed(task, completion)
            task._cancel = None
            if result is None:
                result = result_of(task, INTERRUPTED, interrupt_reason=task.interrupt_reason or "interrupted")
        finally:
            if result is None:  # cancelled from outside: the caller cancelled the run (Ctrl-C)
                result = result_of(task, INTERRUPTED, interrupt_reason="run cancelled")
            finish(task, result)

    pending = iter(tasks)

    async def worker(wait_for_gate: bool) -> None:
        if wait_for_gate:
            await gate.wait()  # type: ignore[union-attr]
        for task in pending:
            if token is not None and token.is_interrupted():
                stop(token.reason or "interrupted")
            if run.interrupt_reason is not None:
                return
            await run_one(task)

    unwatch = token.watch(stop) if token is not None else None
    if token is not None and token.is_interrupted():
        stop(token.reason or "interrupted")
    run._stop = stop
    try:
        async with anyio.create_task_group() as background:
            run._start_background = background.start_soon
            if hooks.run_started is not None:
                hooks.run_started(run)
            if run.interrupt_reason is None:
                try:
                    await transport.open()
                except Exception as exc:
                    log.debug("transport %s failed to open", run.transport, exc_info=exc)
                    for task in tasks:
                        finish(task, failed(task, exc))
                else:
                    try:
                        # A batching transport needs every task in hand to group them; its far side queues.
                        slots = len(tasks) if transport.batches else min(max_concurrency, len(tasks))
                        async with anyio.create_task_group() as workers:
                            for i in range(slots):
                                workers.start_soon(worker, gate is not None and i > 0)
                    finally:
                        with anyio.move_on_after(5, shield=True):  # closing must not hang a stop
                            await transport.aclose()
            background.cancel_scope.cancel()
    finally:
        run._stop = None
        run._start_background = None
        if unwatch is not None:
            unwatch()
        reason = run.interrupt_reason or "run cancelled"
        for task in tasks:
            if results[task.index] is None:
                finish(task, result_of(task, CANCELLED, interrupt_reason=reason))
        if hooks.run_finished is not None:
            hooks.run_finished(run, results)
    return results  # type: ignore[return-value]
