"""The simulator as a server: in-process use, the agent protocol on the same port, logging, stopping, load."""

from __future__ import annotations

import json
import logging
import threading

import anthropic
import anyio
import httpx2
import pytest
from conftest import KEY, wait_until
from mac_plugins.simulator import Simulator, create_app
from websockets.sync.client import connect


def test_the_agent_protocol_shares_the_port(start_sim, tmp_path):
    sim = start_sim(agent_workspace=tmp_path)
    assert sim.ws_url == sim.url.replace("http://", "ws://") + "/ws"
    posted = httpx2.post(sim.url + "/config", json={"allowedTools": ["Write"]}, timeout=10)
    assert posted.json()["success"] is True and posted.headers["request-id"].startswith("req_")
    directive = json.dumps({"file_path": "note.txt", "content": "from the agent"})
    with connect(sim.ws_url, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10)) == {"type": "connected"}
        data = {"type": "user", "message": {"role": "user", "content": f"[[tool: Write {directive}]]"},
                "parent_tool_use_id": None, "session_id": ""}
        ws.send(json.dumps({"type": "user_message", "data": data}))
        while (frame := json.loads(ws.recv(timeout=10)))["type"] != "sdk_message" or frame["data"]["type"] != "result":
            pass
    assert frame["data"]["subtype"] == "success"
    assert (tmp_path / "note.txt").read_text() == "from the agent"


def test_claude_codes_connectivity_check_is_answered(sim):
    assert httpx2.head(sim.url + "/api/hello", timeout=10).status_code == 200


def test_one_debug_line_per_request_without_the_key(sim, client, caplog):
    with caplog.at_level(logging.DEBUG, logger="mac_plugins.simulator"):
        raw = client.messages.with_raw_response.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
        httpx2.get(sim.url + "/nowhere", timeout=10)
        wait_until(lambda: len(caplog.records) == 2)
    first, second = (record.getMessage() for record in caplog.records)
    assert raw.headers["request-id"] in first and "POST /v1/messages -> 200" in first and "json" in first
    assert "GET /nowhere -> 404" in second
    assert KEY not in caplog.text


def test_stopping_is_clean_and_bounded_with_a_stalled_stream_open(start_sim):
    sim = start_sim()
    outcome: list[BaseException | None] = []

    def stalled_client() -> None:
        try:
            with httpx2.stream("POST", sim.url + "/v1/messages", timeout=30,
                               headers={"x-api-key": KEY, "x-mac-sim-fault": "stall"},
                               json={"model": "m", "max_tokens": 50, "stream": True,
                                     "messages": [{"role": "user", "content": "hi"}]}) as response:
                for _ in response.iter_bytes():
                    pass
            outcome.append(None)
        except httpx2.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=stalled_client)
    thread.start()
    wait_until(lambda: sim.stats.streams_open == 1)
    sim.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert isinstance(outcome[0], httpx2.RemoteProtocolError)  # cut by the shutdown, never left hanging
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(sim.url + "/api/hello", timeout=2)


@pytest.mark.anyio
async def test_hundreds_of_concurrent_streams_all_finish(start_sim):
    sim = start_sim(tokens=30, token_delay=0.005)
    client = anthropic.AsyncAnthropic(base_url=sim.url, api_key=KEY, max_retries=0, timeout=30)
    texts: list[str] = []

    async def one(index: int) -> None:
        async with client.messages.stream(model="m", max_tokens=100,
                                          messages=[{"role": "user", "content": f"prompt {index}"}]) as stream:
            texts.append("".join([chunk async for chunk in stream.text_stream]))

    async with anyio.create_task_group() as group:
        for index in range(200):
            group.start_soon(one, index)
    await client.close()
    assert len(texts) == 200 and all(len(text.split()) == 30 for text in texts)
    # the server counts a stream finished after its last write, which the client may outrun
    await anyio.to_thread.run_sync(lambda: wait_until(lambda: sim.stats.streams_open == 0))
    assert sim.stats.streams_started == sim.stats.streams_finished == 200
    assert sim.stats.client_disconnects == 0


def test_settings_are_checked_and_the_app_factory_is_exposed():
    with pytest.raises(ValueError, match="unknown fault"):
        Simulator(faults=("meteor",))
    with pytest.raises(ValueError, match="fault_rate"):
        Simulator(fault_rate=2)
    app = create_app()
    assert app.state.simulator.stats.requests == 0


@pytest.fixture
def anyio_backend():
    return "asyncio"
