"""Who may talk to the server: bearer token, browser origins; refusals happen before any agent work."""

from __future__ import annotations

import logging

import httpx2
import pytest
from agent_server_ws import open_ws, recv
from websockets.exceptions import InvalidStatus

TOKEN = "tok-3b9f1c2e-canary"


@pytest.fixture
def guarded(make_server):
    return make_server(token=TOKEN)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Basic " + TOKEN}, 401),
        ({"Authorization": "Bearer"}, 401),
        ({"Authorization": "Bearer wrong-token"}, 403),
        ({"Authorization": "Bearer " + TOKEN[:-1]}, 403),
    ],
)
def test_config_without_the_right_token_is_refused(guarded, headers, status):
    for method in ("GET", "POST"):
        response = httpx2.request(
            method, guarded.url + "/config", json={"model": "m"}, headers=headers, timeout=5
        )
        assert response.status_code == status
        assert TOKEN not in response.text
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    assert httpx2.get(
        guarded.url + "/config", headers={"Authorization": "Bearer " + TOKEN}, timeout=5
    ).json() == {"config": {}}


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"Authorization": "Bearer nope"}, 403)])
def test_the_websocket_upgrade_without_the_right_token_is_refused_before_the_agent_starts(
    guarded, fake_clients, headers, status
):
    with pytest.raises(InvalidStatus) as refused:
        open_ws(guarded, additional_headers=headers)
    assert refused.value.response.status_code == status
    assert fake_clients == []


def test_the_right_token_opens_everything(guarded):
    auth = {"Authorization": "bearer " + TOKEN}  # the scheme is case-insensitive
    assert httpx2.post(guarded.url + "/config", json={}, headers=auth, timeout=5).status_code == 200
    with open_ws(guarded, additional_headers=auth) as ws:
        assert recv(ws) == {"type": "connected"}


def test_the_token_is_never_logged_or_shown(make_server, caplog):
    caplog.set_level(logging.DEBUG)
    server = make_server(token=TOKEN)
    httpx2.get(server.url + "/config", headers={"Authorization": "Bearer " + TOKEN}, timeout=5)
    httpx2.get(server.url + "/config", headers={"Authorization": "Bearer bad"}, timeout=5)
    with open_ws(server, additional_headers={"Authorization": "Bearer " + TOKEN}) as ws:
        recv(ws)
    server_side = [r.getMessage() for r in caplog.records if not r.name.startswith("websockets.client")]
    assert any("authorization: [redacted]" in line for line in server_side)  # uvicorn logs handshakes
    assert not any(TOKEN in line for line in server_side)
    assert TOKEN not in repr(server)


def test_browser_origins_are_refused_unless_allowed(make_server, fake_clients):
    server = make_server(allowed_origins=("http://localhost:5173",))
    evil = {"Origin": "http://evil.example"}
    assert httpx2.post(server.url + "/config", json={}, headers=evil, timeout=5).status_code == 403
    with pytest.raises(InvalidStatus) as refused:
        open_ws(server, origin="http://evil.example")
    assert refused.value.response.status_code == 403
    assert fake_clients == []
    with open_ws(server, origin="http://localhost:5173") as ws:
        assert recv(ws) == {"type": "connected"}


def test_without_a_token_loopback_clients_need_no_header(server):
    assert httpx2.get(server.url + "/config", timeout=5).status_code == 200
    assert server.url.startswith("http://127.0.0.1:")
