"""Where the key comes from, and that it never shows up anywhere it could leak."""

from __future__ import annotations

import logging
import pickle

import httpx
import pytest
from canary import CANARY_KEY
from sse import API, SSE_HEADERS, error_json, sse_body

from mac_core import ClaudeInvocationError, Coordinator, Secret, invoke_claude
from mac_core.credentials import find_api_key


def test_key_order_is_argument_then_environment_then_config_file(monkeypatch, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('api_key = "sk-from-file"\nbase_url = "http://127.0.0.1:1"\n')
    monkeypatch.setenv("MAC_CONFIG", str(config))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert find_api_key().reveal() == "sk-from-file"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-from-env")
    assert find_api_key().reveal() == "sk-from-env"
    assert find_api_key("sk-explicit").reveal() == "sk-explicit"


def test_a_broken_config_file_is_a_clear_error_without_its_contents(monkeypatch, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'api_key = "{CANARY_KEY}\n')  # unterminated string
    monkeypatch.setenv("MAC_CONFIG", str(config))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ValueError, match="cannot read the mac config file") as info:
        find_api_key()
    assert CANARY_KEY not in str(info.value)


def test_secret_never_shows_itself():
    secret = Secret(CANARY_KEY)
    assert CANARY_KEY not in repr(secret) and CANARY_KEY not in str(secret) and CANARY_KEY not in f"{secret}"
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_the_key_is_absent_from_logs_reprs_results_and_errors(httpx2_mock, api_key, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, the SDK's and httpx2's included
    httpx2_mock.post(API).mock(
        side_effect=[
            httpx.Response(200, content=sse_body(["fine"]), headers=SSE_HEADERS),
            httpx.Response(401, json=error_json(401, "authentication_error", "invalid x-api-key")),
            httpx.Response(401, json=error_json(401, "authentication_error", "invalid x-api-key")),
        ]
    )
    coord = Coordinator(api_key=CANARY_KEY)
    ok = coord.run(["x"])
    failed = coord.run(["x"], transport="messages")
    with pytest.raises(ClaudeInvocationError) as info:
        invoke_claude("x")
    seen = [
        caplog.text,
        repr(coord),
        repr(coord.settings("stream")),
        repr(ok),
        repr(failed),
        str(ok[0].as_dict()),
        str(info.value),
        repr(info.value),
    ]
    assert failed[0].status == "failed" and "authentication_error" in failed[0].error
    for text in seen:
        assert CANARY_KEY not in text


def test_secret_transport_options_are_hidden_in_settings(api_key):
    settings = Coordinator().settings("agent-ws", {"url": "http://127.0.0.1:3000", "token": CANARY_KEY})
    assert CANARY_KEY not in repr(settings)
    assert settings.transport_options["token"].reveal() == CANARY_KEY
