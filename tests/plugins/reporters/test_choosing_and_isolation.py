"""Choosing a reporter, and a broken reporter never breaking a run."""

from __future__ import annotations

import io
import logging

import pytest
from mac_plugins.reporters import PlainReporter, RichReporter, choose_reporter
from scripted import run_scripted

from mac_core import hookimpl


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_means_rich_on_a_terminal_and_plain_elsewhere():
    assert isinstance(choose_reporter("auto", Terminal()), RichReporter)
    assert isinstance(choose_reporter("auto", io.StringIO()), PlainReporter)
    assert isinstance(choose_reporter("rich", io.StringIO()), RichReporter)
    assert isinstance(choose_reporter("plain", Terminal()), PlainReporter)
    assert choose_reporter("none") is None


def test_the_chosen_reporter_writes_to_the_stream_given():
    out = io.StringIO()
    run_scripted({"a": ["hi\n"]}, plugins=[choose_reporter("auto", out)])
    assert out.getvalue().startswith("[a] hi\n")


def test_an_unknown_reporter_name_is_refused():
    with pytest.raises(ValueError, match="reporter must be one of auto, rich, plain, none"):
        choose_reporter("fancy")


def test_a_reporter_that_raises_is_logged_by_name_and_the_run_and_other_reporters_go_on(caplog):
    class Broken:
        @hookimpl
        def mac_run_started(self, run):
            raise RuntimeError("bug at start")

        @hookimpl
        def mac_task_event(self, task, event):
            raise RuntimeError("bug per event")

        @hookimpl
        def mac_task_finished(self, task, result):
            raise RuntimeError("bug at the end")

    caplog.set_level(logging.ERROR)
    out = io.StringIO()
    results, _ = run_scripted({"a": ["one\n", "two\n"], "b": ["three\n"]}, plugins=[Broken(), PlainReporter(out)])
    assert [r.status for r in results] == ["completed", "completed"]
    assert [r.text for r in results] == ["one\ntwo\n", "three\n"]
    assert "[a] one\n" in out.getvalue() and "[b] three\n" in out.getvalue()
    assert "Broken" in caplog.text
    for hook in ("mac_run_started", "mac_task_event", "mac_task_finished"):
        assert f"raised in {hook}" in caplog.text
