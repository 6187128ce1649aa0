"""``mac run`` user errors: one clear line on stderr, exit 2, before anything is sent or written; transport options."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest
from mac_plugins.batch.options import BatchOptions
from mac_plugins.run_file.options import TransportOptionError, missing_options, parse_transport_options

from mac_core.transport import NoOptions


def write_jobs(path: Path, count: int, prompt: str = "question {i}") -> None:
    path.write_text("".join(json.dumps({"id": f"q{i}", "prompt": prompt.format(i=i)}) + "\n" for i in range(count)))


def assert_refused(done: subprocess.CompletedProcess, message: str) -> None:
    """Exit 2, and stderr is the one line ``message`` is in (bad-line reports aside), with no traceback."""
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    (line,) = [line for line in done.stderr.splitlines() if "skipped" not in line]
    assert message in line, done.stderr


@pytest.fixture
def read_only_folder(tmp_path) -> Path:
    """A folder on a read-only tmpfs (needs root); skipped where mounting is not allowed."""
    mount = tmp_path / "read-only"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=16k", "tmpfs", str(mount)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_agent_ws_without_a_url_is_one_line_naming_the_option_to_give(start_mac_cli, tmp_path):
    mac = start_mac_cli()
    write_jobs(tmp_path / "in.jsonl", 2)
    done = mac.run("run", "in.jsonl", "-o", "out.jsonl", "--transport", "agent-ws")
    assert_refused(done, "mac run: --transport-option: the agent-ws transport needs the option url, one server")
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize(("options", "named"), [
    (["url=ftp://example.com"], "agent URL 'ftp://example.com' must start with http://"),
    (["url=http://127.0.0.1:1", "interrupt_timeout=soon"], "'interrupt_timeout' must be a number, got 'soon'"),
    (["url=http://127.0.0.1:1", "reconnect_timeout=-1"], "transport_options['reconnect_timeout'] must be"),
    (["url=http://127.0.0.1:1", "allow_insecure=maybe"], "'allow_insecure' must be true or false, got 'maybe'"),
    (["ur=http://127.0.0.1:1"], "unknown agent-ws transport option 'ur' (known: url, urls, token,"),
    (["url"], "expected KEY=VALUE, got 'url'"),
    (["url=http://127.0.0.1:1", "url=http://127.0.0.1:2"], "'url' is given twice"),
])
def test_a_bad_transport_option_is_named_before_the_output_is_touched(start_mac_cli, tmp_path, options, named):
    mac = start_mac_cli()
    write_jobs(tmp_path / "in.jsonl", 2)
    given = [arg for option in options for arg in ("--transport-option", option)]
    done = mac.run("run", "in.jsonl", "-o", "out.jsonl", "--transport", "agent-ws", *given)
    assert_refused(done, f"mac run: --transport-option: {named}")
    assert not (tmp_path / "out.jsonl").exists()
    assert mac.sim.stats.messages == 0


def test_an_option_the_transport_does_not_take_is_refused_even_when_nothing_is_left_to_run(start_mac_cli, tmp_path):
    mac = start_mac_cli()
    write_jobs(tmp_path / "in.jsonl", 1)
    assert mac.run("run", "in.jsonl", "-o", "out.jsonl").returncode == 0
    done = mac.run("run", "in.jsonl", "-o", "out.jsonl", "--transport-option", "poll_interval=2")
    assert_refused(done, "unknown stream transport option 'poll_interval' (known: none)")


def test_agent_ws_with_a_url_runs_every_line_against_the_agent(start_mac_cli, tmp_path):
    mac = start_mac_cli()
    write_jobs(tmp_path / "in.jsonl", 3, prompt="[[reply: answer {i}]]")
    done = mac.run("run", "in.jsonl", "-o", "out.jsonl", "--transport", "agent-ws",
                   "--transport-option", f"url={mac.sim.url}", "--transport-option", "interrupt_timeout=2",
                   "--max-concurrency", "1")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert {r["id"]: r["text"] for r in records} == {f"q{i}": f"answer {i}" for i in range(3)}


def test_batch_options_from_the_command_line_reach_the_transport_typed(start_mac_cli, tmp_path):
    mac = start_mac_cli(batch_delay=0.002)
    write_jobs(tmp_path / "in.jsonl", 4)
    done = mac.run("run", "in.jsonl", "-o", "out.jsonl", "--transport", "batch",
                   "--transport-option", "poll_interval=0.05", "--transport-option", "state_file=mine.json")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "mine.json").exists() and not (tmp_path / "out.jsonl.batches.json").exists()
    assert mac.sim.stats.batches == 1


def test_an_output_in_a_missing_folder_is_one_line_before_anything_is_sent(start_mac_cli, tmp_path):
    mac = start_mac_cli()
    write_jobs(tmp_path / "in.jsonl", 2)
    done = mac.run("run", "in.jsonl", "-o", "no/such/folder/out.jsonl")
    assert_refused(done, "mac run: cannot write to no/such/folder/out.jsonl: No such file or directory")
    assert mac.sim.stats.messages == 0


def test_an_output_on_a_read_only_disk_is_one_line_before_anything_is_sent(start_mac_cli, tmp_path,
                                                                          read_only_folder):
    mac = start_mac_cli()
    write_jobs(tmp_path / "in.jsonl", 2)
    output = read_only_folder / "out.jsonl"
    done = mac.run("run", "in.jsonl", "-o", str(output))
    assert_refused(done, f"mac run: cannot write to {output}: Read-only file system")
    assert mac.sim.stats.messages == 0


def test_max_concurrency_is_the_option_and_concurrency_its_alias(start_mac_cli, tmp_path):
    mac = start_mac_cli()
    write_jobs(tmp_path / "in.jsonl", 2)
    for flag, output in (("--max-concurrency", "a.jsonl"), ("--concurrency", "b.jsonl")):
        assert mac.run("run", "in.jsonl", "-o", output, flag, "2").returncode == 0
    done = mac.run("run", "in.jsonl", "-o", "c.jsonl", "--max-concurrency", "0")
    assert done.returncode == 2 and "--max-concurrency" in done.stderr and not (tmp_path / "c.jsonl").exists()


def test_command_line_values_take_the_type_their_option_declares():
    options = parse_transport_options(
        ["poll_interval=0.5", "flush_after=2", "state_file=out.json", "cancel_timeout=1e1"], BatchOptions)
    assert options == {"poll_interval": 0.5, "flush_after": 2, "state_file": "out.json", "cancel_timeout": 10.0}
    assert parse_transport_options(["anything=1"], None) == {"anything": "1"}  # no declared types: text
    assert parse_transport_options(["x=a=b"], NoOptions) == {"x": "a=b"}  # unknown: text, for the core to refuse


def test_an_option_without_a_default_is_missing_only_when_no_name_is_misspelt():
    @dataclasses.dataclass(frozen=True)
    class NeedsUrl:
        url: str
        token: str | None = None

    assert missing_options(NeedsUrl, {"token": "t"}) == ["url"]
    assert missing_options(NeedsUrl, {"urll": "http://x"}) == []  # the core names the misspelt one
    with pytest.raises(TransportOptionError, match="'flush_after' must be a number, got 'soon'"):
        parse_transport_options(["flush_after=soon"], BatchOptions)
