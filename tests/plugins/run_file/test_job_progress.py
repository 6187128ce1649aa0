"""``mac run``'s progress: the bar and the periodic lines count results, so a Ctrl-C leaves the true count on screen."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

from mac_plugins.run_file.progress import JobProgress

from mac_core import TaskResult, Usage

TASK = SimpleNamespace(model="claude-sonnet-4-6")


class Terminal(io.StringIO):
    """What rich takes for a terminal, so the live bar is drawn."""

    def isatty(self) -> bool:
        return True


def finish(progress: JobProgress, *statuses: str) -> None:
    for index, status in enumerate(statuses):
        progress.mac_task_finished(task=TASK, result=TaskResult(index=index, name=f"task-{index}", status=status,
                                                                usage=Usage(5, 7)))


def test_after_ctrl_c_the_bar_shows_the_results_written_not_every_task_that_ended():
    screen = Terminal()
    progress = JobProgress(5, stream=screen)
    progress.mac_run_started(run=None)
    finish(progress, "completed", "failed", "interrupted", "cancelled", "cancelled")  # what a Ctrl-C leaves
    progress.close()
    assert re.findall(r"(\d+)/5", screen.getvalue())[-1] == "2"
    progress.close()  # a second close (the run's own end) is harmless


def test_periodic_lines_count_results_written():
    log = io.StringIO()
    progress = JobProgress(4, stream=log, interval=0)
    progress.mac_run_started(run=None)
    finish(progress, "completed", "interrupted", "cancelled")
    assert log.getvalue().splitlines()[-1].startswith("mac run: 1/4 done (1 ok, 0 failed")
    progress.mac_run_finished(run=None, results=[])
    finish(progress, "completed")
    assert "2/4" not in log.getvalue() and progress.counts["completed"] == 2  # counted, no longer drawn
