"""Progress of a file job: a live bar on a terminal, a plain line now and then otherwise."""

from __future__ import annotations

import time
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from mac_core import Usage, hookimpl
from mac_core.pricing import cost_usd


class JobProgress:
    """Counts finished tasks, tokens and cost; shows them as a bar (TTY) or periodic lines.

    :param total: tasks in this attempt.
    :param already_done: tasks completed by earlier attempts (shown, not re-run).
    :param batch: price at the batch discount.
    :param live: draw the bar or lines (off when a per-agent reporter owns the terminal).
    """

    def __init__(self, total: int, *, stream: IO[str], already_done: int = 0, batch: bool = False,
                 interval: float = 10.0, live: bool = True) -> None:
        self.live = live
        self.total = total
        self.already_done = already_done
        self.batch = batch
        self.interval = interval
        self.counts = {"completed": 0, "failed": 0, "interrupted": 0, "cancelled": 0}
        self.usage = Usage()
        self.cost = 0.0
        self.console = Console(file=stream)
        self._progress: Progress | None = None
        self._bar = None
        self._started = time.monotonic()
        self._last_line = 0.0

    @property
    def finished(self) -> int:
        """Tasks that ended in any way, stopped ones included."""
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        """Tasks with a result line: completed or failed. What the bar counts, so a Ctrl-C never fills it."""
        return self.counts["completed"] + self.counts["failed"]

    def _describe(self) -> str:
        return (f"{self.counts['completed']} ok, {self.counts['failed']} failed, "
                f"{self.usage.input_tokens + self.usage.cache_read_input_tokens} in / {self.usage.output_tokens} out tokens, "
                f"${self.cost:.4f}")

    @hookimpl
    def mac_run_started(self, run):
        self._started = time.monotonic()
        if not self.live:
            return
        if self.console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]mac run"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=self.console,
            )
            self._bar = self._progress.add_task(self._describe(), total=self.total)
            self._progress.start()
        else:
            self.console.print(f"mac run: {self.total} task{'' if self.total == 1 else 's'} to run "
                               f"({self.already_done} already done)")

    @hookimpl
    def mac_task_finished(self, task, result):
        self.counts[result.status] = self.counts.get(result.status, 0) + 1
        self.usage = self.usage + result.usage
        self.cost += cost_usd(task.model, result.usage, batch=self.batch)
        if self._progress is not None:
            self._progress.update(self._bar, completed=self.done, description=self._describe())
            return
        if not self.live:
            return
        now = time.monotonic()
        if now - self._last_line >= self.interval:
            self._last_line = now
            elapsed = now - self._started
            rate = self.done / elapsed if elapsed > 0 else 0.0
            eta = f"{(self.total - self.done) / rate:.0f} s" if rate > 0 else "?"
            self.console.print(f"mac run: {self.done}/{self.total} done ({self._describe()}), eta {eta}")

    @hookimpl
    def mac_run_finished(self, run, results):
        self.close()

    def close(self) -> None:
        """Stop the bar, leaving its last state on screen; safe to call twice (Ctrl-C may skip the hook)."""
        self.live = False  # nothing more is drawn, by the bar or by lines
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
