"""The server holds under abuse: stalled clients are cut off, query-string secrets stay out of logs, deep JSON is a 400."""

from __future__ import annotations

import json
import logging
import socket
import time

import httpx2
import pytest
from agent_server_ws import open_ws, recv
from stalled_sockets import closed_by_server
from stalled_sockets import stalled_sockets as stalled_to
from uvicorn.logging import AccessFormatter
from websockets.sync.client import connect

TOKEN = "tok-5d1e7a90-canary"
AUTH = {"Authorization": "Bearer " + TOKEN}
PARTIAL_REQUEST = b"GET /config HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # the blank line that ends it never comes
DEEP = "[" * 100_000 + "]" * 100_000


def stalled_sockets(server, count: int, payload: bytes = PARTIAL_REQUEST) -> list[socket.socket]:
    """``count`` loopback connections to ``server`` that each send ``payload`` and then nothing."""
    return stalled_to(server.port, count, payload)


def response_status(sock: socket.socket) -> int:
    """The status of the next whole response on ``sock`` (its body is read and dropped)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1])


def test_hundreds_of_stalled_connections_do_not_lock_out_the_real_client(make_server):
    server = make_server(token=TOKEN, request_timeout=3.0, max_connections=32)
    stalled = stalled_sockets(server, 300)
    stalled += stalled_sockets(server, 100, payload=b"")  # connect and say nothing at all
    try:
        began = time.monotonic()
        assert httpx2.post(server.url + "/config", json={"model": "m"}, headers=AUTH, timeout=5).status_code == 200
        assert httpx2.get(server.url + "/config", headers=AUTH, timeout=5).json() == {"config": {"model": "m"}}
        with open_ws(server, additional_headers=AUTH) as ws:
            assert recv(ws) == {"type": "connected"}
        assert time.monotonic() - began < 3.0  # served while the stalled sockets were still within their time
        still_open = [sock for sock in stalled if not closed_by_server(sock, within=0.001)]
        assert 32 - 8 <= len(still_open) <= 32  # the cap closed the oldest, and no more than it had to
        assert all(closed_by_server(sock, within=5.0) for sock in still_open)
    finally:
        for sock in stalled:
            sock.close()


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        PARTIAL_REQUEST,
        b"POST /config HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"mo",
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    ],
    ids=["nothing", "half-headers", "half-body", "half-upgrade"],
)
def test_a_request_that_does_not_arrive_in_time_has_its_connection_closed(make_server, payload):
    server = make_server(request_timeout=0.5)
    (sock,) = stalled_sockets(server, 1, payload)
    try:
        began = time.monotonic()
        assert closed_by_server(sock, within=5.0)
        assert 0.4 < time.monotonic() - began < 3.0
    finally:
        sock.close()


def test_a_stalled_request_gets_408_when_its_headers_never_came(make_server):
    server = make_server(request_timeout=0.3)
    (sock,) = stalled_sockets(server, 1)
    try:
        assert response_status(sock) == 408
    finally:
        sock.close()


def test_a_kept_alive_connection_is_not_cut_while_idle_but_its_stalled_next_request_is(make_server):
    server = make_server(request_timeout=0.3)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        sock.sendall(b"GET /config HTTP/1.1\r\nHost: x\r\n\r\n")
        assert response_status(sock) == 200
        time.sleep(0.6)  # idle longer than the request timeout, shorter than uvicorn's keep-alive
        sock.sendall(b"GET /config HTTP/1.1\r\nHost: x\r\n\r\n")
        assert response_status(sock) == 200
        sock.sendall(PARTIAL_REQUEST)
        assert closed_by_server(sock, within=3.0)
    finally:
        sock.close()


def test_a_websocket_connection_outlives_the_request_timeout(make_server):
    server = make_server(request_timeout=0.3)
    with open_ws(server) as ws:
        assert recv(ws) == {"type": "connected"}
        time.sleep(0.8)
        ws.send(json.dumps({"type": "bogus"}))
        assert recv(ws)["type"] == "error"


def test_a_token_in_the_query_string_is_never_logged(make_server, caplog):
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access", "websockets", "mac_core", "mac_plugins"):
        caplog.set_level(logging.DEBUG, logger=name)
    server = make_server()
    access = logging.getLogger("uvicorn.access")
    access.addHandler(caplog.handler)  # as an operator who turns uvicorn's access log on would
    try:
        query = f"?token={TOKEN}&other=1"
        assert httpx2.get(server.url + "/config" + query, timeout=5).status_code == 200
        with connect(server.ws_url + query, open_timeout=5) as ws:
            recv(ws)
    finally:
        access.removeHandler(caplog.handler)
    client_side = ("websockets.client", "httpx", "httpcore")
    server_side = [r for r in caplog.records if not r.name.startswith(client_side)]
    lines = [r.getMessage() for r in server_side]
    (access_line,) = [r for r in server_side if r.name == "uvicorn.access"]
    # uvicorn's own access formatter still reads the record (its arguments kept their shape).
    assert "/config?token=[redacted]&other=[redacted]" in AccessFormatter("%(request_line)s").format(access_line)
    assert any("/ws?token=[redacted]" in line for line in lines)  # uvicorn's "WebSocket ... [accepted]" line
    assert not any(TOKEN in line for line in lines)


def test_deeply_nested_json_posted_to_config_is_a_clear_400(server):
    for body in (DEEP, "[" * 200 + "]" * 200):
        response = httpx2.post(server.url + "/config", content=body, timeout=10)
        assert response.status_code == 400
        assert response.json() == {"error": "Invalid JSON: JSON nested deeper than 128 levels"}
    assert httpx2.get(server.url + "/config", timeout=5).status_code == 200  # and the server is fine


def test_a_deeply_nested_frame_gets_an_error_frame_and_the_connection_stays_open(server):
    with open_ws(server) as ws:
        assert recv(ws) == {"type": "connected"}
        for text in (DEEP, '{"type": "user_message", "data": {"deep": ' + "[" * 300 + "]" * 300 + "}}"):
            ws.send(text)
            assert recv(ws) == {"type": "error", "error": "Invalid JSON: JSON nested deeper than 128 levels"}
        ws.send(json.dumps({"type": "bogus"}))
        assert recv(ws) == {"type": "error", "error": "Unknown message type: 'bogus'"}
