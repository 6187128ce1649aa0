"""PlainReporter labels each line with the task's input id, so it can be matched to the input and the results."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

from mac_plugins.reporters import PlainReporter
from mac_plugins.simulator import Simulator
from scripted import run_scripted


def test_lines_are_labelled_with_the_input_id_and_with_the_name_when_there_is_no_id():
    out = io.StringIO()
    run_scripted({"first": ["one\n"], "second": ["two\n"], "third": ["three\n"]},
                 prompts=[{"prompt": "first", "id": "q-17"}, {"prompt": "second", "id": "q-18", "name": "Security"},
                          {"prompt": "third"}],
                 plugins=[PlainReporter(out)])
    lines = out.getvalue().splitlines()
    assert "[q-17] one" in lines and "[q-18] two" in lines and "[task-2] three" in lines
    assert any(line.startswith("[q-17] -- completed") for line in lines)


def test_a_custom_prefix_can_show_the_name_and_the_id_together():
    out = io.StringIO()
    run_scripted({"first": ["one\n"]}, prompts=[{"prompt": "first", "id": "q-1", "name": "Security"}],
                 plugins=[PlainReporter(out, prefix="{name}/{id}: ")])
    assert out.getvalue().splitlines()[0] == "Security/q-1: one"


def test_mac_run_with_the_plain_reporter_labels_lines_with_the_ids_of_the_input(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "alpha", "prompt": "[[reply: first answer]]"}) + "\n"
                      + json.dumps({"prompt": "[[reply: second answer]]"}) + "\n")
    with Simulator(token_delay=0) as sim:
        env = {**os.environ, "ANTHROPIC_BASE_URL": sim.url, "ANTHROPIC_API_KEY": "sk-sim",
               "MAC_CONFIG": str(tmp_path / "none.toml")}
        done = subprocess.run([sys.executable, "-m", "mac_core", "run", str(source), "-o", str(tmp_path / "out.jsonl"),
                               "--reporter", "plain"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "[alpha] first answer" in lines
    assert "[2] second answer" in lines  # a line without an id has its line number as id
