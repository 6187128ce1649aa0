"""The ``mac_sim`` fixture, installed for users: their own tests run offline against the simulator, unmocked."""

from __future__ import annotations

import os
import subprocess
import sys

pytest_plugins = ["pytester"]

USER_TESTS = '''
import os

import pytest
from mac_core import Coordinator, invoke_claude


def test_invoke_claude_reaches_the_simulator(mac_sim):
    assert invoke_claude("[[reply: hello there]]") == "hello there"
    assert mac_sim.stats.messages == 1
    assert os.environ["ANTHROPIC_BASE_URL"] == mac_sim.url


def test_a_fan_out_is_counted(mac_sim):
    results = Coordinator().run(["[[reply: one]]", "[[reply: two]]", "three"])
    assert [r.status for r in results] == ["completed"] * 3
    assert [r.text for r in results[:2]] == ["one", "two"]
    assert mac_sim.stats.messages == 3 and mac_sim.stats.streams_finished == 3


@pytest.mark.mac_sim(tokens=3)
def test_the_marker_sets_the_simulator(mac_sim):
    assert invoke_claude("anything").count(" ") == 2  # three words
    assert mac_sim.settings.tokens == 3
'''


def test_a_users_tests_call_the_library_against_the_fixture_and_read_its_counters(pytester):
    pytester.makepyfile(test_user_code=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")  # a fresh process: the entry point
    result.assert_outcomes(passed=3)


def test_the_environment_is_put_back_and_the_simulator_stopped_after_the_test(pytester, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://example.invalid")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    pytester.makepyfile(test_user_code='''
        import os

        import httpx

        seen = []

        def test_uses_the_simulator(mac_sim):
            seen.append(mac_sim)
            assert os.environ["ANTHROPIC_API_KEY"]

        def test_after_it():
            assert os.environ["ANTHROPIC_BASE_URL"] == "http://example.invalid"
            assert "ANTHROPIC_API_KEY" not in os.environ
            try:
                httpx.get(seen[0].url + "/v1/models", timeout=2)
            except httpx.ConnectError:
                return
            raise AssertionError("the simulator still answers")
    ''')
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_loading_the_plugin_imports_no_server():
    code = ("import sys, mac_plugins.simulator.pytest_plugin; "
            "print(sorted({'uvicorn', 'starlette', 'mac_plugins.simulator.server'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
