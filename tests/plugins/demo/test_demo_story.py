"""The demo's script reads like a review: one analyst finds the flaw in a whole sentence, the others talk sense."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from mac_plugins.demo.runner import is_simulator
from mac_plugins.demo.scenario import ANALYSTS, BUNDLED_SAMPLE, FINDING_MARK, analysis_prompts, finding_in
from mac_plugins.simulator import Simulator

STOP = re.compile(r"CRITICAL[^.\n]*[.\n]")  # the demo's default stop


def scripted_reply(prompt: str) -> str:
    return re.search(r"\[\[reply: (.*)\]\]\Z", prompt, re.S).group(1)


def test_every_analyst_writes_readable_sentences_and_only_security_reports_the_flaw():
    replies = {p["name"]: scripted_reply(p["prompt"]) for p in analysis_prompts(BUNDLED_SAMPLE, 5, simulated=True)}
    assert list(replies) == [a.name for a in ANALYSTS]
    for name, reply in replies.items():
        assert reply[0].isupper() and reply.endswith("."), name
        assert all(len(word) < 20 for word in reply.split()), name  # words, not generated salad
        assert (FINDING_MARK in reply) == (name == "security"), name


def test_the_finding_ends_well_before_any_other_analyst_stops_talking():
    replies = {p["name"]: scripted_reply(p["prompt"]) for p in analysis_prompts(BUNDLED_SAMPLE, 5, simulated=True)}
    security = replies.pop("security")
    finding_ends = len(security[:STOP.search(security).end()].split())  # the simulator streams a word a token
    assert "SQL injection" in finding_in(security)
    for name, reply in replies.items():  # so each other analyst is mid-sentence when the finding is complete
        said = " ".join(reply.split()[:finding_ends])
        assert not said.endswith("."), name
        assert len(reply.split()) > finding_ends + 20, name


def test_the_analysts_of_a_users_file_name_that_file_and_are_not_scripted_on_the_real_api(tmp_path):
    sample = tmp_path / "mine.py"
    sample.write_text("x = 1\n")
    simulated = analysis_prompts(sample, 3, simulated=True)
    assert "mine.py" in scripted_reply(simulated[1]["prompt"]) and "{file}" not in simulated[1]["prompt"]
    assert all("[[" not in p["prompt"] for p in analysis_prompts(sample, 3, simulated=False))


def test_the_finding_is_its_whole_sentence_or_as_much_as_was_written():
    assert finding_in("Fine. CRITICAL: it leaks. More.") == "CRITICAL: it leaks."
    assert finding_in("Fine. CRITICAL: it lea") == "CRITICAL: it lea"
    assert finding_in("All fine.") is None


def test_the_simulator_is_recognised_by_its_base_url_and_the_api_is_not():
    with Simulator(token_delay=0) as sim:
        assert is_simulator(sim.url)
    assert not is_simulator(sim.url)  # stopped: nothing answers there
    assert not is_simulator(None)
    assert not is_simulator("https://api.anthropic.com")


def test_with_a_key_and_the_base_url_of_a_running_simulator_the_model_line_says_the_simulator(tmp_path):
    with Simulator(token_delay=0.01, agent_workspace=tmp_path / "ws") as sim:
        env = {**os.environ, "ANTHROPIC_API_KEY": "sk-mine", "ANTHROPIC_BASE_URL": sim.url,
               "MAC_CONFIG": str(tmp_path / "none.toml")}
        done = subprocess.run([sys.executable, "-m", "mac_core", "demo", "--reporter", "plain", "--workspace", "ws"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert f"Model: the simulator at {sim.url}" in done.stderr, done.stderr
    assert "Anthropic API" not in done.stderr
    assert "security found CRITICAL: find_item" in " ".join(done.stderr.split())  # scripted, as on the embedded one
