"""Bad input fails fast, before any request, naming the prompt's index and field."""

from __future__ import annotations

import sys

import pytest

from mac_core import (
    Coordinator,
    InterruptToken,
    MissingAPIKeyError,
    invoke_claude,
    invoke_parallel,
    invoke_parallel_streaming,
)

BAD_PROMPTS = [
    ([{"system": "no prompt"}], ValueError, r"prompts\[0\] is missing 'prompt'"),
    (["ok", {"prompt": 42}], TypeError, r"prompts\[1\]\['prompt'\] must be a string"),
    (["ok", "ok", "  "], ValueError, r"prompts\[2\]\['prompt'\] is empty"),
    ([{"prompt": "x", "max_tokens": 0}], ValueError, r"prompts\[0\]: max_tokens must be positive"),
    ([{"prompt": "x", "max_tokens": -5}], ValueError, r"prompts\[0\]: max_tokens must be positive"),
    ([{"prompt": "x", "max_tokens": "100"}], TypeError, r"prompts\[0\]: max_tokens must be an integer"),
    ([{"prompt": "x", "max_tokens": True}], TypeError, r"prompts\[0\]: max_tokens must be an integer"),
    ([{"prompt": "x", "temperature": 1.5}], ValueError, r"prompts\[0\]: temperature must be between 0 and 1"),
    ([{"prompt": "x", "temperature": -0.1}], ValueError, r"temperature must be between 0 and 1"),
    ([{"prompt": "x", "temperature": float("nan")}], ValueError, r"temperature must be between 0 and 1"),
    ([{"prompt": "x", "temperature": "hot"}], TypeError, r"prompts\[0\]: temperature must be a number"),
    ([{"prompt": "x", "model": ""}], ValueError, r"prompts\[0\]: model is empty"),
    ([{"prompt": "x", "model": None}], TypeError, r"prompts\[0\]: model must be a string"),
    ([{"prompt": "x", "promt": "typo"}], ValueError, r"prompts\[0\] has unknown field 'promt'"),
    ([{"prompt": "x", "system": 5}], TypeError, r"prompts\[0\]\['system'\]: system must be a string"),
    ([3], TypeError, r"prompts\[0\] must be a string or a dict"),
    ([], ValueError, r"prompts is empty"),
    ("just a string", TypeError, r"prompts must be a list"),
]


@pytest.mark.parametrize(("prompts", "error", "message"), BAD_PROMPTS)
def test_bad_prompts_are_refused_before_any_request(httpx2_mock, api_key, prompts, error, message):
    with pytest.raises(error, match=message):
        Coordinator().run(prompts)
    assert not httpx2_mock.calls


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"model": ""}, ValueError, "model: model is empty"),
        ({"max_tokens": 0}, ValueError, "max_tokens must be positive"),
        ({"temperature": 3}, ValueError, "temperature must be between 0 and 1"),
        ({"max_concurrency": 0}, ValueError, "max_concurrency must be at least 1"),
        ({"max_concurrency": 2.5}, TypeError, "max_concurrency must be an integer"),
        ({"transport": "strem"}, ValueError, "unknown transport 'strem'"),
        ({"callbacks": [print]}, ValueError, "callbacks has 1 entries but there are 2 prompts"),
        ({"callbacks": [print, "not callable"]}, TypeError, r"callbacks\[1\] must be callable"),
        ({"interrupt_token": "stop"}, TypeError, "interrupt_token must be an InterruptToken"),
        ({"tols": []}, ValueError, "unknown option 'tols'"),
    ],
)
def test_bad_run_parameters_are_refused_before_any_request(httpx2_mock, api_key, kwargs, error, message):
    with pytest.raises(error, match=message):
        Coordinator().run(["a", "b"], **kwargs)
    assert not httpx2_mock.calls


def test_classic_functions_validate_the_same_way(httpx2_mock, api_key):
    with pytest.raises(ValueError, match=r"prompts\[1\] is missing 'prompt'"):
        invoke_parallel([{"prompt": "a"}, {"text": "b"}])
    with pytest.raises(ValueError, match="callbacks has 1 entries but there are 2 prompts"):
        invoke_parallel_streaming([{"prompt": "a"}, {"prompt": "b"}], callbacks=[print])
    with pytest.raises(ValueError, match="max_tokens must be positive"):
        invoke_claude("hi", max_tokens=0)
    with pytest.raises(ValueError, match="max_concurrency must be at least 1"):
        invoke_parallel([{"prompt": "a"}], max_workers=0)
    assert not httpx2_mock.calls


def test_a_missing_key_names_the_variable_before_any_request(httpx2_mock, no_api_key):
    with pytest.raises(MissingAPIKeyError, match="ANTHROPIC_API_KEY"):
        Coordinator().run(["hello"])
    with pytest.raises(MissingAPIKeyError, match="ANTHROPIC_API_KEY"):
        invoke_claude("hello")
    assert not httpx2_mock.calls


def test_bad_coordinator_settings_are_refused():
    with pytest.raises(ValueError, match="idle_timeout must be a positive number"):
        Coordinator(idle_timeout=0)
    with pytest.raises(ValueError, match="max_retries must be a non-negative integer"):
        Coordinator(max_retries=-1)
    with pytest.raises(TypeError, match="api_key must be a string"):
        Coordinator(api_key=123)
    with pytest.raises(ValueError, match="http_client must be one of 'httpx', 'aiohttp', got 'curl'"):
        Coordinator(http_client="curl")


def test_the_http_client_comes_from_the_environment_and_a_bad_value_there_is_named(monkeypatch):
    monkeypatch.setenv("MAC_HTTP_CLIENT", "aiohttp")
    assert Coordinator().settings("agent-ws").http_client == "aiohttp"
    assert Coordinator(http_client="httpx").settings("agent-ws").http_client == "httpx"  # the argument wins
    monkeypatch.setenv("MAC_HTTP_CLIENT", "requests")
    with pytest.raises(ValueError, match=r"\$MAC_HTTP_CLIENT must be one of 'httpx', 'aiohttp', got 'requests'"):
        Coordinator()


def test_aiohttp_missing_is_named_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # as if it were not installed
    with pytest.raises(ValueError, match=r"needs aiohttp: pip install 'anthropic\[aiohttp\]'"):
        Coordinator(http_client="aiohttp")


def test_an_interrupt_token_can_be_reset_and_reused():
    token = InterruptToken()
    token.interrupt("first")
    assert token.is_interrupted() and token.reason == "first"
    token.reset()
    assert not token.is_interrupted() and token.reason is None
