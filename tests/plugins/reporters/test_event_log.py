"""JsonlEventLog: one line per event, buffered, secret-free, and enough to replay the run."""

from __future__ import annotations

import io
import json
import logging

import click
from click.testing import CliRunner
from mac_plugins.policies import StopOnPattern
from mac_plugins.reporters import JsonlEventLog, PlainReporter, read_runs, replay
from mac_plugins.reporters import mac_register_commands as reporters_commands
from scripted import HANG, failure, run_scripted

from mac_core import Event, Usage, hookimpl

CANARY = "sk-ant-canary-7f3e9d1c2b4a"


def records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_hook_call_becomes_one_line_in_order(tmp_path):
    path = tmp_path / "events.jsonl"
    results, _ = run_scripted(
        {"a": ["one ", "two"], "b": ["STOP", HANG]}, plugins=[StopOnPattern("STOP"), JsonlEventLog(path)], max_concurrency=1
    )
    log = records(path)
    run_id = log[0]["run"]
    assert [r["kind"] for r in log] == [
        "run_started",
        "task_started", "event", "event", "event", "task_finished",
        "task_started", "event", "task_finished",
        "run_finished",
    ]
    assert {r["run"] for r in log} == {run_id} and [r["seq"] for r in log] == list(range(1, 11))
    assert all(earlier["t"] <= later["t"] for earlier, later in zip(log, log[1:], strict=False))
    assert log[0]["transport"] == "scripted"
    assert [t["name"] for t in log[0]["tasks"]] == ["a", "b"]
    assert "prompt" not in log[0]["tasks"][0]
    assert [(r["type"], r.get("text")) for r in log[2:5]] == [("text", "one "), ("text", "two"), ("usage", None)]
    assert log[4]["data"] == {"input_tokens": 10, "output_tokens": 2, "cache_read_input_tokens": 0,
                              "cache_creation_input_tokens": 0}
    assert log[5]["result"]["status"] == "completed" and log[5]["result"]["text"] == "one two"
    assert log[8]["result"]["interrupt_reason"] == results[1].interrupt_reason
    assert log[9]["interrupt_reason"] == results[1].interrupt_reason


def test_secrets_never_reach_the_log(tmp_path):
    path = tmp_path / "events.jsonl"
    message = Event("agent_message", data={
        "type": "system", "apiKeySource": "ANTHROPIC_API_KEY", "api_key": "plain-secret-value",
        "headers": {"Authorization": "Bearer abc", "x-api-key": CANARY}, "output_tokens": 5,
        "env": [f"ANTHROPIC_API_KEY={CANARY}"],
    })
    run_scripted({"a": [message, f"the key is {CANARY}!"]}, plugins=[JsonlEventLog(path)])
    text = path.read_text()
    assert CANARY not in text and "plain-secret-value" not in text and "Bearer abc" not in text
    data = records(path)[2]["data"]
    assert data["api_key"] == data["headers"]["Authorization"] == data["headers"]["x-api-key"] == "[redacted]"
    assert data["output_tokens"] == 5 and data["apiKeySource"] == "ANTHROPIC_API_KEY"  # not secrets
    assert records(path)[3]["text"] == "the key is [redacted]!"


def test_lines_are_written_when_a_task_ends_not_per_event(tmp_path):
    path = tmp_path / "events.jsonl"
    seen = {}

    class Peek:
        @hookimpl
        def mac_task_event(self, task, event):
            seen.setdefault(task.name, path.read_text().count("\n"))

    run_scripted({"a": ["x", "y"], "b": ["z"]}, plugins=[JsonlEventLog(path), Peek()], max_concurrency=1)
    assert seen["a"] == 0  # nothing written during the first task
    assert seen["b"] == 6  # a's lines (run_started, task_started, 3 events, task_finished) written at its end


def test_a_replay_shows_the_run_exactly_as_it_was_shown_live(tmp_path):
    path = tmp_path / "events.jsonl"
    live = io.StringIO()
    tool = Event("tool_use", data={"id": "t", "name": "Read", "input": {"file_path": "app.py"}})
    run_scripted(
        {"Security": ["Reading\n", tool, "CRITICAL: eval\nof input"], "Perf": ["fine\n", HANG],
         "Broken": [failure()], "Late": ["x"]},
        plugins=[StopOnPattern("CRITICAL"), PlainReporter(live), JsonlEventLog(path)],
        max_concurrency=3,
    )
    replayed = io.StringIO()
    replay(path, PlainReporter(replayed))
    assert replayed.getvalue() == live.getvalue()
    assert "-- run stopped: Security wrote 'CRITICAL'" in replayed.getvalue()


def test_runs_append_to_one_file_and_each_can_be_replayed(tmp_path):
    path = tmp_path / "events.jsonl"
    log = JsonlEventLog(path)
    run_scripted({"first": ["one\n"]}, plugins=[log])
    run_scripted({"second": ["two\n"], "third": [Usage(5, 7), "three\n"]}, plugins=[log])
    runs = read_runs(path)
    assert len(runs) == 2
    second = list(runs)[1]
    out = io.StringIO()
    replay(path, PlainReporter(out), run_id=second)
    assert "[second] two" in out.getvalue() and "[third] three" in out.getvalue() and "first" not in out.getvalue()


def test_mac_replay_prints_a_recorded_run(tmp_path):
    path = tmp_path / "events.jsonl"
    run_scripted({"a": ["hello\n"]}, plugins=[JsonlEventLog(path)])
    cli = click.Group()
    reporters_commands(cli=cli)
    result = CliRunner().invoke(cli, ["replay", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("[a] hello\n[a] -- completed: 1 output token in ")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    result = CliRunner().invoke(cli, ["replay", str(bad)])
    assert result.exit_code == 2 and "is not an event log" in result.output  # a usage error


def test_an_unwritable_log_is_reported_once_and_the_run_goes_on(tmp_path, caplog):
    caplog.set_level(logging.ERROR)
    results, _ = run_scripted({"a": ["x", "y"]}, plugins=[JsonlEventLog(tmp_path / "missing" / "events.jsonl")])
    assert results[0].ok
    assert caplog.text.count("cannot be opened") == 1
    assert "raised" not in caplog.text
