"""The live view says on a task's row that it waits for the rate limit, and for which, until its next event."""

from __future__ import annotations

import io
import threading
import time

import httpx
from mac_plugins.reporters import RichReporter
from rich.console import Console
from sse import API, message_json

from mac_core import Coordinator, hookimpl


def shown(renderable, width: int = 120) -> str:
    console = Console(file=io.StringIO(), width=width, record=True)
    console.print(renderable)
    return console.export_text()


def row_of(view: str, name: str) -> str:
    (line,) = [line for line in view.splitlines() if line.strip().startswith(name)]
    return line


def test_a_task_waiting_for_the_limit_shows_what_it_waits_for_until_its_next_event(httpx2_mock, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", f"sk-ant-live-waits-{time.monotonic_ns()}")
    limited = {"anthropic-ratelimit-requests-limit": "60", "anthropic-ratelimit-requests-remaining": "0"}
    httpx2_mock.post(API).mock(return_value=httpx.Response(200, json=message_json("ok"), headers=limited))
    reporter = RichReporter(io.StringIO())
    views: dict[str, str] = {}

    class Snapshots:
        """Draws the view during task-1's wait (from a thread: the run sleeps) and once its events come."""

        @hookimpl
        def mac_task_waiting(self, task, seconds, limit):
            def draw_meanwhile():
                time.sleep(0.2)
                views["waiting"] = shown(reporter.render())

            threading.Thread(target=draw_meanwhile).start()

        events = 0

        @hookimpl
        def mac_task_event(self, task, event):
            if task.name == "task-1":
                Snapshots.events += 1
                if Snapshots.events == 2:  # the view has taken the first (hooks run in either order)
                    views["after"] = shown(reporter.render())

    Coordinator(plugins=[reporter, Snapshots()]).run(
        ["a", "b"], transport="messages", model="claude-test", max_concurrency=1
    )

    waiting = row_of(views["waiting"], "task-1")
    assert "running" in waiting and "waiting 1s for requests per minute" in waiting
    assert "idle" not in waiting
    assert "waiting" not in row_of(views["after"], "task-1")  # its request went out: the wait is over
