"""The ``batch`` transport against the simulator's Message Batches, over real loopback sockets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import anthropic
import pytest
from mac_plugins.batch import BatchTransport
from mac_plugins.simulator import Simulator

from mac_core import Coordinator, Interrupt, hookimpl
from mac_core.pricing import cost_usd

FAST = {"poll_interval": 0.05, "max_poll_interval": 0.2, "flush_after": 0.05}


def batches_on(server) -> list:
    """Every batch the simulator holds, newest first."""
    return anthropic.Anthropic(base_url=server.url, api_key="sk-sim").messages.batches.list(limit=100).data


class Events:
    """Records each task's events."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str, object]] = []

    @hookimpl
    def mac_task_event(self, task, event):
        self.seen.append((task.index, event.type, event.data))


class SmallBatches(BatchTransport):
    """A batch transport with tiny limits, so a few tasks need several batches."""

    max_batch_requests = 7


class TinyBatches(BatchTransport):
    """A batch transport whose byte limit fits about three requests."""

    max_batch_bytes = 700


class Limits:
    @hookimpl
    def mac_register_transports(self, register):
        register("small-batch", SmallBatches)
        register("tiny-batch", TinyBatches)


def replies(count: int, **extra) -> list[dict]:
    return [{"id": f"q{i}", "prompt": f"[[reply: answer {i}]]", **extra} for i in range(count)]


def test_results_map_back_to_their_tasks_by_custom_id_and_progress_is_reported(sim):
    prompts = replies(36)
    prompts += [{"id": "not a valid custom id!", "prompt": "[[reply: odd id]]"}, {"prompt": "[[reply: no id]]"},
                {"id": "q0", "prompt": "[[reply: duplicate id]]"}]
    events = Events()
    results = Coordinator().run(prompts, transport="batch", max_concurrency=4, transport_options=FAST,
                                plugins=[events], model="claude-sonnet-4-6")
    assert [r.status for r in results] == ["completed"] * len(prompts)
    assert [r.text for r in results] == [f"answer {i}" for i in range(36)] + ["odd id", "no id", "duplicate id"]
    assert sim.stats.batches == 1  # max_concurrency does not hold back a batching transport
    assert all(r.request_id == batches_on(sim)[0].id for r in results)
    assert results[0].cost_usd == pytest.approx(cost_usd("claude-sonnet-4-6", results[0].usage, batch=True))
    assert results[0].cost_usd == pytest.approx(cost_usd("claude-sonnet-4-6", results[0].usage) / 2)
    progress = [data for index, kind, data in events.seen if kind == "progress" and index == 0]
    assert progress and progress[-1]["processing_status"] == "ended" and progress[-1]["succeeded"] == len(prompts)
    assert progress[-1]["batch_id"] == results[0].request_id


@pytest.mark.parametrize(("transport", "batches"), [("small-batch", 3), ("tiny-batch", 5)])
def test_work_beyond_a_batchs_limits_is_split_over_several_batches(sim, transport, batches):
    # Each request here takes about 135 bytes on the wire: 700 bytes hold four of them.
    results = Coordinator(plugins=[Limits()]).run(replies(20), transport=transport, transport_options=FAST)
    assert [r.text for r in results] == [f"answer {i}" for i in range(20)]
    assert sim.stats.batches == batches
    assert len({r.request_id for r in results}) == batches


def test_an_errored_request_fails_its_task_with_the_apis_error_and_spares_the_others(sim):
    prompts = replies(3)
    prompts[1]["tools"] = [{"name": "lookup"}]  # an API tool dict passes through as is; only the API can refuse it
    results = Coordinator().run(prompts, transport="batch", transport_options=FAST)
    assert [r.status for r in results] == ["completed", "failed", "completed"]
    assert "invalid_request_error" in results[1].error and "tools.0.input_schema: Field required" in results[1].error
    assert results[1].request_id == results[0].request_id  # the batch id, to look it up


class StopAtFirstProgress:
    @hookimpl
    def mac_should_interrupt(self, task, event, run):
        return Interrupt(reason="enough", scope="run") if event.type == "progress" else None


def test_interrupting_every_task_cancels_their_batch(monkeypatch, tmp_path):
    with Simulator(tokens=5, token_delay=0, batch_delay=0.2) as slow:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", slow.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-sim")
        monkeypatch.setenv("MAC_CONFIG", str(tmp_path / "none.toml"))
        results = Coordinator().run(replies(20), transport="batch", transport_options=FAST,
                                    plugins=[StopAtFirstProgress()])
        assert {r.status for r in results} == {"interrupted"}
        assert {r.interrupt_reason for r in results} == {"enough"}
        (batch,) = batches_on(slow)
        assert batch.processing_status in ("canceling", "ended") and batch.cancel_initiated_at is not None
        assert slow.stats.batch_requests < 20


