"""Carrying one task through its transport: its events, its stop, its terminal result.

The per-event path is :meth:`TaskRunner.emit_function`'s closure: it runs for
every streamed event of every task, so it does little and looks nothing up.
Once a task is stopped (by a policy, a token, or the run), no later event of
it reaches its text, its callback, the hooks or the policies: its text ends
with the event that triggered the stop.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

from .events import TEXT, THINKING, TOOL_USE, USAGE, Event
from .interrupt import RUN, Interrupt
from .plugins import contain
from .pricing import cost_usd
from .results import COMPLETED, FAILED, INTERRUPTED, TaskResult, Usage, known_error_type
from .run import Run, Task
from .structured import INVALID_OUTPUT, InvalidOutput, output_schema_of
from .tool_loop import ToolLoop
from .transport import Completion, Emit, Transport, TransportError

if TYPE_CHECKING:
    from .engine import RunExecution

log = logging.getLogger("mac_core.engine")


class TaskRunner:
    """Runs one task on the run's transport and returns its :class:`TaskResult`."""

    def __init__(self, execution: RunExecution, task: Task) -> None:
        self.execution = execution
        self.run = execution.run
        self.transport = execution.transport
        self.hooks = execution.hooks
        self.task = task

    async def execute(self) -> None:
        """Send the task, wait for its end and record its result; cancelled from outside, it ends ``interrupted``."""
        task = self.task
        result: TaskResult | None = None
        try:
            with anyio.CancelScope() as scope:
                task.begin(cancel=scope.cancel)
                if self.hooks.task_started is not None:
                    self.hooks.task_started(task)
                if task.stopped:  # stopped while a hook ran: never send the request
                    scope.cancel()
                try:
                    await anyio.lowlevel.checkpoint()  # where that cancellation lands, before the transport runs
                    requests = self.execution.requests  # the transport, behind the rate-limit scheduler if on
                    if task.tool_functions:  # Python functions as tools: send, run them, send results, repeat
                        completion = await ToolLoop(task, self.run, requests, self.emit_function()).complete()
                    else:
                        completion = await requests.run_task(task, self.emit_function())
                except Exception as exc:
                    # An error raised while unwinding our own cancellation is the interrupt, not a failure.
                    if not scope.cancel_called:
                        result = failed_result(task, self.run, exc, transport=self.transport)
                else:
                    result = self._finished(completion)
        finally:
            if result is None:  # our scope was cancelled (a stop), or the caller cancelled the run (Ctrl-C)
                result = self._result(INTERRUPTED, interrupt_reason=task.interrupt_reason or "run cancelled")
            self.execution.finish(task, result)

    def emit_function(self) -> Emit:
        """The ``emit(event)`` the transport calls for each event of this task."""
        task, run = self.task, self.run
        on_text = task.on_text
        task_event = self.hooks.task_event
        decide = self.hooks.should_interrupt
        watch = self.hooks.watch
        open_gate = self.execution.open_gate if task.primes_cache else None
        callback_label = f"the callback of {task.name}"

        def emit(event: Event) -> None:
            kind = event.type
            if task.interrupt_reason is not None:  # a stop is a stop; only the bill is still counted
                if kind == USAGE:
                    run.add_usage(task.record_usage(event.data))
                return
            if task.first_event_at is None:
                task.first_event_at = time.time()
                if open_gate is not None:
                    open_gate()
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
                run.add_usage(task.record_usage(event.data))
            elif kind == THINKING:
                task.add_thinking(event.text)
            elif kind == TOOL_USE:
                task.tool_calls.append(dict(event.data))  # its own record: a tool loop adds the outcome to it
            if task_event is not None:
                task_event(task, event)
            if decide is not None:
                verdict = decide(task, event, run)
                if verdict is not None:
                    self._apply(verdict)

        return emit

    def _apply(self, verdict: tuple[str, Any]) -> None:
        plugin, decision = verdict
        if not isinstance(decision, Interrupt):
            reason = decision if isinstance(decision, str) else f"stopped by {plugin}"
            decision = Interrupt(reason=reason, scope=RUN)
        log.debug("plugin %s interrupts %s (%s): %s", plugin, decision.scope, self.task.name, decision.reason)
        self.task.interrupt(decision.reason)
        if decision.scope == RUN:
            self.execution.stop(decision.reason)

    def _finished(self, completion: Completion) -> TaskResult:
        """The transport returned: ``completed``, or ``interrupted`` if a stop came during its last event.

        A task with ``output=`` completes with its answer parsed (``parsed``),
        or fails with ``error_type="invalid_output"`` when the answer does not conform.
        """
        task = self.task
        if completion.usage is not None and completion.usage != task.usage:
            self.run.add_usage(task.record_usage(completion.usage))
        common = {
            "stop_reason": completion.stop_reason,
            "request_id": completion.request_id,
            "retries": completion.retries,
            "cost_usd": completion.cost_usd,
            "server": completion.server,
        }
        if task.stopped:  # the answer arrived whole, but a policy stopped the task on one of its events
            return self._result(INTERRUPTED, interrupt_reason=task.interrupt_reason, **common)
        text = completion.text if completion.text is not None else task.answer
        schema = output_schema_of(task.options)
        if schema is None:
            return self._result(COMPLETED, text=text, **common)
        try:  # a structured answer (output=): completed only if it conforms
            parsed = schema.parse(text, stop_reason=completion.stop_reason)
        except InvalidOutput as exc:
            return self._result(FAILED, text=text, error=str(exc), error_type=INVALID_OUTPUT, **common)
        return self._result(COMPLETED, text=text, parsed=parsed, **common)

    def _result(self, status: str, **fields: Any) -> TaskResult:
        return task_result(self.task, self.run, status, transport=self.transport, **fields)


def task_result(task: Task, run: Run, status: str, *, transport: Transport, **fields: Any) -> TaskResult:
    """``task``'s :class:`TaskResult` as it stands; usage estimated and priced as ``transport`` bills it."""
    usage = task.usage if status == COMPLETED else task.usage_so_far()
    if usage is not task.usage:  # output received after the last count was billed: count it
        run.add_usage(usage - task.usage)
    cost = fields.pop("cost_usd", None)
    if cost is None and transport.bills_tokens and usage != Usage():
        cost = cost_usd(task.model, usage, batch=transport.batches)
    fields.setdefault("text", task.answer)  # a tool loop's answer is its last response, not every round's text
    return TaskResult(
        index=task.index,
        name=task.name,
        id=task.id,
        status=status,
        usage=usage,
        cost_usd=cost,
        transport=run.transport,
        started_at=task.started_at,
        finished_at=time.time(),
        first_event_at=task.first_event_at,
        model=task.model,
        thinking=task.thinking,
        tool_calls=list(task.tool_calls),
        **fields,
    )


def failed_result(task: Task, run: Run, exc: Exception, *, transport: Transport) -> TaskResult:
    """``task`` ``failed`` with ``exc``, its text and usage so far kept."""
    if isinstance(exc, TransportError):
        return task_result(
            task, run, FAILED, transport=transport, error=str(exc), request_id=exc.request_id,
            status_code=exc.status_code, error_type=known_error_type(exc.error_type), retries=exc.retries,
            server=exc.server,
        )
    log.debug("task %s raised", task.name, exc_info=exc)
    return task_result(task, run, FAILED, transport=transport, error=f"{type(exc).__name__}: {exc}",
                       error_type="error")
