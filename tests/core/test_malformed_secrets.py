"""A key or token with a control character is refused up front, named by its source, and never shown.

Each canary below is a key with one bad character in the middle; its two
halves are what the tests look for, in errors, logs at DEBUG and files.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mac_plugins.simulator import Simulator

from mac_core import Coordinator, Secret
from mac_core.credentials import MalformedSecretError, check_secret, find_api_key

HEAD, TAIL = "sk-ant-canary", "5d0b7e61a9f2"
BAD_CHARACTERS = {"newline": "\n", "carriage return": "\r", "NUL": "\x00", "escape": "\x1b"}


def canary(char: str) -> str:
    return f"{HEAD}{char}{TAIL}"


def assert_hidden(*texts: str) -> None:
    for text in texts:
        assert HEAD not in text and TAIL not in text


@pytest.fixture
def sim():
    with Simulator(tokens=3, token_delay=0.0) as simulator:
        yield simulator


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No key or config file from the host; returns a setter for the config file's ``api_key``."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    config = tmp_path / "config.toml"
    monkeypatch.setenv("MAC_CONFIG", str(config))

    def put_in_config(key: str) -> Path:
        config.write_text(f"api_key = {json.dumps(key)}\n")  # JSON escapes are TOML escapes for these
        return config

    return put_in_config


def coordinator_with_key_from(source: str, key: str, sim: Simulator, monkeypatch, put_in_config) -> Coordinator:
    if source == "argument":
        return Coordinator(api_key=key, base_url=sim.url)
    if source == "environment":
        monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    else:
        put_in_config(key)
    return Coordinator(base_url=sim.url)


SOURCES = {"argument": "the api_key argument", "environment": "ANTHROPIC_API_KEY", "config file": "api_key in "}


# An environment variable cannot hold NUL, so that one case is left out.
CASES = [(source, name) for source in SOURCES for name in BAD_CHARACTERS if (source, name) != ("environment", "NUL")]


@pytest.mark.parametrize(("source", "char_name"), CASES)
def test_a_key_with_a_control_character_is_refused_before_any_request_naming_its_source(
    source, char_name, sim, clean_env, monkeypatch, caplog
):
    char = BAD_CHARACTERS[char_name]
    caplog.set_level(logging.DEBUG)  # every logger, the SDK's and httpx2's included
    with pytest.raises(MalformedSecretError) as refused:
        coordinator_with_key_from(source, canary(char), sim, monkeypatch, clean_env).run(["hi"], transport="messages")
    message = str(refused.value)
    assert SOURCES[source] in message
    assert f"control character (U+{ord(char):04X} at position {len(HEAD)})" in message
    assert sim.stats.requests == 0
    assert_hidden(message, repr(refused.value), caplog.text)


@pytest.mark.parametrize("source", SOURCES)
def test_a_trailing_newline_from_a_key_file_is_stripped_from_every_source(source, sim, clean_env, monkeypatch):
    coordinator = coordinator_with_key_from(source, "sk-ant-from-a-file\n", sim, monkeypatch, clean_env)
    (result,) = coordinator.run(["hi"], transport="messages")
    assert result.status == "completed", result.error
    assert find_api_key(coordinator._api_key) == Secret("sk-ant-from-a-file")


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (f"{HEAD} {TAIL}", "whitespace (U+0020 at position 13)"),
        (f"{HEAD}\t{TAIL}", "a control character (U+0009 at position 13)"),
        (f"{HEAD}\u00e9{TAIL}", "a non-ASCII character (U+00E9 at position 13)"),
        (f"  {HEAD}\x7f{TAIL}\n", "a control character (U+007F at position 15)"),  # counted in the value as given
    ],
)
def test_inner_whitespace_and_non_ascii_are_refused_too_with_the_position(value, what):
    with pytest.raises(MalformedSecretError, match="^" + re.escape(f"--token contains {what}")):
        check_secret(value, "--token")


def test_an_agent_token_with_a_control_character_is_refused_before_any_connection(sim, caplog):
    caplog.set_level(logging.DEBUG)
    coordinator = Coordinator()
    with pytest.raises(MalformedSecretError, match="the token argument contains a control character") as refused:
        coordinator.delegate("fix it", url=sim.url, token=canary("\n"))
    with pytest.raises(MalformedSecretError, match="agent-ws transport option 'token' contains") as by_option:
        coordinator.run(["fix it"], transport="agent-ws", transport_options={"url": sim.url, "token": canary("\x1b")})
    with pytest.raises(MalformedSecretError, match="option 'anthropic_api_key' contains") as key_option:
        coordinator.run(["fix it"], transport="agent-ws",
                        transport_options={"url": sim.url, "anthropic_api_key": canary("\r")})
    assert sim.stats.requests == 0
    assert_hidden(str(refused.value), str(by_option.value), str(key_option.value), caplog.text)


def test_mac_run_with_a_malformed_key_in_the_environment_exits_2_with_one_clear_line(tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"id": "a", "prompt": "hi"}\n')
    output = tmp_path / "out.jsonl"
    env = {**os.environ, "ANTHROPIC_API_KEY": canary("\x1b"), "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
           "MAC_CONFIG": str(tmp_path / "absent.toml")}
    done = subprocess.run([sys.executable, "-m", "mac_core", "-vv", "run", str(jobs), "-o", str(output)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2
    assert "mac: ANTHROPIC_API_KEY contains a control character (U+001B at position 13)" in done.stderr
    assert "Traceback" not in done.stderr
    assert not output.exists()
    assert_hidden(done.stdout, done.stderr)
