"""The live view: one row per agent, redrawn a few times a second on a terminal.

Thinking streams dimmed in the row's latest line until the answer's text
starts. Runs that start while the view is live (the waves of an
orchestration) join it: a task named ``parent/child`` whose parent has a row
is drawn under it, indented.
"""

from __future__ import annotations

import math
import re
import time
from typing import IO

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from mac_core import hookimpl
from mac_core.events import TEXT, THINKING, TOOL_USE, USAGE
from mac_core.results import CHARS_PER_TOKEN

TAIL_CHARS = 240  #: enough of an agent's latest text to show its latest line
IDLE_AFTER = 5.0  #: seconds without an event before a running row says it is idle

FOUND = "found"  #: the pseudo-status of a task that wrote what ``finding`` looks for

_STATUS_ORDER = {
    "running": 0,
    "failed": 1,
    FOUND: 2,
    "interrupted": 3,
    "completed": 4,
    "cancelled": 5,
    "pending": 6,
}
_STATUS_STYLE = {
    "pending": ("waiting", "dim"),
    "running": ("running", "green"),
    FOUND: ("found", "bold magenta"),
    "completed": ("done", "bold green"),
    "interrupted": ("stopped", "bold yellow"),
    "cancelled": ("cancelled", "dim yellow"),
    "failed": ("failed", "bold red"),
}
#: The one word the live view uses for each status (``found`` for a task that wrote the finding).
STATUS_WORDS = {status: word for status, (word, _) in _STATUS_STYLE.items()}


def status_word(status: str) -> str:
    """The live view's word for ``status`` (``"interrupted"`` -> ``"stopped"``), for tables printed after it."""
    return STATUS_WORDS.get(status, status)


class _Row:
    """What the view knows of one task; written by the hooks, read by the refresh thread."""

    __slots__ = (
        "index",
        "name",
        "status",
        "output_tokens",
        "chars_since_usage",
        "started",
        "first_event",
        "last_event",
        "finished",
        "tail",
        "note",
        "parent",
        "depth",
        "thinking",
        "showing_thinking",
        "waiting_until",
        "waiting_for",
    )

    def __init__(self, index: int, name: str, parent: _Row | None = None) -> None:
        self.index = index
        self.name = name
        self.parent = parent  # the row of the agent that spawned this one (an orchestration's tree)
        self.depth = parent.depth + 1 if parent is not None else 0
        self.status = "pending"
        self.output_tokens = 0
        self.chars_since_usage = 0
        self.started: float | None = None
        self.first_event: float | None = None
        self.last_event: float | None = None
        self.finished: float | None = None
        self.tail = ""
        self.note: str | None = None  # the interrupt reason or the error, once it ended early
        self.thinking = ""  # the latest extended thinking, shown dimmed while it is the newest output
        self.showing_thinking = False
        self.waiting_until: float | None = None  # waiting for the rate limit until then (monotonic), or None
        self.waiting_for = ""  # the limit it waits for, as the scheduler names it

    def label(self) -> str:
        """The agent's name; under its parent, its own part of the path, indented."""
        if self.parent is None:
            return self.name
        return "  " * (self.depth - 1) + "└ " + self.name[len(self.parent.name) + 1 :]

    def tokens(self) -> int:
        return self.output_tokens + math.ceil(self.chars_since_usage / CHARS_PER_TOKEN)

    def latest_line(self, width: int = 80) -> str:
        """The newest non-blank line (of the thinking, while that is the newest output), its end within ``width``."""
        for line in reversed((self.thinking if self.showing_thinking else self.tail).splitlines()):
            if line.strip():
                line = " ".join(line.split())
                return line if len(line) <= width else "…" + line[-(width - 1) :]
        return ""


