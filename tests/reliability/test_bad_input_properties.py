"""Property-based bad input over every public entry point: only ValueError or TypeError, and no request sent.

Calls go to a live simulator, so input the library accepts is answered
(quickly) and input it refuses must leave the simulator's request counter
unchanged. Any other exception, or a refused input that still reached the
wire, breaks the property. The table-driven cases are tests/core/test_bad_input.py.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mac_plugins.run_file.jobfile import LINE_FIELDS, read_jobs
from mac_plugins.simulator import Simulator

from mac_core import (
    Coordinator,
    InterruptToken,
    invoke_claude,
    invoke_claude_streaming,
    invoke_parallel,
    invoke_parallel_interruptible,
    invoke_parallel_streaming,
)
from mac_core.prompts import build_tasks

KEY = "sk-ant-property-test"
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.binary(max_size=4),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
fields = ("prompt", "system", "model", "max_tokens", "temperature", "name", "id", "cache_system", "cache_prompt", "bogus")
prompt_spec = st.one_of(junk, st.text(min_size=1, max_size=12), st.fixed_dictionaries({}, optional={f: junk for f in fields}))
prompts = st.one_of(junk, st.lists(prompt_spec, min_size=0, max_size=3))
run_options = st.fixed_dictionaries(
    {},
    optional={
        "transport": st.one_of(st.sampled_from(["stream", "messages"]), junk),
        "max_concurrency": junk,
        "model": junk,
        "max_tokens": junk,
        "temperature": junk,
        "system": junk,
        "callbacks": st.one_of(junk, st.lists(st.sampled_from([None, print, "x"]), max_size=3)),
        "interrupt_token": st.one_of(st.none(), st.just("stop"), st.builds(InterruptToken)),
        "tols": junk,
    },
)


@pytest.fixture(scope="module")
def simulator():
    with Simulator(tokens=3, token_delay=0.0) as sim:
        yield sim


@pytest.fixture
def env(simulator, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", simulator.url)
    monkeypatch.setenv("MAC_CONFIG", "/nonexistent/mac-config.toml")
    return simulator


def refused_without_a_request(sim, call) -> None:
    """Run ``call``: it either returns, or raises ValueError/TypeError with a message and sends nothing."""
    before = sim.stats.requests
    try:
        call()
    except (ValueError, TypeError) as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        assert sim.stats.requests == before, f"refused ({exc}) but a request was sent"


@SETTINGS
@given(prompts=prompts, options=run_options)
def test_coordinator_run_and_arun(env, prompts, options):
    coordinator = Coordinator(max_retries=0)
    refused_without_a_request(env, lambda: coordinator.run(prompts, **options))
    refused_without_a_request(env, lambda: asyncio.run(coordinator.arun(prompts, **options)))


classic = st.fixed_dictionaries(
    {}, optional={"model": junk, "max_tokens": junk, "max_workers": junk, "shared_system": junk, "cache_shared_system": junk}
)


@SETTINGS
@given(prompts=prompts, options=classic, callbacks=st.one_of(junk, st.lists(st.sampled_from([None, print, 1]), max_size=3)))
def test_the_classic_parallel_functions(env, prompts, options, callbacks):
    refused_without_a_request(env, lambda: invoke_parallel(prompts, **options))
    refused_without_a_request(env, lambda: invoke_parallel_streaming(prompts, callbacks=callbacks, **options))
    refused_without_a_request(env, lambda: invoke_parallel_interruptible(prompts, **options))


single = st.fixed_dictionaries(
    {},
    optional={
        "model": junk, "system": junk, "max_tokens": junk, "temperature": junk, "cache_system": junk,
        "cache_prompt": junk, "messages": junk, "bogus": junk,
    },
)


@SETTINGS
@given(prompt=st.one_of(prompt_spec, st.lists(prompt_spec, max_size=2)), options=single)
def test_the_classic_single_functions(env, prompt, options, capsys):
    refused_without_a_request(env, lambda: invoke_claude(prompt, **options))
    options.pop("messages", None)
    refused_without_a_request(env, lambda: invoke_claude_streaming(prompt, callback=None, **options))


@SETTINGS
@given(
    prompt=prompt_spec,
    url=st.one_of(junk, st.sampled_from(["ftp://x", "ws://example.com/ws", "http://", "127.0.0.1:1", "SIMULATOR"])),
    token=st.one_of(st.none(), junk),
    options=st.fixed_dictionaries({}, optional={"allow_insecure": junk, "on_event": junk, "allowedTools": junk, "bogus": junk}),
)
def test_delegate(env, prompt, url, token, options):
    coordinator = Coordinator(connect_timeout=1, idle_timeout=1)
    url = env.url if url == "SIMULATOR" else url  # a reachable agent: what is accepted is answered
    refused_without_a_request(env, lambda: coordinator.delegate(prompt, url=url, token=token, **options))


line_text = st.text(alphabet=st.characters(blacklist_characters="\n\r"), max_size=30)
json_junk = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12), st.lists(st.integers(), max_size=2))
line_object = st.fixed_dictionaries({}, optional={f: json_junk for f in (*LINE_FIELDS, "bogus")}).map(json.dumps)


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.one_of(line_text, line_object), max_size=8))
def test_mac_run_input_lines_are_each_accepted_or_reported_never_raised(lines):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.jsonl"
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8", errors="surrogatepass")
        jobs = read_jobs(path, model="claude-sonnet-4-6", max_tokens=64)
    non_blank = [n for n, line in enumerate(lines, start=1) if line.strip()]
    assert len(jobs.prompts) + len(jobs.bad_lines) == len(non_blank)
    assert {b.number for b in jobs.bad_lines} <= set(non_blank)
    assert all(b.reason for b in jobs.bad_lines)
    assert len({p["id"] for p in jobs.prompts}) == len(jobs.prompts)  # ids are unique
    build_tasks(jobs.prompts or ["x"], model="claude-sonnet-4-6", max_tokens=64)  # what is accepted, runs
