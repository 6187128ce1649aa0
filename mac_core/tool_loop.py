"""The tool loop: send, run the tools the model asked for, send their results, until it ends its turn.

A task whose prompt carries Python functions as tools (:mod:`mac_core.tools`)
is run here instead of with one ``transport.run_task``: each round is one
``run_task`` call with the conversation so far in ``task.options["messages"]``,
so it works on every transport that speaks the Messages API (``stream``,
``messages``, ``batch``) without touching them. After a round whose answer
stopped for ``tool_use``:

* the tools run: ``async`` ones as coroutines, several at once when the model
  asked for several; sync ones in worker threads;
* each result is a ``tool_result`` event through the task's ``emit`` (so
  reporters and policies see it, and a stop lands there too), and its call in
  ``task.tool_calls`` gets ``output`` or ``error``, ``started_at`` and
  ``duration``;
* each ``usage`` event of a round carries the task's running total (the
  earlier rounds' usage plus this request's counts so far), as
  :data:`~mac_core.events.USAGE` documents, not one request's counts;
* a tool that raises, or input that does not match its schema, becomes an
  error ``tool_result`` (``is_error: true``) the model reads and answers;
* the assistant turn (its text and ``tool_use`` blocks, rebuilt from the
  round's events) and a user turn of ``tool_result`` blocks join the
  conversation, and the next round is sent.

The loop ends when a round ends any other way (``end_turn``, ``max_tokens``…),
when the model calls a tool that is an API dict rather than a function (the
caller runs those: the task completes with ``stop_reason`` ``tool_use``, as it
would without a loop), or when the model asks for tools once more after
``max_tool_rounds`` rounds: then the task fails with ``error_type``
:data:`MAX_TOOL_ROUNDS`, its calls not run marked so. A stop cancels the
scope the loop runs in: an ``async`` tool is cancelled, a sync tool's thread is
left to finish and its result dropped (a thread cannot be killed).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from .events import TEXT, TOOL_RESULT, TOOL_USE, USAGE, Event
from .tools import ToolInputError, result_content
from .transport import Completion, Emit, TransportError

if TYPE_CHECKING:
    from .results import Usage
    from .run import Run, Task
    from .tools import Tool
    from .transport import Transport

#: ``TaskResult.error_type`` of a task whose model still asked for tools after ``max_tool_rounds`` rounds.
MAX_TOOL_ROUNDS = "max_tool_rounds"


class ToolRoundsExhausted(TransportError):
    """The model asked for tools again after ``max_tool_rounds`` rounds; the task fails with :data:`MAX_TOOL_ROUNDS`."""


class ToolLoop:
    """Carries one task's conversation through its tool rounds on the run's transport.

    :param task: the task (its ``tool_functions`` are the tools to run).
    :param run: its run, whose usage grows with each round's.
    :param transport: the run's transport; its ``run_task`` sends one round.
    :param emit: the task's ``emit``; every event of every round, and each
        ``tool_result``, goes through it.
    """

    def __init__(self, task: Task, run: Run, transport: Transport, emit: Emit) -> None:
        self.task = task
        self.run = run
        self.transport = transport
        self.emit = emit

    async def complete(self) -> Completion:
        """Run rounds until the model's turn ends; the last round's :class:`Completion` (usage already counted).

        :raises ToolRoundsExhausted: the model asked for tools after ``task.max_tool_rounds`` rounds.
        :raises TransportError: a round failed (the text, usage and calls so far stay with the task).
        """
        # The SDK toolkit loads with the first tool loop, not with the engine.
        from .anthropic_api import messages_request

        task = self.task
        original_options = task.options
        conversation = list(messages_request(task)["messages"])
        retries = 0
        try:
            while True:
                task.options = {**original_options, "messages": conversation}
                earlier = task.usage  # what the finished rounds used; this request's counts start from zero
                turn = AssistantTurn(self.emit, earlier)
                calls_before = len(task.tool_calls)
                completion = await self.transport.run_task(task, turn.emit)
                retries += completion.retries
                if completion.usage is not None:
                    self.run.add_usage(task.record_usage(earlier + completion.usage))
                calls = task.tool_calls[calls_before:]
                if task.stopped or not self._runs_tools(completion, calls):
                    return Completion(
                        text=completion.text,
                        stop_reason=completion.stop_reason,
                        request_id=completion.request_id,
                        cost_usd=completion.cost_usd,
                        retries=retries,
                    )
                if task.tool_rounds >= task.max_tool_rounds:
                    for call in calls:
                        call["error"] = f"not run: the task reached max_tool_rounds ({task.max_tool_rounds})"
                    raise ToolRoundsExhausted(
                        f"the model still asked for tools after max_tool_rounds ({task.max_tool_rounds}) rounds",
                        error_type=MAX_TOOL_ROUNDS,
                        request_id=completion.request_id,
                        retries=retries,
                    )
                results = await self._run_tools(calls)
                conversation += [
                    {"role": "assistant", "content": turn.content()},
                    {"role": "user", "content": results},
                ]
                task.next_round()
        finally:
            task.options = original_options  # hooks see the prompt's own options again

    def _runs_tools(self, completion: Completion, calls: list[dict[str, Any]]) -> bool:
        """True when the round asked for tools and every one is a function this loop can run."""
        functions = self.task.tool_functions
        return (
            completion.stop_reason == "tool_use"
            and bool(calls)
            and all(c["name"] in functions for c in calls)
        )

    async def _run_tools(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run the round's calls at once; their ``tool_result`` blocks, in the order the model asked."""
        results: list[dict[str, Any]] = [{} for _ in calls]
        async with anyio.create_task_group() as group:
            for index, call in enumerate(calls):
                group.start_soon(self._run_tool, call, results, index)
        return results

    async def _run_tool(self, call: dict[str, Any], results: list[dict[str, Any]], index: int) -> None:
        """Run one call, fill in its record and ``results[index]``, and emit its ``tool_result``."""
        function: Tool = self.task.tool_functions[call["name"]]
        call["started_at"] = time.time()
        began = time.perf_counter()
        is_error = False
        try:
            arguments = function.arguments(call["input"])
            if function.is_async:
                output = await function.function(**arguments)
            else:  # a stop returns at once; the thread finishes on its own and its result is dropped
                output = await anyio.to_thread.run_sync(
                    lambda: function.function(**arguments), abandon_on_cancel=True
                )
            content = result_content(output)
            call["output"] = output
        except anyio.get_cancelled_exc_class():
            call["error"] = "interrupted: the task was stopped while the tool ran"
            raise
        except Exception as exc:  # the model reads what went wrong and carries on; the task does not fail
            content = call["error"] = (
                str(exc) if isinstance(exc, ToolInputError) else f"{type(exc).__name__}: {exc}"
            )
            is_error = True
        finally:
            call["duration"] = time.perf_counter() - began
        block = {"type": "tool_result", "tool_use_id": call["id"], "content": content, "is_error": is_error}
        results[index] = block
        self.emit(Event(TOOL_RESULT, data=block))


