"""Reporters show a task waiting for the rate limit: the plain line, the JSONL record, and its replay."""

from __future__ import annotations

import io
import json
import time

import httpx
from mac_plugins.reporters import JsonlEventLog, PlainReporter, replay
from sse import API, message_json

from mac_core import Coordinator, hookimpl


def test_a_wait_for_the_limit_is_a_plain_line_a_jsonl_record_and_replays(
    httpx2_mock, monkeypatch, api_key, tmp_path
):
    monkeypatch.setenv("ANTHROPIC_API_KEY", f"sk-ant-waits-{time.monotonic_ns()}")
    limited = {"anthropic-ratelimit-requests-limit": "60", "anthropic-ratelimit-requests-remaining": "0"}
    httpx2_mock.post(API).mock(return_value=httpx.Response(200, json=message_json("ok"), headers=limited))
    out, path = io.StringIO(), tmp_path / "events.jsonl"
    Coordinator(plugins=[PlainReporter(stream=out), JsonlEventLog(path)]).run(
        ["a", "b"], transport="messages", model="claude-test", max_concurrency=1
    )

    assert "[task-1] -- waits 1.0 s for the rate limit (requests per minute)" in out.getvalue().replace(
        "0.9 s", "1.0 s"
    )
    (waiting,) = [json.loads(line) for line in path.read_text().splitlines() if '"task_waiting"' in line]
    assert (
        waiting["name"] == "task-1"
        and waiting["limit"] == "requests per minute"
        and 0.5 < waiting["seconds"] <= 1.05
    )

    seen = []

    class Recorder:
        @hookimpl
        def mac_task_waiting(self, task, seconds, limit):
            seen.append((task.name, seconds, limit))

    replay(path, Recorder())
    assert seen == [("task-1", waiting["seconds"], "requests per minute")]
