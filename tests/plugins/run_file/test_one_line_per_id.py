"""After a resume, each id has exactly one line in the results file: a run that ends compacts it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from mac_plugins.run_file import target as target_module
from mac_plugins.run_file.target import ResultsTarget


def write_jobs(path: Path, count: int) -> None:
    path.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"question {i}"}) + "\n" for i in range(count)))


def read_results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def result_line(task_id: str, status: str) -> str:
    return json.dumps({"id": task_id, "status": status, "text": f"{task_id} {status}"}) + "\n"


def test_failed_tasks_run_again_to_success_leave_one_completed_line_per_id(start_mac_cli, tmp_path):
    failing = start_mac_cli(fault_rate=1.0, faults=("midstream",))
    write_jobs(tmp_path / "in.jsonl", 4)
    first = failing.run("run", "in.jsonl", "-o", "out.jsonl")
    assert first.returncode == 1, first.stderr
    assert [r["status"] for r in read_results(tmp_path / "out.jsonl")] == ["failed"] * 4

    healthy = start_mac_cli()
    second = healthy.run("run", "in.jsonl", "-o", "out.jsonl")
    assert second.returncode == 0, second.stderr
    assert "compacted out.jsonl: 4 superseded lines removed, one line per id" in second.stderr
    records = read_results(tmp_path / "out.jsonl")
    assert sorted(r["id"] for r in records) == [f"q{i}" for i in range(4)]
    assert all(r["status"] == "completed" for r in records)


def test_a_resume_after_ctrl_c_that_finds_nothing_to_run_still_compacts(start_mac_cli, tmp_path):
    mac = start_mac_cli()
    write_jobs(tmp_path / "in.jsonl", 2)
    (tmp_path / "out.jsonl").write_text(result_line("q0", "failed") + result_line("q0", "completed")
                                        + result_line("q1", "completed"))  # as a Ctrl-C'd resume leaves it
    done = mac.run("run", "in.jsonl", "-o", "out.jsonl")
    assert done.returncode == 0 and "nothing to run: 2 of 2" in done.stderr
    assert [(r["id"], r["status"]) for r in read_results(tmp_path / "out.jsonl")] == [("q0", "completed"),
                                                                                     ("q1", "completed")]
    assert mac.sim.stats.messages == 0


def test_a_run_stopped_by_ctrl_c_appends_and_leaves_compacting_to_the_resume(start_mac_cli, tmp_path):
    mac = start_mac_cli(token_delay=0.02)
    write_jobs(tmp_path / "in.jsonl", 60)
    output = tmp_path / "out.jsonl"
    output.write_text(result_line("q0", "failed"))
    run = mac.start("run", "in.jsonl", "-o", "out.jsonl", "--max-concurrency", "2")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and output.read_text().count("\n") < 4:
        time.sleep(0.02)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=15)
    assert run.returncode == 130, err
    lines = read_results(output)
    assert lines[0] == {"id": "q0", "status": "failed", "text": "q0 failed"}  # nothing rewritten on the way out
    assert [r["id"] for r in lines].count("q0") == 2

    resumed = mac.run("run", "in.jsonl", "-o", "out.jsonl", "--max-concurrency", "8")
    assert resumed.returncode == 0, resumed.stderr
    records = read_results(output)
    assert sorted(r["id"] for r in records) == sorted(f"q{i}" for i in range(60))


def test_compacting_keeps_each_ids_last_line_in_the_order_written_and_the_files_mode(tmp_path):
    output = tmp_path / "out.jsonl"
    output.write_text(result_line("a", "failed") + result_line("b", "completed") + '{"id": "c", "sta\n'
                      + result_line("a", "completed") + result_line("c", "failed"))
    output.chmod(0o640)
    assert ResultsTarget(output).compact() == 2
    assert [(r["id"], r["status"]) for r in read_results(output)] == [("b", "completed"), ("a", "completed"),
                                                                     ("c", "failed")]
    assert output.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temporary file left behind


def test_a_file_with_one_line_per_id_is_left_alone(tmp_path):
    output = tmp_path / "out.jsonl"
    output.write_text(result_line("a", "completed") + result_line("b", "failed"))
    inode = output.stat().st_ino
    assert ResultsTarget(output).compact() == 0
    assert output.stat().st_ino == inode


def test_a_run_that_opened_the_file_just_before_a_compaction_replaced_it_locks_the_new_file(tmp_path, monkeypatch):
    output, replacement = tmp_path / "out.jsonl", tmp_path / "compacted"
    output.write_text(result_line("a", "failed") + result_line("a", "completed"))
    replacement.write_text(result_line("a", "completed"))
    flock = target_module.fcntl.flock
    renamed = []

    def compaction_lands_between_open_and_lock(fd, operation):
        if not renamed:
            renamed.append(os.replace(replacement, output))  # another run compacted and released its lock
        return flock(fd, operation)

    monkeypatch.setattr(target_module.fcntl, "flock", compaction_lands_between_open_and_lock)
    with ResultsTarget(output).open() as stream:
        assert os.fstat(stream.fileno()).st_ino == output.stat().st_ino  # not the unlinked old file
