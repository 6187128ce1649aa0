"""``mac run`` never loses a paid result: unwritable results stop the run, are named, and what was written stays whole."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from mac_plugins.run_file.jobfile import completed_results
from mac_plugins.run_file.output import ResultWriter

from mac_core import TaskResult, Usage


def write_lines(path: Path, specs: list[dict]) -> None:
    path.write_text("".join(json.dumps(spec) + "\n" for spec in specs))  # ASCII: lone surrogates stay escapes


def read_results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().decode("utf-8").splitlines() if line.strip()]


def prompts(count: int) -> list[dict]:
    return [{"id": f"q{i}", "prompt": f"question number {i}"} for i in range(count)]


def test_a_lone_surrogate_in_an_id_is_written_as_an_escape_and_resumes_as_the_same_id(tmp_path, start_mac_cli):
    cli = start_mac_cli()
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(source, [{"id": "caf\u00e9 \ud800", "prompt": "hello"}, {"id": "plain", "prompt": "hi"}])
    first = cli.run("run", str(source), "-o", str(output))
    assert first.returncode == 0, first.stderr
    assert "\\ud800" in output.read_text(encoding="utf-8")  # an escape on disk; the rest stays readable UTF-8
    assert sorted(r["id"] for r in read_results(output)) == ["caf\u00e9 \ud800", "plain"]

    again = cli.run("run", str(source), "-o", str(output))
    assert again.returncode == 0 and "nothing to run: 2 of 2" in again.stderr
    assert cli.sim.stats.messages == 2


def test_a_lone_surrogate_in_an_answer_round_trips_through_the_results_file(tmp_path):
    output = tmp_path / "out.jsonl"
    answer = "half an emoji: \ud83d and a whole one: \U0001f600"
    with output.open("ab", buffering=0) as stream:
        writer = ResultWriter(stream)
        writer.mac_task_finished(task=None, result=TaskResult(index=0, name="task-0", status="completed", id="a",
                                                              text=answer, usage=Usage(3, 4)))
    assert writer.unsaved == [] and writer.written == 1
    (record,) = read_results(output)
    assert record["text"] == answer and record["id"] == "a"
    assert list(completed_results(output)) == ["a"]


def test_a_prompt_with_a_lone_surrogate_is_a_bad_line_and_never_sent(tmp_path, start_mac_cli):
    cli = start_mac_cli()
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(source, [{"id": "a", "prompt": "broken \udc80 text"}, {"id": "b", "prompt": "fine"},
                         {"id": "c", "prompt": "fine", "model": "claude-\udc80"}])
    run = cli.run("run", str(source), "-o", str(output))
    assert run.returncode == 0, run.stderr  # every line that could run did
    assert f"{source}:line 1: this line['prompt'] holds '\\udc80' at character 7, a lone surrogate" in run.stderr
    assert f"{source}:line 3: model has a lone surrogate '\\udc80' at character 7" in run.stderr
    assert [r["id"] for r in read_results(output)] == ["b"]
    assert cli.sim.stats.messages == 1


def test_a_full_disk_stops_the_run_at_once_names_the_task_and_exits_1(tmp_path, start_mac_cli):
    cli = start_mac_cli(token_delay=0.01)
    source = tmp_path / "in.jsonl"
    write_lines(source, prompts(40))
    run = cli.run("run", str(source), "-o", "/dev/full", "--concurrency", "2")
    assert run.returncode == 1, run.stderr
    assert "could not write the result of task 'q" in run.stderr and "No space left on device" in run.stderr
    assert "Traceback" not in run.stderr
    assert cli.sim.stats.messages <= 2  # the requests in flight when the first write failed; no new one


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A 64 KiB tmpfs (needs root); skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_disk_filling_up_keeps_every_written_line_whole_and_a_rerun_after_freeing_space_finishes(
        tmp_path, small_disk, start_mac_cli):
    cli = start_mac_cli(tokens=150)  # about 1 KB per result line
    source, output, filler = tmp_path / "in.jsonl", small_disk / "out.jsonl", small_disk / "filler"
    write_lines(source, prompts(40))  # about 46 KB of results: they fit once the filler is gone
    filler.write_bytes(b"x" * 40 * 1024)
    full = cli.run("run", str(source), "-o", str(output), "--concurrency", "2")
    assert full.returncode == 1, full.stderr
    assert "could not write the result of task 'q" in full.stderr and "No space left on device" in full.stderr
    assert "Traceback" not in full.stderr
    kept = read_results(output)  # every line parses: no torn line left by the failed write
    assert 5 < len(kept) < 40 and all(r["status"] == "completed" for r in kept)
    assert cli.sim.stats.messages <= len(kept) + 2 + 1  # written, in flight when it failed, the unwritable one

    filler.unlink()
    rerun = cli.run("run", str(source), "-o", str(output), "--concurrency", "2")
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(r["id"] for r in read_results(output)) == sorted(f"q{i}" for i in range(40))


def test_a_closed_pipe_stops_the_run_without_a_traceback(tmp_path, start_mac_cli):
    cli = start_mac_cli(token_delay=0.01)
    source = tmp_path / "in.jsonl"
    write_lines(source, prompts(200))
    run = cli.start("run", str(source), "-o", "-", "--concurrency", "2")
    first_line = run.stdout.readline()
    run.stdout.close()  # the reader goes away, as `| head -n 1` does
    run.wait(timeout=60)
    err = run.stderr.read()
    run.stderr.close()
    assert json.loads(first_line)["status"] == "completed"
    assert run.returncode == 1, err
    assert "could not write the result of task 'q" in err and "Broken pipe" in err
    assert "Traceback" not in err
    assert cli.sim.stats.messages < 40  # stopped at once, not after all 200
