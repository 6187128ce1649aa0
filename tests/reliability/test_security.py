"""Secrets stay secret and the servers stay local, end to end over real sockets.

Unit-level guarantees are shown elsewhere (see docs/reliability.md): Secret's
repr, the event log's redaction, the agent server refusing a wrong token or a
path outside its workspace, ``ws://`` to a remote host refused. These tests
push a canary key and token through whole runs (faults, failures, delegation,
``mac run``) and look for them everywhere a user or a log collector could.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mac_plugins.agent_server import AgentServer
from mac_plugins.reporters import JsonlEventLog
from mac_plugins.simulator import Simulator

from mac_core import ClaudeInvocationError, Coordinator, invoke_claude

sys.path.insert(0, str(Path(__file__).parent.parent / "plugins" / "agent_server"))
from sdk_client_fake import FakeSDKClient  # noqa: E402

TOKEN = "agent-token-canary-8c2e41"
LOGGERS = ("", "mac_core", "mac_plugins", "anthropic", "httpx2", "httpcore2", "websockets", "websockets.client",
           "websockets.server", "uvicorn", "uvicorn.error", "uvicorn.access", "asyncio")


def fault(kind: str) -> dict:
    return {"extra_headers": {"x-mac-sim-fault": kind, "x-mac-sim-retry-after": "0.01"}}


def test_the_key_and_token_never_reach_logs_reprs_errors_or_event_logs(sim, api_key, caplog, tmp_path, monkeypatch):
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    events = tmp_path / "events.jsonl"
    log = JsonlEventLog(events)
    coordinator = Coordinator(api_key=api_key, base_url=sim.url, max_retries=1, idle_timeout=1)
    prompts = [
        {"prompt": "fine"},
        {"prompt": "limited", **fault("rate_limit")},
        {"prompt": "cut", **fault("midstream")},
        {"prompt": "broken", **fault("malformed")},
    ]
    seen = [repr(coordinator), repr(coordinator.settings("stream")), repr(sim)]
    for transport in ("stream", "messages"):
        results = coordinator.run(prompts, transport=transport, plugins=[log])
        assert [r.status for r in results] == ["completed", "failed", "failed", "failed"]
        seen += [repr(results), json.dumps([r.as_dict() for r in results])]
    monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.url)
    with pytest.raises(ClaudeInvocationError) as failure:
        invoke_claude("x", extra_headers=fault("overloaded")["extra_headers"])
    seen += [str(failure.value), repr(failure.value), repr(failure.value.details)]

    clients: list[FakeSDKClient] = []
    server = AgentServer(tmp_path, token=TOKEN, client_factory=lambda options: FakeSDKClient(options, clients)).start()
    try:
        done = coordinator.delegate("hello", url=server.url, token=TOKEN)
        refused = coordinator.delegate("hello", url=server.url, token=TOKEN + "-wrong")
        seen += [repr(server), repr(done), repr(refused), str(refused.error)]
    finally:
        server.stop(timeout=10)
    assert done.status == "completed", done.error
    assert refused.status == "failed" and "refused the token" in refused.error

    recorded = events.read_text()
    assert recorded.count('"run_finished"') == 2  # both runs were logged in full
    seen += [caplog.text, recorded]
    logged_by = {record.name.split(".")[0] for record in caplog.records}
    assert {"anthropic", "httpcore2", "websockets", "uvicorn", "mac_plugins"} <= logged_by  # the net was cast wide
    for text in seen:
        assert api_key not in text
        assert TOKEN not in text


def test_mac_run_result_files_and_output_hold_no_key(tmp_path):
    canary = "sk-ant-canary-run-file-93ab"
    lines = [json.dumps({"id": f"q{i}", "prompt": f"question {i}"}) for i in range(30)]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    with Simulator(tokens=5, token_delay=0, fault_rate=0.5, seed=4) as sim:
        env = {**os.environ, "ANTHROPIC_API_KEY": canary, "ANTHROPIC_BASE_URL": sim.url,
               "MAC_CONFIG": str(tmp_path / "none.toml")}
        done = subprocess.run(
            [sys.executable, "-m", "mac_core", "run", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"),
             "--events", str(tmp_path / "events.jsonl")],
            env=env, capture_output=True, text=True, timeout=120,
        )
    results = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(results) == 30 and {r["status"] for r in results} == {"completed", "failed"}  # errors were written too
    for text in (done.stdout, done.stderr, (tmp_path / "out.jsonl").read_text(), (tmp_path / "events.jsonl").read_text()):
        assert canary not in text


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_mac_agent_server_listens_on_loopback_by_default(tmp_path):
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(tmp_path / "claude-config")}
    env.pop("MAC_AGENT_TOKEN", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "mac_core", "agent-server", "--port", "0", "--workspace", str(tmp_path)],
        stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        url = None
        for _ in range(50):
            line = server.stderr.readline()
            assert line, "the server ended before saying where it listens"
            match = re.search(r"mac agent-server: (http://\S+)", line)
            if match:
                url = match.group(1)
                break
        assert url and url.startswith("http://127.0.0.1:"), url
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait(5)
            server.stderr.close()


def test_the_servers_default_to_loopback_in_process(tmp_path):
    assert Simulator().host == "127.0.0.1"
    assert AgentServer(tmp_path).host == "127.0.0.1"


def test_a_body_over_the_servers_limit_fails_once_with_a_clear_413(start_sim, coordinator_for):
    sim = start_sim(max_body_bytes=20_000)
    (result,) = coordinator_for(sim, max_retries=2).run(["x" * 50_000], transport="messages")
    assert result.status == "failed"
    assert result.error.startswith("HTTP 413")
    assert sim.stats.statuses[413] == 1  # not retried: resending the same body cannot help