class AssistantTurn:
    """One round's answer rebuilt from its events: text blocks and ``tool_use`` blocks, in order.

    The transports hand back a :class:`Completion` without content blocks;
    the events carry everything the next request needs of this turn. Its
    ``usage`` events go on as the task's running total: ``earlier`` plus the
    request's own counts.

    :param emit: the task's ``emit``.
    :param earlier: the usage of the task's finished rounds; None passes ``usage`` events on unchanged.
    """

    __slots__ = ("blocks", "_emit", "_text", "_earlier")

    def __init__(self, emit: Emit, earlier: Usage | None = None) -> None:
        self.blocks: list[dict[str, Any]] = []
        self._emit = emit
        self._text: list[str] = []
        self._earlier = earlier

    def emit(self, event: Event) -> None:
        """Note a text chunk or tool call, then pass the event on to the task's ``emit``."""
        kind = event.type
        if kind == TEXT:
            self._text.append(event.text)
        elif kind == USAGE and self._earlier is not None:
            event = Event(USAGE, data=self._earlier + event.data)
        elif kind == TOOL_USE:
            self._close_text()
            data = event.data
            self.blocks.append(
                {"type": "tool_use", "id": data["id"], "name": data["name"], "input": data["input"]}
            )
        self._emit(event)

    def content(self) -> list[dict[str, Any]]:
        """The turn's content blocks, for the next request's assistant message."""
        self._close_text()
        return self.blocks

    def _close_text(self) -> None:
        text = "".join(self._text)
        self._text.clear()
        if text.strip():  # the API refuses empty text blocks
            self.blocks.append({"type": "text", "text": text})
