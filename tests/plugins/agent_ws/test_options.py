"""The agent-ws settings: URLs, the plaintext-remote refusal and bad values fail before any connection."""

from __future__ import annotations

import re

import pytest
from mac_plugins.agent_ws.options import AgentOptions, endpoints

from mac_core import ClientSettings, Coordinator, Secret


def options(**transport_options):
    return AgentOptions.from_settings(ClientSettings(transport_options=transport_options))


@pytest.mark.parametrize(
    "url, config_url, ws_url",
    [
        ("http://127.0.0.1:3000", "http://127.0.0.1:3000/config", "ws://127.0.0.1:3000/ws"),
        ("ws://localhost:3000/ws", "http://localhost:3000/config", "ws://localhost:3000/ws"),
        ("http://[::1]:3000/", "http://[::1]:3000/config", "ws://[::1]:3000/ws"),
        ("https://agent.example.com/sandbox/", "https://agent.example.com/sandbox/config", "wss://agent.example.com/sandbox/ws"),
        ("wss://agent.example.com:8443/ws", "https://agent.example.com:8443/config", "wss://agent.example.com:8443/ws"),
    ],
)
def test_a_server_url_gives_the_config_and_websocket_endpoints(url, config_url, ws_url):
    assert endpoints(url)[:2] == (config_url, ws_url)


@pytest.mark.parametrize("url", ["http://agent.example.com:3000", "ws://10.0.0.7:3000/ws"])
def test_plaintext_to_a_remote_host_is_refused_before_any_connection(url):
    with pytest.raises(ValueError, match="would travel in clear.*allow_insecure=True"):
        Coordinator().run(["fix it"], transport="agent-ws", transport_options={"url": url, "token": "t"})


def test_plaintext_to_a_remote_host_is_allowed_when_the_caller_opts_in():
    opts = options(url="http://agent.internal:3000", allow_insecure=True)
    assert opts.ws_url == "ws://agent.internal:3000/ws"
    assert not opts.loopback


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://127.0.0.1:3000", "must start with http://, https://, ws:// or wss://"),
        ("127.0.0.1:3000", "must start with"),
        ("http://", "has no host"),
        ("http://127.0.0.1:99999", "invalid port"),
        ("http://user:secret-pw@127.0.0.1:3000", "must not carry credentials"),
        ("http://127.0.0.1:3000/?token=abc", "must not have a query"),
        ("", "needs the option url, one server"),
    ],
)
def test_bad_urls_fail_fast_with_a_clear_message(url, message):
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        options(url=url)
    assert "secret-pw" not in str(error.value)


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"tokn": "x"}, "unknown agent-ws transport option 'tokn'"),
        ({"idle_timeout": 0}, "idle_timeout.*positive"),
        ({"reconnect_timeout": -1}, "reconnect_timeout.*non-negative"),
        ({"interrupt_timeout": "5"}, "interrupt_timeout.*must be a number"),
    ],
)
def test_bad_options_fail_fast(extra, message):
    with pytest.raises(ValueError, match=message):
        options(url="http://127.0.0.1:3000", **extra)


def test_tokens_are_held_as_secrets_and_timeouts_default_to_the_run_settings():
    settings = ClientSettings(connect_timeout=3, idle_timeout=7, transport_options={
        "url": "http://127.0.0.1:3000", "token": "tok-1", "anthropic_api_key": Secret("sk-ant-x")})
    opts = AgentOptions.from_settings(settings)
    assert opts.token == Secret("tok-1") and opts.anthropic_api_key == Secret("sk-ant-x")
    assert "tok-1" not in repr(opts) and "sk-ant-x" not in repr(opts)
    assert (opts.connect_timeout, opts.idle_timeout, opts.interrupt_timeout) == (3, 7, 5)
