"""A user's mistake on the ``mac`` command line is one line on stderr and exit 2, never a traceback.

Exit 1 where the mistake is not in the command line but in the machine's
answer (a permission, a full disk) or the reader went away (a closed pipe).
``mac run``'s own refusals are tested with it (tests/plugins/run_file).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest

from mac_core import Coordinator, MissingAPIKeyError, invoke_claude
from mac_core.cli import cli, main
from mac_core.credentials import require_api_key


def refused(args: list[str], capsys, code: int = 2) -> str:
    """Run ``mac args``; assert it exits ``code`` with nothing on stdout and one line on stderr; return that line."""
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    assert exited.value.code == code, err
    assert out == ""
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something is listening on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.fixture
def plugin_command() -> Iterator[Callable[[Callable[[], object]], str]]:
    """Add a ``mac`` command whose body is a given function, as a plugin would; returns its name. Removed after."""
    added: list[str] = []

    def add(body: Callable[[], object]) -> str:
        name = f"plugin-command-{len(added)}"
        cli.add_command(click.Command(name, callback=body))
        added.append(name)
        return name

    yield add
    for name in added:
        cli.commands.pop(name, None)


def raising(exc: BaseException) -> Callable[[], None]:
    def body() -> None:
        raise exc

    return body


# --- usage errors -----------------------------------------------------------


def test_an_unknown_command_is_one_line_naming_it_and_the_help(capsys):
    assert refused(["no-such-command"], capsys) == "mac: No such command 'no-such-command' (see mac --help)"


def test_a_bad_option_value_is_one_line_naming_the_command_and_the_option(capsys):
    line = refused(["sim", "--port", "99999"], capsys)
    assert line.startswith("mac sim: Invalid value for '--port': 99999 is not in the range")


def test_an_extra_argument_is_one_line(capsys):
    assert refused(["policies", "extra"], capsys).startswith("mac policies: Got unexpected extra argument")


def test_mac_alone_shows_the_help_on_stderr_and_exits_2(capsys):
    with pytest.raises(SystemExit) as exited:
        main([])
    out, err = capsys.readouterr()
    assert exited.value.code == 2 and out == ""
    assert err.startswith("Usage: mac ") and "Commands:" in err


# --- mac replay ---------------------------------------------------------------

RUN_STARTED = {"kind": "run_started", "run": "r1", "seq": 0, "t": 0, "transport": "stream", "started_at": 0,
               "tasks": [{"index": 0, "name": "a", "id": "a", "model": "m", "max_tokens": 9}]}


def event_log(*records: object) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json\n", "Expecting value"),
        (event_log({"a": 1}), "a record has no 'run'"),
        (event_log([1, 2]), "a record is malformed"),
        (event_log(5), "a record is malformed"),
        ("", "the event log holds no run"),
        (event_log({**RUN_STARTED, "kind": "event"}), "does not start with run_started"),
        (event_log(RUN_STARTED, {"kind": "event", "run": "r1", "task": 7, "type": "text", "text": "x"}),
         "a record is malformed"),
    ],
    ids=["not-json", "no-run-field", "a-list", "a-number", "empty", "no-start", "unknown-task"],
)
def test_replay_of_a_file_that_is_not_an_event_log_is_one_line(tmp_path, capsys, content, problem):
    path = tmp_path / "events.jsonl"
    path.write_text(content)
    line = refused(["replay", str(path)], capsys)
    assert line.startswith("mac replay: ") and "is not an event log" in line and problem in line


def test_replay_of_a_binary_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert "'utf-8' codec can't decode" in refused(["replay", str(path)], capsys)


def test_replay_of_a_directory_or_a_missing_file_is_one_line(tmp_path, capsys):
    assert "is a directory" in refused(["replay", str(tmp_path)], capsys)
    assert "does not exist" in refused(["replay", str(tmp_path / "missing.jsonl")], capsys)


def test_replay_of_a_run_the_log_does_not_hold_names_the_option_and_the_runs_it_has(tmp_path, capsys):
    path = tmp_path / "events.jsonl"
    path.write_text(event_log(RUN_STARTED))
    line = refused(["replay", str(path), "--run", "r9"], capsys)
    assert "'--run'" in line and "has no run 'r9' (it has r1)" in line


def test_replay_refuses_a_log_that_breaks_midway_before_showing_any_of_it(tmp_path, capsys):
    started = {"kind": "task_started", "run": "r1", "seq": 1, "t": 0, "task": 0, "name": "a"}
    text = {"kind": "event", "run": "r1", "seq": 2, "t": 0, "task": 0, "name": "a", "type": "text", "text": "hi\n"}
    usage = {**text, "type": "usage", "data": {"no_such_field": 1}}
    path = tmp_path / "events.jsonl"
    path.write_text(event_log(RUN_STARTED, started, text, usage))
    assert "a record is malformed" in refused(["replay", str(path)], capsys)  # and nothing on stdout


# --- servers ------------------------------------------------------------------


def test_sim_on_a_port_in_use_is_one_line_before_anything_starts(busy_port, capsys):
    line = refused(["sim", "--port", str(busy_port)], capsys)
    assert line.startswith(f"mac sim: Invalid value for '--port': port {busy_port} on 127.0.0.1 is in use")
    assert "--port 0" in line


def test_agent_server_on_a_port_in_use_is_one_line(busy_port, capsys, tmp_path):
    pytest.importorskip("claude_agent_sdk")
    line = refused(["agent-server", "--port", str(busy_port), "--workspace", str(tmp_path)], capsys)
    assert f"port {busy_port} on 127.0.0.1 is in use" in line


def test_sim_on_a_host_that_is_not_this_machine_is_one_line(capsys):
    assert "cannot resolve 'no-such-host.invalid'" in refused(
        ["sim", "--host", "no-such-host.invalid", "--port", "8750"], capsys)


def test_sim_with_a_workspace_that_cannot_be_made_is_one_line(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    line = refused(["sim", "--port", "0", "--agent-workspace", str(tmp_path / "a-file" / "ws")], capsys)
    assert "'--agent-workspace'" in line and "cannot create" in line


# --- other commands -------------------------------------------------------------


def test_demo_with_a_missing_or_directory_sample_is_one_line(tmp_path, capsys):
    assert "does not exist" in refused(["demo", "--sample", str(tmp_path / "missing.py")], capsys)
    assert "is a directory" in refused(["demo", "--sample", str(tmp_path)], capsys)


def test_an_odd_unicode_path_is_shown_as_given_and_an_invisible_character_escaped(tmp_path, capsys):
    name = "rapport-é✓ḿ 日本.jsonl"
    assert f"File '{tmp_path / name}' does not exist" in refused(["replay", str(tmp_path / name)], capsys)
    assert "zero\\u200bwidth.jsonl' does not exist" in refused(["replay", str(tmp_path / "zero\u200bwidth.jsonl")], capsys)


def test_a_path_with_a_line_break_or_an_escape_still_makes_one_plain_line(tmp_path, capsys):
    line = refused(["replay", str(tmp_path / "two\nlines\x1b[31m.jsonl")], capsys)
    assert "lines" in line and "\x1b" not in line


def test_an_undecodable_path_is_one_line_with_its_byte_escaped(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mac_core", "replay", str(tmp_path).encode() + b"/\xff.jsonl"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and ".jsonl' does not exist" in done.stderr, done.stderr


# --- not usage errors: exit 1 -------------------------------------------------------


def test_an_os_error_in_a_command_is_one_line_and_exit_1(plugin_command, capsys):
    name = plugin_command(raising(PermissionError(13, "Permission denied", "/somewhere/results.jsonl")))
    assert refused([name], capsys, code=1) == "mac: [Errno 13] Permission denied: '/somewhere/results.jsonl'"


def test_a_click_error_in_a_command_is_one_line_with_its_exit_code(plugin_command, capsys):
    name = plugin_command(raising(click.ClickException("the server said no\n(twice)")))
    assert refused([name], capsys, code=1) == "Error: the server said no (twice)"


def test_a_reader_that_goes_away_ends_the_command_quietly():
    process = subprocess.Popen([sys.executable, "-m", "mac_core", "plugins"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.close()  # as `mac plugins | head -0` would
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert err == ""


# --- the missing key ---------------------------------------------------------------


def test_a_missing_key_on_the_command_line_is_one_line_naming_every_way_out(plugin_command, capsys, no_api_key):
    line = refused([plugin_command(require_api_key)], capsys)  # the command asks for the key, as a run does
    for where in ("ANTHROPIC_API_KEY", "absent.toml", "`mac demo`", "`mac sim`"):
        assert where in line


def test_a_missing_key_in_python_names_the_variable_the_config_file_and_the_offline_way(no_api_key):
    with pytest.raises(MissingAPIKeyError) as raised:
        Coordinator().run(["hi"])
    message = str(raised.value)
    for where in ("ANTHROPIC_API_KEY", "absent.toml", "`mac demo`", "`mac sim`", "ANTHROPIC_BASE_URL"):
        assert where in message
    with pytest.raises(MissingAPIKeyError) as raised:
        invoke_claude("hi")
    assert "`mac demo`" in str(raised.value) and "`mac sim`" in str(raised.value)


def test_a_missing_key_in_python_is_raised_before_the_event_loop_starts(no_api_key):
    with pytest.raises(MissingAPIKeyError) as raised:
        Coordinator().run(["hi"])
    files = [Path(entry.path).parts for entry in raised.traceback]
    assert not any("anyio" in parts or parts[-1] == "bridge.py" for parts in files)
    assert len(raised.traceback) <= 4  # the test, run, the check, require_api_key
