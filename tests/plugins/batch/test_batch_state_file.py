"""The batch resume file is never a best-effort side effect: what cannot be recorded is not paid for."""

from __future__ import annotations

import json

from mac_plugins.batch.state import BatchStateFile

from mac_core import Coordinator

FAST = {"poll_interval": 0.02, "max_poll_interval": 0.1, "flush_after": 0.02}


def replies(count: int) -> list[str]:
    return [f"[[reply: answer {i}]]" for i in range(count)]


def test_a_state_file_that_cannot_be_written_fails_every_task_before_any_batch_is_sent(sim, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the state file's folder should be")
    options = {**FAST, "state_file": str(blocker / "out.batches.json")}
    results = Coordinator().run(replies(3), transport="batch", transport_options=options)
    assert [r.status for r in results] == ["failed"] * 3
    assert all(f"cannot write the batch state file {blocker / 'out.batches.json'}" in r.error for r in results)
    assert sim.stats.batches == 0 and sim.stats.batch_requests == 0  # nothing sent, nothing paid


def test_a_batch_that_cannot_be_recorded_is_cancelled_and_its_tasks_fail_saying_why(batch_sim, tmp_path, monkeypatch):
    sim = batch_sim(batch_delay=0.5)  # the batch is still in progress when the cancel arrives
    state = tmp_path / "out.batches.json"

    def disk_full(self, batch_id, requests):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(BatchStateFile, "record", disk_full)  # the disk fills between the first save and the batch
    results = Coordinator().run(replies(3), transport="batch", transport_options={**FAST, "state_file": str(state)})
    assert [r.status for r in results] == ["failed"] * 3
    assert all("could not be recorded" in r.error and "No space left on device" in r.error for r in results)
    assert sim.stats.batches == 1
    assert json.loads(state.read_text())["requests"] == {}  # the file holds what is true: nothing recorded
    (batch,) = batches_on(sim)
    assert batch.cancel_initiated_at is not None  # cancelled, so nothing unrecorded is paid for


def test_an_unreadable_state_file_is_kept_aside_not_overwritten(sim, tmp_path, caplog):
    state = tmp_path / "out.batches.json"
    state.write_text("{ half a file")
    results = Coordinator().run(replies(2), transport="batch", transport_options={**FAST, "state_file": str(state)})
    assert all(r.ok for r in results)
    assert (tmp_path / "out.batches.json.unreadable").read_text() == "{ half a file"
    assert len(json.loads(state.read_text())["requests"]) == 2
    assert "kept as" in caplog.text


def batches_on(sim):
    import anthropic

    client = anthropic.Anthropic(base_url=sim.url, api_key="sk-sim")
    return list(client.messages.batches.list())
