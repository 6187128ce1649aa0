"""mac agent-server and the reference server's /config; GET/DELETE /query; the agent-ws transport's fresh queries."""

from __future__ import annotations

import dataclasses

import httpx2
import pytest
from agent_server_ws import open_ws, recv, send_user, until_result
from claude_agent_sdk import AgentDefinition
from mac_plugins.agent_server.config import SDK_AGENT_FIELDS, QueryConfig
from mac_plugins.agent_ws.servers import forget_servers

from mac_core import Coordinator

# The example in the reference README's "POST /config" section, verbatim.
README_EXAMPLE = {
    "systemPrompt": "You are a helpful assistant.",
    "allowedTools": ["read_file", "write_file"],
    "anthropicApiKey": "sk-ant-...",
    "model": "claude-3-5-sonnet-20241022",
    "agents": {"myAgent": {"name": "My Custom Agent", "description": "A custom agent"}},
}


@pytest.fixture(autouse=True)
def fresh_process_memory():
    forget_servers()
    yield
    forget_servers()


def test_the_reference_readme_config_is_accepted_with_warnings_not_a_400(server, caplog):
    response = httpx2.post(server.url + "/config", json=README_EXAMPLE, timeout=5)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["config"]["model"] == "claude-3-5-sonnet-20241022" and "anthropicApiKey" not in body["config"]
    assert body["warnings"] == [
        "agents.myAgent: ignored field(s) the Agent SDK does not know: name",
        "agents.myAgent: no prompt, so this subagent is not defined",
    ]
    assert "no prompt, so this subagent is not defined" in caplog.text


def test_unknown_subagent_fields_are_dropped_but_risky_sdk_fields_still_refused():
    config = QueryConfig.parse(
        {"agents": {"a": {"description": "d", "prompt": "p", "name": "A", "color": "red"}}}
    )
    assert config.agents == {"a": {"description": "d", "prompt": "p"}}
    assert "color, name" in config.warnings[0]
    response_error = pytest.raises(
        ValueError,
        QueryConfig.parse,
        {"agents": {"a": {"description": "d", "prompt": "p", "permissionMode": "default"}}},
    )
    assert "permissionMode" in str(response_error.value)


def test_the_refused_subagent_fields_are_the_agent_sdks_own():
    assert SDK_AGENT_FIELDS == {f.name for f in dataclasses.fields(AgentDefinition)}


def test_the_reference_clients_extra_fields_are_warned_about_and_secrets_among_them_never_echoed(server):
    posted = {"model": "m", "e2bApiKey": "e2b_canary_77", "template": "claude-agent-server", "debug": True}
    response = httpx2.post(server.url + "/config", json=posted, timeout=5).json()
    assert response["warnings"] == ["ignored: field(s) this server does not read: debug, e2bApiKey, template"]
    assert "e2b_canary_77" not in response["config"].values()
    assert "e2b_canary_77" not in httpx2.get(server.url + "/config", timeout=5).text


def test_get_query_reports_the_running_query_and_delete_ends_it_for_a_fresh_one(server, fake_clients):
    assert httpx2.get(server.url + "/query", timeout=5).json() == {
        "running": False,
        "config": None,
        "connected": False,
        "keeps_frames": True,
    }
    httpx2.post(server.url + "/config", json={"model": "claude-a"}, timeout=5)
    with open_ws(server) as ws:
        recv(ws)
        send_user(ws, "one")
        until_result(ws)
        state = httpx2.get(server.url + "/query", timeout=5).json()
        assert state == {
            "running": True,
            "config": {"model": "claude-a"},
            "connected": True,
            "keeps_frames": True,
        }
        assert httpx2.delete(server.url + "/query", timeout=5).status_code == 409
    httpx2.post(server.url + "/config", json={"model": "claude-b"}, timeout=5)
    assert httpx2.get(server.url + "/query", timeout=5).json()["config"] == {"model": "claude-a"}  # kept
    ended = httpx2.delete(server.url + "/query", timeout=5)
    assert ended.json() == {"success": True, "ended": True}
    assert fake_clients[0].disconnected
    with open_ws(server) as ws:
        assert recv(ws) == {"type": "connected"}
        send_user(ws, "two")
        assert until_result(ws)[-1]["data"]["result"] == "echo: two"
    assert [c.options.model for c in fake_clients] == ["claude-a", "claude-b"]


def test_each_task_runs_with_its_own_model_and_tools_through_agent_ws(server, fake_clients):
    prompts = [
        {"prompt": "one", "model": "claude-a", "allowedTools": ["Read"]},
        {"prompt": "two", "model": "claude-a", "allowedTools": ["Read"]},
        {"prompt": "three", "model": "claude-b", "allowedTools": ["Read", "Grep"]},
        {"prompt": "four", "model": "claude-a", "allowedTools": ["Read"]},
    ]
    results = Coordinator().run(prompts, transport="agent-ws", transport_options={"url": server.url})
    assert [r.text for r in results] == ["echo: one", "echo: two", "echo: three", "echo: four"]
    assert {r.server for r in results} == {server.url}
    queries = [
        (c.options.model, c.options.allowed_tools, [p["message"]["content"] for p in c.prompts])
        for c in fake_clients
    ]
    assert queries == [
        ("claude-a", ["Read"], ["one", "two"]),
        ("claude-b", ["Read", "Grep"], ["three"]),
        ("claude-a", ["Read"], ["four"]),
    ]


def test_a_fan_out_over_three_agent_servers_goes_on_without_the_one_that_is_down(make_server, fake_clients):
    servers = [make_server() for _ in range(3)]
    servers[1].stop(timeout=10)
    results = Coordinator().run(
        [f"task {i}" for i in range(6)],
        transport="agent-ws",
        max_concurrency=3,
        transport_options={"urls": [s.url for s in servers]},
    )
    assert [r.status for r in results] == ["completed"] * 6, [r.error for r in results]
    assert {r.server for r in results} == {servers[0].url, servers[2].url}
