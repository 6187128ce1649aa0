"""Every Python block of README.md and SKILL.md runs as written against the simulator, set up here, not in the block;
the documented critical-stop policy stops after the finding's sentence, so the delegated agent receives it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mac_plugins.simulator import Simulator

from mac_core import Coordinator

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "SKILL.md")


def python_blocks(name: str) -> list[str]:
    """The ```python blocks of a document, in order."""
    return re.findall(r"^```python\n(.*?)^```", (ROOT / name).read_text(), flags=re.M | re.S)


BLOCKS = [(name, index) for name in DOCS for index in range(len(python_blocks(name)))]


@pytest.fixture(scope="module")
def sim():
    with Simulator(tokens=30, token_delay=0.0) as sim:
        yield sim


def test_the_documents_have_python_blocks_to_run():
    assert len(python_blocks("README.md")) >= 2 and len(python_blocks("SKILL.md")) >= 3


@pytest.mark.parametrize(("name", "index"), BLOCKS, ids=[f"{n}-{i}" for n, i in BLOCKS])
def test_each_python_block_runs_as_written(sim, tmp_path, name, index):
    env = {**os.environ, "ANTHROPIC_BASE_URL": sim.url, "ANTHROPIC_API_KEY": "sk-ant-docs", "MAC_AGENT_URL": sim.url}
    env.pop("MAC_CONFIG", None)
    block = python_blocks(name)[index]
    if "def test_" in block:  # a block of tests for the user's suite: run it with pytest, on its own fixtures
        (tmp_path / "test_from_the_docs.py").write_text(block)
        for variable in ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"):
            env.pop(variable)
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_from_the_docs.py"]
    else:
        command = [sys.executable, "-c", block]
    ran = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-2000:]
    assert "Traceback" not in ran.stderr


def documented_policy(name: str) -> dict:
    """``FINDING`` and ``StopOnCritical`` as the document defines them (its first block that has them)."""
    block = next(b for b in python_blocks(name) if "class StopOnCritical" in b)
    definitions = block[: block.index("results =") if "results =" in block else block.index("analysts =")]
    namespace: dict = {}
    exec(definitions, namespace)
    return namespace


FINDING_SENTENCE = "CRITICAL: the password is written to the log in clear text."
SECURITY = f"[[reply: The code is tidy. {FINDING_SENTENCE} Also the loop could be faster and the cache is cold.]]"
PERFORMANCE = "[[reply: " + " ".join(["slow"] * 200) + "]]"


@pytest.mark.parametrize("name", DOCS)
def test_the_documented_critical_stop_keeps_the_whole_finding_and_stops_the_others(name):
    policy = documented_policy(name)["StopOnCritical"]
    with Simulator(token_delay=0.01) as sim:
        results = Coordinator(plugins=[policy()], api_key="sk-ant-docs", base_url=sim.url).run(
            [{"name": "security", "prompt": SECURITY}, {"name": "performance", "prompt": PERFORMANCE}],
            transport="stream",
        )
    security, performance = results
    assert security.status == performance.status == "interrupted"
    assert security.text.rstrip().endswith(FINDING_SENTENCE)  # the sentence complete, nothing after it
    assert security.interrupt_reason == "security found something critical"
    assert 0 < len(performance.text.split()) < 200  # stopped mid-way, partial text kept


def test_the_hybrid_example_hands_the_finding_to_the_agent(tmp_path):
    block = next(b for b in python_blocks("SKILL.md") if ".hybrid(" in b)
    namespace: dict = {}
    exec(block[: block.index("outcome =")], namespace)
    analysts = [{"name": "security", "prompt": SECURITY}, {"name": "performance", "prompt": PERFORMANCE}]
    with Simulator(token_delay=0.01, agent_workspace=tmp_path) as sim:
        outcome = Coordinator(plugins=[namespace["StopOnCritical"]()], api_key="sk-ant-docs", base_url=sim.url).hybrid(
            analysts, namespace["decide"], agent_url=sim.url
        )
    assert FINDING_SENTENCE in outcome.implementation_prompt
    assert outcome.implementation is not None and outcome.implementation.status == "completed"
