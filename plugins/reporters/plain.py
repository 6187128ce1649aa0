"""The plain reporter: every line an agent writes, prefixed with its name, for logs and pipes."""

from __future__ import annotations

import sys
from typing import IO

from mac_core import hookimpl
from mac_core.events import TEXT, TOOL_USE


class PlainReporter:
    """Writes each agent's text line by line as ``[Security] ...``, flushed per line.

    A line is labelled with its task's input id when the prompt has one (so
    it matches the id in ``mac run``'s results file and in the input), else
    with the task's name (``task-3`` unless the prompt named it).

    A line is written once it is complete (or when its task ends), so lines
    of agents running side by side never mix. Each task closes with a status
    line (``[Security] -- interrupted: <reason>``), and a stopped run with
    ``-- run stopped: <reason>`` (tasks it cancelled before they started are
    counted there rather than listed).

    :param stream: where to write (default: ``sys.stderr`` at the start of each run).
    :param prefix: the line prefix; ``{label}`` is the id, else the name;
        ``{name}`` and ``{id}`` are the task's name and id (``None`` if it has none).
    """

    def __init__(self, stream: IO[str] | None = None, *, prefix: str = "[{label}] ") -> None:
        self.stream = stream
        self.prefix = prefix
        self._out: IO[str] = stream or sys.stderr
        self._partial: dict = {}
        self._prefixes: dict = {}
        self._cancelled = 0

    def _write(self, task, line: str) -> None:
        prefix = self._prefixes.get(task)
        if prefix is None:
            label = task.name if task.id is None else task.id
            prefix = self._prefixes[task] = self.prefix.format(label=label, name=task.name, id=task.id)
        self._out.write(f"{prefix}{line}\n")
        self._out.flush()

    @hookimpl
    def mac_run_started(self, run):
        self._out = self.stream or sys.stderr
        self._partial.clear()
        self._prefixes.clear()
        self._cancelled = 0

    @hookimpl
    def mac_task_event(self, task, event):
        if event.type == TEXT:
            text = self._partial.pop(task, "") + event.text
            if "\n" not in text:
                self._partial[task] = text
                return
            *lines, rest = text.split("\n")
            for line in lines:
                self._write(task, line.removesuffix("\r"))
            if rest:
                self._partial[task] = rest
        elif event.type == TOOL_USE:
            self._write(task, f"-- tool {(event.data or {}).get('name', '?')}")

    @hookimpl
    def mac_task_waiting(self, task, seconds, limit):
        self._write(task, f"-- waits {seconds:.1f} s for the rate limit ({limit})")

    @hookimpl
    def mac_task_finished(self, task, result):
        rest = self._partial.pop(task, "")
        if rest:
            self._write(task, rest)
        if result.status == "cancelled":
            self._cancelled += 1
        elif result.status == "completed":
            duration = f" in {result.duration:.1f} s" if result.duration is not None else ""
            tokens = result.usage.output_tokens
            self._write(task, f"-- completed: {tokens:,} output token{'' if tokens == 1 else 's'}{duration}")
        else:
            why = result.error if result.status == "failed" else result.interrupt_reason
            self._write(task, f"-- {result.status}: {why or 'no reason given'}")
        self._prefixes.pop(task, None)

    @hookimpl
    def mac_run_finished(self, run):
        if run.interrupt_reason:
            cancelled = f"; {self._cancelled} tasks never started" if self._cancelled else ""
            self._out.write(f"-- run stopped: {run.interrupt_reason}{cancelled}\n")
            self._out.flush()

    def __repr__(self) -> str:
        return "PlainReporter()"
