"""``mac run`` against the simulator: results appended as they finish, Ctrl-C, resume without duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from mac_plugins.simulator import Simulator


def mac(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mac_core", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture
def sim_env(tmp_path):
    with Simulator(tokens=12, token_delay=0.01) as sim:
        yield {**os.environ, "ANTHROPIC_BASE_URL": sim.url, "ANTHROPIC_API_KEY": "sk-sim", "MAC_CONFIG": str(tmp_path / "none.toml")}


def write_prompts(path, count: int, extra: list[str] = ()) -> None:
    lines = [json.dumps({"id": f"q{i}", "prompt": f"question number {i}"}) for i in range(count)]
    path.write_text("\n".join([*lines, *extra]) + "\n")


def read_output(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_interrupted_halfway_and_run_again_gives_every_result_exactly_once(tmp_path, sim_env):
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_prompts(source, 300)
    first = mac("run", str(source), "-o", str(output), "--concurrency", "4", env=sim_env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not output.exists() or len(output.read_text().splitlines()) < 100):
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=15)
    assert first.returncode == 130, err
    assert f"resume with: mac run {source} -o {output}" in err
    kept = read_output(output)
    assert 100 <= len(kept) < 300  # what finished before Ctrl-C was kept

    second = mac("run", str(source), "-o", str(output), "--concurrency", "16", env=sim_env)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    records = read_output(output)
    assert len(records) == 300
    assert sorted(r["id"] for r in records) == sorted(f"q{i}" for i in range(300))
    assert all(r["status"] == "completed" and r["text"] for r in records)

    third = mac("run", str(source), "-o", str(output), env=sim_env)
    _, err = third.communicate(timeout=60)
    assert third.returncode == 0 and "nothing to run: 300 of 300" in err
    assert len(read_output(output)) == 300


def test_bad_lines_are_reported_and_skipped_and_a_run_of_every_good_line_exits_0(tmp_path, sim_env):
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_prompts(source, 3, extra=["{oops", json.dumps({"id": "q0", "prompt": "duplicate"})])
    run = mac("run", str(source), "-o", str(output), env=sim_env)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err  # running again cannot fix a bad line, so it does not fail the run
    assert f"{source}:line 4: not JSON" in err and f"{source}:line 5: duplicate id 'q0'" in err
    assert "mac run: 2 bad input lines were skipped (see above)" in err.splitlines()[-1]
    assert out == ""  # data goes to the file, talk to stderr
    assert [r["id"] for r in read_output(output)].count("q0") == 1
    assert len(read_output(output)) == 3

    again = mac("run", str(source), "-o", str(output), env=sim_env)
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0 and "nothing to run: 3 of 3" in err and "2 bad input lines were skipped" in err


def test_a_missing_key_is_one_clear_line_before_anything_runs(tmp_path, sim_env):
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(json.dumps({"id": "x", "prompt": "hello", "model": ""}) + "\n"
                      + json.dumps({"id": "y", "prompt": "hello"}) + "\n")
    env = {**sim_env, "ANTHROPIC_API_KEY": ""}
    run = mac("run", str(source), "-o", str(output), env=env)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 2
    assert "line 1: this line: model is empty" in err
    assert "mac: no Anthropic API key: set ANTHROPIC_API_KEY" in err  # one clear line, no traceback
    assert "Traceback" not in err and not output.exists()


def test_failed_tasks_are_written_with_their_error_and_the_exit_code_says_so(tmp_path):
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_prompts(source, 3)
    with Simulator(tokens=5, token_delay=0, fault_rate=1.0, faults=("overloaded",)) as sim:
        env = {**os.environ, "ANTHROPIC_BASE_URL": sim.url, "ANTHROPIC_API_KEY": "sk-sim"}
        run = mac("run", str(source), "-o", str(output), env=env)
        _, err = run.communicate(timeout=60)
    assert run.returncode == 1
    records = read_output(output)
    assert [r["status"] for r in records] == ["failed"] * 3
    assert all(r["error"].startswith("HTTP 529 overloaded_error") for r in records)
    assert "done: 0 completed, 3 failed" in err


def test_http_client_aiohttp_runs_the_job_and_a_bad_stack_is_a_usage_error(tmp_path, sim_env):
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_prompts(source, 20)
    run = mac("run", str(source), "-o", str(output), "--concurrency", "10", "--http-client", "aiohttp", env=sim_env)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert sorted(r["id"] for r in read_output(output)) == sorted(f"q{i}" for i in range(20))

    bad = mac("run", str(source), "-o", str(tmp_path / "other.jsonl"), env={**sim_env, "MAC_HTTP_CLIENT": "curl"})
    _, err = bad.communicate(timeout=60)
    assert bad.returncode == 2
    assert "$MAC_HTTP_CLIENT must be one of 'httpx', 'aiohttp', got 'curl'" in err and "Traceback" not in err
    assert not (tmp_path / "other.jsonl").exists()
