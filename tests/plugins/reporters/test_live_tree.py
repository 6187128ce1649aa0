"""The live view: thinking streams dimmed, and an orchestration's workers are drawn under their lead."""

from __future__ import annotations

import io
import json
import logging

from mac_plugins.reporters import RichReporter
from rich.console import Console

from mac_core import Coordinator, hookimpl

THINKING = {"type": "enabled", "budget_tokens": 1024}


def segments(renderable, width: int = 160) -> list:
    """The rendered segments (text and style) of ``renderable``."""
    console = Console(file=io.StringIO(), width=width)
    return list(console.render(renderable))


def text_of(renderable, width: int = 160) -> str:
    console = Console(file=io.StringIO(), width=width, record=True)
    console.print(renderable)
    return console.export_text()


def style_of(renderable, words: str):
    """The style of the segment that shows ``words``."""
    (found,) = [segment.style for segment in segments(renderable) if words in segment.text]
    return found


class Snapshots:
    """Renders the view when ``when(task, event)`` holds, once per label (register it before the reporter)."""

    def __init__(self, reporter: RichReporter, **conditions) -> None:
        self.reporter = reporter
        self.conditions = conditions
        self.views: dict = {}

    @hookimpl
    def mac_task_event(self, task, event):
        for label, when in self.conditions.items():
            if label not in self.views and when(task, event):
                self.views[label] = self.reporter.render()


def test_thinking_shows_dimmed_while_it_streams_then_the_answer_in_plain_style(mac_sim):
    reporter = RichReporter(console=Console(file=io.StringIO(), width=160))
    snapshots = Snapshots(
        reporter,
        thinking=lambda task, event: "hand" in task.thinking,
        answer=lambda task, event: event.type == "text" and "injection" in task.text,
    )
    prompt = "Audit. [[thinking: The login builds SQL by hand]] [[reply: SQL injection]]"
    (result,) = Coordinator().run([prompt], thinking=THINKING, max_tokens=2048, plugins=[snapshots, reporter])
    assert result.thinking == "The login builds SQL by hand" and result.text == "SQL injection"
    thinking_style = style_of(snapshots.views["thinking"], "The login builds SQL by hand")
    assert thinking_style.dim and thinking_style.italic
    answer_style = style_of(snapshots.views["answer"], "SQL injection")
    assert answer_style is None or not answer_style.dim  # no style at all: plain
    assert "builds SQL" not in text_of(snapshots.views["answer"])  # the answer replaced the thinking


def spawn(*tasks: tuple[str, str]) -> str:
    return f"[[tool: spawn_agents {json.dumps({'tasks': [{'name': n, 'prompt': p} for n, p in tasks]})}]]"


def test_an_orchestrations_workers_join_the_view_under_the_lead_and_it_is_drawn_once(mac_sim, caplog):
    out = io.StringIO()
    reporter = RichReporter(console=Console(file=out, width=120))
    snapshots = Snapshots(
        reporter, wave=lambda task, event: task.name == "lead/perf" and event.type == "text"
    )
    goal = (
        "Review. "
        + spawn(("security", "[[reply: injection]]"), ("perf", "[[reply: slow cart]]"))
        + " [[reply: done: {{tool_results}}]]"
    )
    with caplog.at_level(logging.WARNING, logger="mac_core.plugins"):
        outcome = Coordinator().orchestrate(goal, plugins=[snapshots, reporter])
    assert outcome.status == "completed"
    assert not [r for r in caplog.records if "raised" in r.getMessage()]  # no second live display was refused
    lines = [line.strip() for line in text_of(snapshots.views["wave"]).splitlines()]
    rows = [line for line in lines if line.startswith(("lead", "└"))]
    assert rows[0].split()[:2] == [
        "lead",
        "running",
    ]  # the lead waits on its wave, its workers right under it
    assert sorted(row.split()[1] for row in rows[1:]) == ["perf", "security"]
    final = out.getvalue()  # a file is not a terminal: the view is drawn once, at the end, with every row
    assert final.count("└ security") == 1 and final.count("└ perf") == 1 and final.count(" lead ") == 1
    assert "3 done" in final
    assert final.index(" lead ") < final.index("└ security") < final.index("└ perf")  # all done: spawn order
    assert final.endswith("s\n")  # the footer's own line: what a log writes next does not join it


def test_a_sub_workers_row_is_indented_under_its_own_lead(mac_sim):
    out = io.StringIO()
    reporter = RichReporter(console=Console(file=out, width=120))
    inner = spawn(("deps", "[[reply: one outdated]]")) + " [[reply: {{tool_results}}]]"
    goal = spawn(("security", inner), ("perf", "[[reply: fine]]")) + " [[reply: {{tool_results}}]]"
    Coordinator().orchestrate(goal, max_depth=2, plugins=[reporter])
    rows = [line.rstrip() for line in out.getvalue().splitlines() if line.strip().startswith(("lead", "└"))]
    assert rows[0].strip().startswith("lead")
    assert rows[1].lstrip().startswith("└ security") and rows[2].lstrip().startswith("└ deps")
    assert len(rows[2]) - len(rows[2].lstrip()) > len(rows[1]) - len(
        rows[1].lstrip()
    )  # deeper: indented more
    assert rows[3].lstrip().startswith("└ perf") and len(rows) == 4
