"""RichReporter: one readable row per agent, reasons shown, drawing kept off the run's path."""

from __future__ import annotations

import io

import pytest
from mac_plugins.policies import StopOnPattern
from mac_plugins.reporters import RichReporter
from rich.console import Console
from scripted import HANG, run_scripted

from mac_core import hookimpl


def shown(renderable, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, record=True)
    console.print(renderable)
    return console.export_text()


def test_the_final_view_has_every_agent_its_status_and_the_reasons():
    out = io.StringIO()
    run_scripted(
        {
            "Security": ["Checking the login form\n", "CRITICAL: sql injection"],
            "Performance": ["All fine so far", HANG],
            "Style": ["never started"],
        },
        plugins=[StopOnPattern("CRITICAL"), RichReporter(out)],
        max_concurrency=2,
    )
    view = out.getvalue()  # a file is not a terminal: rich draws the final state once, at the end
    for expected in ("Security", "Performance", "Style", "stopped", "cancelled", "Security wrote 'CRITICAL'"):
        assert expected in view
    assert "stopped: Security wrote 'CRITICAL', which matches the stop pattern 'CRITICAL'" in view
    assert "3 agents" not in view and "2 stopped, 1 cancelled" in view


def test_fifty_agents_stay_readable_running_ones_first_the_rest_summed_up():
    reporter = RichReporter(io.StringIO(), max_rows=10)
    snapshot = {}

    class Snapshot:
        @hookimpl
        def mac_task_event(self, task, event):
            if task.name == "agent-49" and event.type == "text" and "view" not in snapshot:
                snapshot["view"] = shown(reporter.render())

    scripts = {f"agent-{i:02d}": ["a line that is much longer than the column it has to fit in " * 3, HANG]
               for i in range(45)}
    scripts |= {f"agent-{i:02d}": [0.05, "late\n", "starter"] for i in range(45, 50)}
    run_scripted(scripts, plugins=[StopOnPattern("starter"), reporter, Snapshot()], max_concurrency=50)
    view = snapshot["view"]
    lines = view.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert sum(1 for line in lines if line.lstrip().startswith("agent-")) == 10
    assert "agent-00" in view and "running" in view and "…" in view  # long lines cut, not wrapped
    assert "… and 40 more: 40 running" in view
    assert "run " in lines[-1] and "50 running" in lines[-1]


def test_a_row_shows_only_its_latest_line():
    reporter = RichReporter(io.StringIO())
    run_scripted({"a": ["first line\nsecond line\n", "third"]}, plugins=[reporter])
    view = shown(reporter.render())
    assert "third" in view and "second line" not in view
    assert "done" in view


def test_drawing_happens_a_few_times_a_second_not_once_per_event():
    class CountingReporter(RichReporter):
        renders = 0

        def render(self):
            type(self).renders += 1
            return super().render()

    events = 2000
    results, _ = run_scripted({"a": ["x"] * events}, plugins=[CountingReporter(io.StringIO())])
    assert results[0].ok
    assert CountingReporter.renders < events / 10


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_redrawing_while_many_agents_stream_never_breaks(caplog):
    scripts = {f"agent-{i}": ["tok "] * 200 for i in range(30)}
    results, _ = run_scripted(scripts, plugins=[RichReporter(io.StringIO(), refresh_per_second=200)], max_concurrency=30)
    assert all(r.ok for r in results)
    assert "raised" not in caplog.text
