"""Extended thinking: TaskResult.thinking holds the thinking text, whole or as far as it streamed."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from mac_core import Coordinator, hookimpl

EXAMPLE = Path(__file__).parents[2] / "examples" / "thinking.py"
THINKING = {"type": "enabled", "budget_tokens": 1024}
PROMPT = "Is 91 prime? [[thinking: 91 is 7 times 13, so it is not prime.]] [[reply: No: 7 x 13.]]"


@pytest.mark.parametrize("transport", ["stream", "messages"])
def test_the_thinking_comes_back_beside_the_answer(mac_sim, transport):
    (result,) = Coordinator().run([PROMPT], transport=transport, thinking=THINKING, max_tokens=2048)
    assert result.status == "completed"
    assert result.thinking == "91 is 7 times 13, so it is not prime." and result.text == "No: 7 x 13."
    assert result.as_dict()["thinking"] == result.thinking


def test_without_thinking_on_there_is_none_even_when_scripted(mac_sim):
    (result,) = Coordinator().run([PROMPT])
    assert result.thinking == "" and result.text == "No: 7 x 13."


def test_a_task_stopped_while_it_thinks_keeps_the_thinking_it_had(mac_sim):
    class StopAtSeven:
        @hookimpl
        def mac_should_interrupt(self, task, event):
            return "enough" if "7" in task.thinking else None

    (result,) = Coordinator().run([PROMPT], thinking=THINKING, max_tokens=2048, plugins=[StopAtSeven()])
    assert result.status == "interrupted" and result.interrupt_reason == "enough"
    assert result.thinking.rstrip() == "91 is 7" and result.text == ""


def test_the_example_runs_offline(monkeypatch, capsys):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setattr("sys.argv", [str(EXAMPLE)])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "thinking: 1001 = 7 x 11 x 13" in out and "completed: 5 cents." in out
