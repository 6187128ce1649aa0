"""The simulator holds under abuse: web pages cannot drive its agent, deep JSON is a 400, stalled clients are cut off."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys

import httpx2
import pytest
from conftest import KEY
from stalled_sockets import closed_by_server
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

HEADERS = {"x-api-key": KEY, "content-type": "application/json"}
DEEP = "[" * 100_000 + "]" * 100_000
TOO_DEEP_TO_WALK = '{"model": "m", "max_tokens": 5, "messages": ' + "[" * 300 + "]" * 300 + "}"  # parses, then refused
DEPTH_MESSAGE = "The request body is not valid JSON: JSON nested deeper than 128 levels."


def ws_connect(sim, **kwargs):
    return connect(sim.ws_url, open_timeout=10, close_timeout=2, **kwargs)


def receive(ws) -> dict:
    return json.loads(ws.recv(timeout=10))


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens", "/v1/messages/batches"])
@pytest.mark.parametrize("body", [DEEP, TOO_DEEP_TO_WALK], ids=["recursion", "walk"])
def test_deeply_nested_json_on_an_api_endpoint_is_a_clear_400(sim, path, body, caplog):
    response = httpx2.post(sim.url + path, content=body, headers=HEADERS, timeout=10)
    assert response.status_code == 400
    assert response.json() == {"type": "error", "error": {"type": "invalid_request_error", "message": DEPTH_MESSAGE}}
    assert not [r for r in caplog.records if r.exc_info]  # no traceback in the log
    assert sim.stats.statuses[500] == 0


def test_deeply_nested_json_posted_to_the_agent_config_is_a_clear_400(sim):
    for body in (DEEP, '{"deep": ' + "[" * 300 + "]" * 300 + "}"):
        response = httpx2.post(sim.url + "/config", content=body, timeout=10)
        assert (response.status_code, response.json()) == (400, {"error": "Invalid JSON: JSON nested deeper than 128 levels"})
    assert httpx2.get(sim.url + "/config", timeout=10).json() == {"config": {}}


def test_an_oversized_agent_config_is_a_413(sim):
    response = httpx2.post(sim.url + "/config", content=b"{" + b" " * (2 << 20) + b"}", timeout=10)
    assert response.status_code == 413 and "too large" in response.json()["error"]


def test_a_deeply_nested_frame_to_the_scripted_agent_gets_an_error_frame(sim):
    with ws_connect(sim) as ws:
        assert receive(ws) == {"type": "connected"}
        for text in (DEEP, '{"type": "user_message", "data": ' + "[" * 300 + "]" * 300 + "}"):
            ws.send(text)
            assert receive(ws) == {"type": "error", "error": "Invalid message format: JSON nested deeper than 128 levels"}
        ws.send(json.dumps({"type": "nope"}))
        assert receive(ws) == {"type": "error", "error": "Unknown message type: nope"}


def test_a_browser_origin_cannot_use_the_agent_protocol_unless_allowed(start_sim, tmp_path):
    sim = start_sim(agent_workspace=tmp_path / "ws", allowed_origins=("http://localhost:5173",))
    evil = {"Origin": "http://evil.example"}
    for method in ("GET", "POST"):
        refused = httpx2.request(method, sim.url + "/config", json={"model": "m"}, headers=evil, timeout=10)
        assert (refused.status_code, refused.json()) == (403, {"error": "Origin not allowed"})
    for method in ("GET", "DELETE"):  # the running query: a page must neither read nor end it
        refused = httpx2.request(method, sim.url + "/query", headers=evil, timeout=10)
        assert (refused.status_code, refused.json()) == (403, {"error": "Origin not allowed"})
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(sim, origin="http://evil.example")
    assert refused.value.response.status_code == 403
    assert httpx2.get(sim.url + "/config", timeout=10).json() == {"config": {}}  # nothing was stored
    with ws_connect(sim, origin="http://localhost:5173") as ws:
        assert receive(ws) == {"type": "connected"}
    with ws_connect(sim) as ws:  # a client that is not a browser sends no Origin
        assert receive(ws) == {"type": "connected"}


def test_mac_sim_refuses_cross_origin_websocket_upgrades_and_allows_the_named_origin(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "mac_core", "sim", "--port", "0", "--agent-workspace", str(tmp_path / "ws"),
         "--allow-origin", "http://localhost:5173"],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        lines: list[str] = []
        while not (lines and lines[-1].startswith("mac sim: ")):  # other plugins may talk first
            lines.append(process.stderr.readline())
            assert lines[-1], "".join(lines)
        ws_url = "ws" + lines[-1].split()[2][4:] + "/ws"
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url, origin="http://evil.example", open_timeout=10)
        assert refused.value.response.status_code == 403
        with connect(ws_url, origin="http://localhost:5173", open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10)) == {"type": "connected"}
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) in (0, 130)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        process.stderr.close()


def test_a_stalled_request_is_closed_and_a_slow_answer_to_a_complete_one_is_not(start_sim):
    sim = start_sim(request_timeout=0.5, slow_seconds=1.0)
    stalled = socket.create_connection(("127.0.0.1", sim.port), timeout=5)
    try:
        stalled.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{")
        slow = httpx2.post(sim.url + "/v1/messages", timeout=10, headers={**HEADERS, "x-mac-sim-fault": "slow"},
                           json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
        assert slow.status_code == 200  # answered after 1 s although requests must arrive within 0.5 s
        assert closed_by_server(stalled, within=3.0)
    finally:
        stalled.close()