class RichReporter:
    """A live table of every agent: name, status, output tokens, tokens/s, elapsed, latest line.

    The hooks only update plain fields; rich's refresh thread renders them
    ``refresh_per_second`` times a second, so a run never waits on drawing.
    Above ``max_rows`` agents (fewer on a short terminal), running ones are shown first (then failed,
    found, stopped, done, waiting) and the rest summed up in one line. A
    stopped run shows its reason once, under the table; a task stopped for
    another reason (or failed) shows its own in place of its latest line. A
    tool call shows as the row's latest line (``uses Edit app.py``); thinking
    shows there dimmed, until the answer starts. A task waiting for the rate
    limit says so there (``waiting 3s for output tokens per minute``, counting
    down) until its next event. A run started while the view
    is live adds its rows (an orchestration's waves): a worker named
    ``lead/security`` is drawn as ``└ security`` under ``lead``.

    :param stream: where to draw (default ``sys.stderr``); meant for a terminal.
    :param max_rows: agent rows shown at most.
    :param refresh_per_second: redraws per second.
    :param console: draw on this console instead of one on ``stream``; lines
        printed on it while the view is live appear above the view, not through it.
    :param finding: a regular expression; a task whose text matches it is
        shown as ``found`` once it ends (stopped or done), so the one that
        found what the run was stopped for stands out from those stopped with it.
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        max_rows: int = 20,
        refresh_per_second: float = 4,
        console: Console | None = None,
        finding: str | re.Pattern[str] | None = None,
    ) -> None:
        self.stream = stream
        self.max_rows = max_rows
        self.refresh_per_second = refresh_per_second
        self.console = console
        self.finding = re.compile(finding) if isinstance(finding, str) else finding
        self._rows: list[_Row] = []
        self._by_task: dict = {}
        self._run = None
        self._runs_live = 0  # runs started and not finished: the view ends with the last
        self._started = 0.0
        self._console: Console | None = None
        self._live: Live | None = None

    # --- hooks: update state, nothing else ---------------------------------

    @hookimpl
    def mac_run_started(self, run):
        self._runs_live += 1
        if self._live is not None:  # a run inside the one on view (an orchestration's wave): its rows join
            self._add_rows(run.tasks)
            return
        self._run = run
        self._started = time.monotonic()
        self._rows = []
        self._by_task = {}
        self._add_rows(run.tasks)
        if self.console is not None:
            console = self.console
        else:
            console = Console(file=self.stream) if self.stream is not None else Console(stderr=True)
        self._console = console
        self._live = Live(
            get_renderable=self.render,
            console=console,
            refresh_per_second=self.refresh_per_second,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()

    def _add_rows(self, tasks) -> None:
        by_name = {row.name: row for row in self._rows}
        for task in tasks:
            parent_name, _, _ = task.name.rpartition("/")
            row = _Row(len(self._rows), task.name, by_name.get(parent_name) if parent_name else None)
            self._rows.append(row)
            self._by_task[task] = by_name[task.name] = row

    @hookimpl
    def mac_task_started(self, task):
        row = self._by_task[task]
        row.status = "running"
        row.started = time.monotonic()

    @hookimpl
    def mac_task_waiting(self, task, seconds, limit):
        row = self._by_task[task]
        row.waiting_for = limit
        row.waiting_until = time.monotonic() + seconds

    @hookimpl
    def mac_task_event(self, task, event):
        row = self._by_task[task]
        row.waiting_until = None  # its request was sent: the wait is over
        row.last_event = now = time.monotonic()
        if row.first_event is None:
            row.first_event = now
        kind = event.type
        if kind == TEXT:
            row.chars_since_usage += len(event.text)
            row.tail = (row.tail + event.text)[-TAIL_CHARS:]
            row.showing_thinking = False
        elif kind == THINKING:
            row.chars_since_usage += len(event.text)
            row.thinking = (row.thinking + event.text)[-TAIL_CHARS:]
            row.showing_thinking = True
        elif kind == USAGE:
            row.output_tokens = event.data.output_tokens
            row.chars_since_usage = 0
        elif kind == TOOL_USE:  # an agent at work shows what it does, on its own line of the row
            data = event.data or {}
            target = (data.get("input") or {}).get("file_path", "")
            row.tail = f"{row.tail}\nuses {data.get('name', '?')} {target}\n"[-TAIL_CHARS:]
            row.showing_thinking = False

    @hookimpl
    def mac_task_finished(self, task, result):
        row = self._by_task[task]
        row.waiting_until = None
        row.output_tokens = result.usage.output_tokens  # exact, or with the engine's estimate of the rest
        row.chars_since_usage = 0
        if result.status != "completed":
            row.note = result.error if result.status == "failed" else result.interrupt_reason
        row.finished = time.monotonic()
        found = (
            self.finding is not None
            and result.status in ("completed", "interrupted")
            and self.finding.search(result.text) is not None
        )
        row.status = FOUND if found else result.status

    @hookimpl
    def mac_run_finished(self, run):
        self._runs_live -= 1
        if self._runs_live <= 0 and self._live is not None:
            self._live.stop()  # draws the final state once more
            self._live = None
            if not self._console.is_terminal:  # rich ends a file's one drawing without a newline
                self._console.line()

    # --- rendering: on rich's refresh thread --------------------------------

    def render(self) -> Group:
        """The current view (called by rich's refresh thread)."""
        now = time.monotonic()
        rows = _tree_order(self._rows)
        limit = self.max_rows
        if self._console is not None and self._console.is_terminal:  # leave room for the header and footer
            limit = max(3, min(limit, self._console.height - 7))
        shown, hidden = rows[:limit], rows[limit:]
        table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
        table.add_column("agent", max_width=20, no_wrap=True, overflow="ellipsis")
        table.add_column("status", no_wrap=True)
        table.add_column("tokens", justify="right", no_wrap=True)
        table.add_column("tok/s", justify="right", no_wrap=True)
        table.add_column("elapsed", justify="right", no_wrap=True)
        table.add_column("latest", ratio=1, no_wrap=True, overflow="ellipsis")
        for row in shown:
            table.add_row(*self._cells(row, now))
        parts: list = [table]
        if hidden:
            parts.append(Text(f"… and {len(hidden)} more: {_counts(hidden)}", style="dim"))
        parts.append(self._footer(now))
        return Group(*parts)

    def _cells(self, row: _Row, now: float) -> tuple:
        label, style = _STATUS_STYLE.get(row.status, (row.status, ""))
        waiting_until = row.waiting_until  # read once: the run's thread may clear it meanwhile
        idle = row.last_event is not None and now - row.last_event >= IDLE_AFTER
        if row.status == "running" and idle and waiting_until is None:  # a wait for the limit is not idleness
            label, style = f"idle {now - row.last_event:.0f}s", "yellow"
        tokens = row.tokens()
        end = row.finished if row.finished is not None else now
        streaming = end - row.first_event if row.first_event is not None else 0.0
        rate = f"{tokens / streaming:.0f}" if streaming >= 0.5 else "-"
        elapsed = f"{end - row.started:.1f}s" if row.started is not None else "-"
        run_reason = self._run.interrupt_reason if self._run is not None else None
        if row.note and (
            row.status == "failed" or row.note != run_reason
        ):  # the run's reason is shown once, below
            latest = Text(row.note, style="red" if row.status == "failed" else "yellow")
        elif waiting_until is not None:
            left = max(0, math.ceil(waiting_until - now))
            latest = Text(f"waiting {left}s for {row.waiting_for}", style="yellow")
        else:
            # the other columns take about 55 cells; show as much of the newest text as fits
            width = self._console.width if self._console is not None else 135
            latest = Text(
                row.latest_line(max(20, width - 55)), style="dim italic" if row.showing_thinking else ""
            )
        return Text(row.label()), Text(label, style=style), f"{tokens:,}", rate, elapsed, latest

    def _footer(self, now: float) -> Text:
        run = self._run
        total = sum(row.tokens() for row in self._rows)
        footer = Text(
            f"run {run.id} on {run.transport}: {_counts(self._rows)}; "
            f"{total:,} output tokens; {now - self._started:.1f}s",
            style="dim",
        )
        if run.interrupt_reason:
            footer.append(f"\nstopped: {run.interrupt_reason}", style="bold yellow")
        return footer

    def __repr__(self) -> str:
        return "RichReporter()"


def _tree_order(rows: list[_Row]) -> list[_Row]:
    """Running agents first (then failed, found, stopped, done, waiting), each followed by its workers, so ordered."""
    children: dict[_Row | None, list[_Row]] = {}
    for row in rows:
        children.setdefault(row.parent, []).append(row)
    ordered: list[_Row] = []

    def add(parent: _Row | None) -> None:
        for row in sorted(children.get(parent, ()), key=lambda r: (_STATUS_ORDER.get(r.status, 9), r.index)):
            ordered.append(row)
            add(row)

    add(None)
    return ordered


def _counts(rows: list[_Row]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return ", ".join(
        f"{n} {_STATUS_STYLE.get(s, (s,))[0]}"
        for s, n in sorted(counts.items(), key=lambda i: _STATUS_ORDER.get(i[0], 9))
    )
