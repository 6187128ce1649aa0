"""RichReporter tells who found it, who was stopped and why, once, and what an agent is doing."""

from __future__ import annotations

import io

from mac_plugins.policies import StopOnPattern
from mac_plugins.reporters.live import RichReporter, status_word
from rich.console import Console
from scripted import HANG, run_scripted

from mac_core.events import Event

STOP = r"CRITICAL[^.\n]*\."


def final_view(reporter: RichReporter, scripts: dict, *plugins, width: int = 120) -> str:
    console = Console(file=io.StringIO(), width=width, record=True)
    reporter.console = console
    run_scripted(scripts, plugins=[*plugins, reporter])
    return console.export_text()


def test_the_analyst_that_wrote_the_finding_is_shown_as_found_and_the_others_as_stopped():
    view = final_view(
        RichReporter(finding="CRITICAL"),
        {"security": ["Reading it. ", 0.05, "CRITICAL: sql injection in find_item."],
         "performance": ["Rows are read", HANG]},
        StopOnPattern(STOP),
    )
    rows = {line.split()[0]: line.split()[1] for line in view.splitlines() if line.split()[:1] in (["security"],
                                                                                                  ["performance"])}
    assert rows == {"security": "found", "performance": "stopped"}
    assert "1 found, 1 stopped" in view
    assert "interrupted" not in view and "completed" not in view


def test_without_a_finding_pattern_every_stopped_task_is_stopped():
    view = final_view(RichReporter(), {"security": ["CRITICAL: flaw."], "performance": ["slow", HANG]},
                      StopOnPattern(STOP))
    assert "2 stopped" in view and "found" not in view


def test_the_runs_stop_reason_is_shown_once_and_each_row_keeps_its_last_words():
    view = final_view(
        RichReporter(finding="CRITICAL"),
        {"security": [0.05, "CRITICAL: flaw in find_item."], "performance": ["Every lookup reads the full table", HANG],
         "docs": ["The docstrings are short", HANG]},
        StopOnPattern(STOP),
    )
    assert view.count("matches the stop pattern") == 1
    assert "Every lookup reads the full table" in view and "The docstrings are short" in view


def test_a_task_stopped_for_its_own_reason_still_shows_that_reason_in_its_row():
    view = final_view(RichReporter(), {"fast": ["TOO LONG here"], "other": ["fine"]},
                      StopOnPattern("TOO LONG", scope="task"))
    assert "fast wrote 'TOO LONG'" in view


def test_an_agents_tool_call_shows_as_its_latest_line():
    tool = Event("tool_use", data={"id": "t1", "name": "Edit", "input": {"file_path": "inventory.py"}})
    reporter = RichReporter()
    seen = {}

    class Snapshot:
        from mac_core import hookimpl

        @hookimpl
        def mac_task_event(self, task, event):
            if event.type == "tool_use":
                console = Console(file=io.StringIO(), width=120, record=True)
                console.print(reporter.render())
                seen["view"] = console.export_text()

    run_scripted({"implementer": ["Reading the file.\n", tool, "Fixed."]}, plugins=[Snapshot(), reporter])  # pluggy calls the last registered first
    assert "uses Edit inventory.py" in seen["view"]


def test_the_view_draws_on_the_console_it_was_given():
    console = Console(file=io.StringIO(), width=100, record=True)
    run_scripted({"a": ["hello"]}, plugins=[RichReporter(console=console)])
    assert "1 done" in console.export_text()


def test_status_words_are_the_ones_the_live_view_shows():
    assert [status_word(s) for s in ("completed", "interrupted", "failed", "found")] == \
        ["done", "stopped", "failed", "found"]
