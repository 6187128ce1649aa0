"""``mac run`` refuses to double-bill or mis-resume: one run per output, never the input, changed prompts caught."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path


def write_lines(path: Path, specs: list[dict]) -> None:
    path.write_text("".join(json.dumps(spec) + "\n" for spec in specs))


def read_results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().decode("utf-8").splitlines() if line.strip()]


def prompts(count: int) -> list[dict]:
    return [{"id": f"q{i}", "prompt": f"question number {i}"} for i in range(count)]


def test_a_second_run_on_the_same_output_is_refused_and_allowed_once_the_first_is_killed(tmp_path, start_mac_cli):
    cli = start_mac_cli(token_delay=0.02)
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(source, prompts(100))
    first = cli.start("run", str(source), "-o", str(output), "--concurrency", "2")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not output.exists() or not output.read_text().count("\n")):
        time.sleep(0.02)
    try:
        second = cli.run("run", str(source), "-o", str(output))
        assert second.returncode == 2
        assert f"another mac run is writing to {output}" in second.stderr and "Traceback" not in second.stderr
        assert first.poll() is None  # refused while the first was still running
    finally:
        first.send_signal(signal.SIGKILL)  # the kernel releases the lock; no clean-up ran
        first.communicate(timeout=15)

    third = cli.run("run", str(source), "-o", str(output), "--concurrency", "16")
    assert third.returncode == 0, third.stderr
    completed = [r["id"] for r in read_results(output) if r["status"] == "completed"]
    assert sorted(completed) == sorted(f"q{i}" for i in range(100))


def test_output_naming_the_input_file_is_refused_before_anything_is_sent(tmp_path, start_mac_cli):
    cli = start_mac_cli()
    source, alias = tmp_path / "in.jsonl", tmp_path / "alias.jsonl"
    write_lines(source, prompts(2))
    alias.symlink_to(source)
    before = source.read_bytes()
    for target in (source, alias):
        run = cli.run("run", str(source), "-o", str(target))
        assert run.returncode == 2
        assert "is the input file" in run.stderr and "Traceback" not in run.stderr
    with source.open("a") as appended_to:  # mac run in.jsonl -o - >> in.jsonl
        run = subprocess.run([sys.executable, "-m", "mac_core", "run", str(source), "-o", "-"], env=cli.env,
                             stdout=appended_to, stderr=subprocess.PIPE, text=True, timeout=60)
    assert run.returncode == 2 and "is the input file" in run.stderr
    assert source.read_bytes() == before
    assert cli.sim.stats.messages == 0


def test_a_prompt_changed_under_the_same_id_is_refused_on_resume_unless_asked_to_rerun(tmp_path, start_mac_cli):
    cli = start_mac_cli()
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(source, prompts(3))
    assert cli.run("run", str(source), "-o", str(output)).returncode == 0
    write_lines(source, [*prompts(1), {"id": "q1", "prompt": "a different question"}, *prompts(3)[2:]])
    before = output.read_bytes()
    (before_hash,) = [r["request_hash"] for r in read_results(output) if r["id"] == "q1"]

    refused = cli.run("run", str(source), "-o", str(output))
    assert refused.returncode == 2
    assert "1 completed result answers a different request than its line now asks: 'q1'" in refused.stderr
    assert "--rerun-changed" in refused.stderr
    assert output.read_bytes() == before and cli.sim.stats.messages == 3

    rerun = cli.run("run", str(source), "-o", str(output), "--rerun-changed")
    assert rerun.returncode == 0, rerun.stderr
    assert "running 1 task again whose request changed: 'q1'" in rerun.stderr
    assert cli.sim.stats.messages == 4
    records = read_results(output)  # appended, then compacted: the new answer replaced the old one
    assert sorted(r["id"] for r in records) == ["q0", "q1", "q2"]
    assert [r["request_hash"] for r in records if r["id"] == "q1"] != [before_hash]
    kept = read_results(output.with_name("out.jsonl.superseded"))  # the old paid answer is kept aside, not lost
    assert [(r["id"], r["request_hash"], r["status"]) for r in kept] == [("q1", before_hash, "completed")]

    settled = cli.run("run", str(source), "-o", str(output))
    assert settled.returncode == 0 and "nothing to run: 3 of 3" in settled.stderr


def test_a_line_without_id_that_moved_to_another_line_number_is_recognised(tmp_path, start_mac_cli):
    cli = start_mac_cli()
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(source, [{"prompt": "alpha"}, {"prompt": "beta"}])
    assert cli.run("run", str(source), "-o", str(output)).returncode == 0
    write_lines(source, [{"prompt": "inserted first"}, {"prompt": "alpha"}, {"prompt": "beta"}])
    refused = cli.run("run", str(source), "-o", str(output))
    assert refused.returncode == 2
    assert "2 completed results answer a different request than their lines now ask: '1', '2'" in refused.stderr
    assert cli.sim.stats.messages == 2


def test_prompts_from_stdin_and_results_to_stdout_with_dash_or_dev_stdout(tmp_path, start_mac_cli):
    cli = start_mac_cli()
    source = tmp_path / "in.jsonl"
    write_lines(source, prompts(5))
    for args, stdin in ((["-", "-o", "-"], source.read_text()), ([str(source), "-o", "/dev/stdout"], None)):
        run = cli.run("run", *args, input=stdin)
        assert run.returncode == 0, run.stderr
        records = [json.loads(line) for line in run.stdout.splitlines()]  # nothing but result lines on stdout
        assert sorted(r["id"] for r in records) == [f"q{i}" for i in range(5)]
        assert "done: 5 completed" in run.stderr
    assert not (tmp_path / "-").exists()