def test_a_rerun_with_the_state_file_polls_the_recorded_batch_instead_of_sending_again(sim, tmp_path):
    options = {**FAST, "state_file": str(tmp_path / "out.batches.json")}
    first = Coordinator().run(replies(10), transport="batch", transport_options=options)
    assert sim.stats.batches == 1 and all(r.ok for r in first)
    again = Coordinator().run(replies(10), transport="batch", transport_options=options)
    assert sim.stats.batches == 1  # no new batch: nothing paid twice
    assert [r.text for r in again] == [r.text for r in first]
    assert {r.request_id for r in again} == {first[0].request_id}


def test_a_resumed_request_that_did_not_succeed_or_changed_is_sent_again(sim, tmp_path):
    options = {**FAST, "state_file": str(tmp_path / "out.batches.json")}
    prompts = replies(4)
    prompts[1]["tools"] = [{"name": "lookup"}]  # refused by the API: no input_schema
    first = Coordinator().run(prompts, transport="batch", transport_options=options)
    assert [r.status for r in first] == ["completed", "failed", "completed", "completed"]
    fixed = replies(4)
    fixed[3]["prompt"] = "[[reply: changed]]"
    again = Coordinator().run(fixed, transport="batch", transport_options=options)
    assert [r.text for r in again] == ["answer 0", "answer 1", "answer 2", "changed"]
    assert sim.stats.batches == 2
    assert again[0].request_id == first[0].request_id and again[1].request_id != first[0].request_id


def test_mac_run_with_the_batch_transport_completes_every_line(sim, tmp_path):
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"question {i}"}) + "\n" for i in range(300)))
    env = {**os.environ, "ANTHROPIC_BASE_URL": sim.url, "ANTHROPIC_API_KEY": "anything",
           "MAC_CONFIG": str(tmp_path / "none.toml")}
    done = subprocess.run([sys.executable, "-m", "mac_core", "run", str(source), "-o", str(output),
                           "--transport", "batch"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(r["id"] for r in records) == sorted(f"q{i}" for i in range(300))
    assert all(r["status"] == "completed" and r["text"] for r in records)
    assert sim.stats.batches == 1
    assert (tmp_path / "out.jsonl.batches.json").exists()  # mac run records its batches for a resume


CRASHING_RUN = """
import sys
from mac_core import Coordinator
prompts = [{"id": f"q{i}", "prompt": f"[[reply: answer {i}]]"} for i in range(20)]
Coordinator().run(prompts, transport="batch", transport_options={"state_file": sys.argv[1], "poll_interval": 60})
"""


def recorded(state) -> bool:
    try:
        return bool(json.loads(state.read_text())["requests"])
    except (OSError, ValueError):
        return False


def test_after_a_crash_mid_batch_a_rerun_polls_the_batch_still_in_progress(monkeypatch, tmp_path):
    state = tmp_path / "out.batches.json"
    with Simulator(tokens=5, token_delay=0, batch_delay=0.05) as slow:
        env = {**os.environ, "ANTHROPIC_BASE_URL": slow.url, "ANTHROPIC_API_KEY": "sk-sim",
               "MAC_CONFIG": str(tmp_path / "none.toml")}
        crashing = subprocess.Popen([sys.executable, "-c", CRASHING_RUN, str(state)], env=env)
        try:
            deadline = time.monotonic() + 20
            while not recorded(state) and time.monotonic() < deadline:  # the file exists from the start, empty
                time.sleep(0.02)
        finally:
            crashing.kill()  # SIGKILL: no cancel, no cleanup, as in a crash
            crashing.wait(timeout=10)
        (batch,) = batches_on(slow)
        assert batch.processing_status == "in_progress"
        monkeypatch.setenv("ANTHROPIC_BASE_URL", slow.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-sim")
        monkeypatch.setenv("MAC_CONFIG", str(tmp_path / "none.toml"))
        results = Coordinator().run(replies(20), transport="batch", transport_options={**FAST, "state_file": str(state)})
        assert [r.text for r in results] == [f"answer {i}" for i in range(20)]
        assert slow.stats.batches == 1 and {r.request_id for r in results} == {batch.id}
