"""PlainReporter: whole lines, each prefixed with its agent's name and flushed, then how each task ended."""

from __future__ import annotations

import io

from mac_plugins.policies import StopOnPattern
from mac_plugins.reporters import PlainReporter
from scripted import HANG, failure, run_scripted

from mac_core import Event


class FlushCountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def lines_of(output: str, prefix: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(prefix)]


def test_each_line_is_prefixed_whole_even_when_chunks_split_it_and_flushed_at_once():
    out = FlushCountingStream()
    run_scripted(
        {
            "Security": ["Checking the lo", "gin form\nCRITICAL: sql", " injection\nmore"],
            "Performance": ["All fine\nso ", HANG],
        },
        plugins=[StopOnPattern("CRITICAL"), PlainReporter(out)],
    )
    output = out.getvalue()
    reason = "Security wrote 'CRITICAL', which matches the stop pattern 'CRITICAL'"
    assert lines_of(output, "[Security]") == [
        "[Security] Checking the login form",
        "[Security] CRITICAL: sql",  # the partial line, written when the task ended
        f"[Security] -- interrupted: {reason}",
    ]
    assert lines_of(output, "[Performance]") == [
        "[Performance] All fine",
        "[Performance] so ",
        f"[Performance] -- interrupted: {reason}",
    ]
    assert output.splitlines()[-1] == f"-- run stopped: {reason}"
    assert out.flushes == len(output.splitlines())  # one flush per line


def test_completed_and_failed_tasks_say_so_and_tool_calls_are_shown():
    out = io.StringIO()
    tool = Event("tool_use", data={"id": "t1", "name": "Edit", "input": {}})
    run_scripted(
        {"fixer": ["Editing\r\n", tool, "done"], "broken": ["half", failure("HTTP 500 api_error: boom")]},
        plugins=[PlainReporter(out)],
        max_concurrency=1,
    )
    output = out.getvalue()
    assert lines_of(output, "[fixer]")[:3] == ["[fixer] Editing", "[fixer] -- tool Edit", "[fixer] done"]
    assert lines_of(output, "[fixer]")[3].startswith("[fixer] -- completed: 2 output tokens in ")
    assert lines_of(output, "[broken]") == ["[broken] half", "[broken] -- failed: HTTP 500 api_error: boom"]
    assert "run stopped" not in output


def test_tasks_that_never_started_are_counted_not_listed():
    out = io.StringIO()
    scripts = {"first": ["STOP"]} | {f"later-{i}": ["x"] for i in range(5)}
    run_scripted(scripts, plugins=[StopOnPattern("STOP"), PlainReporter(out, prefix="{name}| ")], max_concurrency=1)
    output = out.getvalue()
    assert "later-" not in output
    assert output.splitlines()[0] == "first| STOP"
    assert output.endswith("5 tasks never started\n")
