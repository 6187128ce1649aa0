"""docs/writing-a-reporter.md works as written: every block runs and prints what the page shows."""

from __future__ import annotations

from pathlib import Path

from markdown_blocks import run_markdown

DOC = Path(__file__).parents[3] / "docs" / "writing-a-reporter.md"


def test_every_example_of_the_reporter_guide_runs_and_prints_what_it_shows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the page writes run-events.jsonl in the working folder
    ran = run_markdown(DOC)
    assert len(ran) >= 5
    assert (tmp_path / "run-events.jsonl").exists()
