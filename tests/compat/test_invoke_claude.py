"""invoke_claude as the skill documents it: messages with an empty prompt, max_retries, on_error, kinds."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import fault
from sse import API, message_json

from mac_core import (
    ERROR_OVERLOADED,
    ERROR_RATE_LIMIT,
    ClaudeInvocationError,
    Fail,
    Retry,
    invoke_claude,
    invoke_claude_streaming,
)


def test_a_conversation_goes_in_messages_with_an_empty_prompt(sim):
    conversation = [
        {"role": "user", "content": "[[reply: first answer]]"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "and again?"},
    ]
    assert invoke_claude(prompt="", messages=conversation) == "first answer"


def test_an_empty_prompt_without_messages_is_refused_before_sending(sim):
    for bad in ("", "   ", []):
        with pytest.raises(ValueError, match="prompt is empty"):
            invoke_claude(bad)
    assert sim.stats.requests == 0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_tokens": 0}, r"max_tokens must be positive \(1 to 128000\)"),
    ({"max_tokens": 128_001}, r"max_tokens must be at most 128000"),
    ({"temperature": 2.0}, "temperature must be between 0 and 1"),
])
def test_out_of_range_settings_are_a_value_error_before_sending(sim, kwargs, message):
    with pytest.raises(ValueError, match=message):
        invoke_claude("Test", **kwargs)
    assert sim.stats.requests == 0


def test_max_retries_rides_out_rate_limits(sim):
    assert invoke_claude("[[reply: made it]]", max_retries=3, **fault("rate_limit:2")) == "made it"
    assert sim.stats.faults["rate_limit"] == 2


def test_without_retries_a_rate_limit_raises_with_its_kind_and_status(sim):
    with pytest.raises(ClaudeInvocationError) as info:
        invoke_claude("[[reply: never]]", max_retries=0, **fault("rate_limit"))
    assert info.value.kind == ERROR_RATE_LIMIT and info.value.status_code == 429
    assert sim.stats.messages == 1


def test_on_error_sees_each_failure_and_can_retry_with_a_new_prompt(sim, no_waiting):
    seen = []

    def recover(error, attempt):
        seen.append((error.kind, error.status_code, attempt))
        return Retry(prompt="[[reply: shorter prompt worked]]")

    answer = invoke_claude("[[reply: too long]]", max_retries=2, on_error=recover, **fault("overloaded:1"))
    assert answer == "shorter prompt worked"
    assert seen == [(ERROR_OVERLOADED, 529, 0)]
    assert len(no_waiting) == 1  # one short pause before the caller's retry


def test_on_error_returning_fail_stops_at_once_with_its_message(sim, no_waiting):
    with pytest.raises(ClaudeInvocationError, match="giving up on purpose") as info:
        invoke_claude("[[reply: x]]", max_retries=5, on_error=lambda e, a: Fail("giving up on purpose"),
                      **fault("overloaded"))
    assert info.value.kind == ERROR_OVERLOADED
    assert sim.stats.messages == 1


def test_on_error_returning_none_retries_transient_errors_then_raises(sim, no_waiting):
    attempts = []
    with pytest.raises(ClaudeInvocationError) as info:
        invoke_claude("[[reply: x]]", max_retries=2, on_error=lambda e, a: attempts.append(a), **fault("rate_limit"))
    assert attempts == [0, 1] and sim.stats.messages == 3
    assert info.value.kind == ERROR_RATE_LIMIT and info.value.retries == 2


def test_an_on_error_that_raises_ends_with_the_api_error_caused_by_it(sim, no_waiting):
    def broken(error, attempt):
        raise RuntimeError("bug in my handler")

    with pytest.raises(ClaudeInvocationError) as info:
        invoke_claude("[[reply: x]]", max_retries=2, on_error=broken, **fault("overloaded"))
    assert isinstance(info.value.__cause__, RuntimeError)
    assert sim.stats.messages == 1


def test_a_non_callable_on_error_is_refused_before_sending(sim):
    with pytest.raises(TypeError, match="on_error must be callable"):
        invoke_claude("hi", on_error="retry please")
    assert sim.stats.requests == 0


def test_extra_keyword_arguments_reach_the_api(httpx2_mock, api_key, project_dir):
    route = httpx2_mock.post(API).mock(return_value=httpx.Response(200, json=message_json("ok")))
    assert invoke_claude("hi", top_k=5, top_p=0.5, stop_sequences=["END"], metadata={"user_id": "u1"}) == "ok"
    body = json.loads(route.calls.last.request.content)
    assert (body["top_k"], body["top_p"], body["stop_sequences"], body["metadata"]) == (5, 0.5, ["END"], {"user_id": "u1"})


def test_a_stream_keyword_is_dropped_with_a_warning_as_the_skill_did(sim):
    with pytest.warns(RuntimeWarning, match="dropping 'stream'"):
        assert invoke_claude("[[reply: fine]]", stream=True) == "fine"


def test_content_blocks_with_cache_prompt_mark_the_last_block(httpx2_mock, api_key, project_dir):
    route = httpx2_mock.post(API).mock(return_value=httpx.Response(200, json=message_json("ok")))
    blocks = [{"type": "text", "text": "<document>...</document>"}, {"type": "text", "text": "Key points?"}]
    invoke_claude(prompt=blocks, cache_prompt=True)
    sent = json.loads(route.calls.last.request.content)["messages"][0]["content"]
    assert sent[-1]["cache_control"] == {"type": "ephemeral"} and "cache_control" not in sent[0]
    assert "cache_control" not in blocks[-1]  # the caller's blocks are left as they were


def test_streaming_calls_take_max_retries_too(sim):
    chunks: list[str] = []
    text = invoke_claude_streaming("[[reply: streamed after a retry]]", callback=chunks.append, max_retries=1,
                                   **fault("overloaded:1"))
    assert text == "streamed after a retry" == "".join(chunks)


@pytest.mark.parametrize(("fields", "kind"), [
    ({"status_code": 400, "error_type": "invalid_request_error", "error": "HTTP 400: prompt is too long: 210000 tokens"},
     "context_overflow"),
    ({"status_code": 413, "error_type": "request_too_large", "error": "HTTP 413"}, "context_overflow"),
    ({"status_code": 401, "error_type": "authentication_error", "error": "HTTP 401"}, "auth"),
    ({"status_code": 403, "error_type": "permission_error", "error": "HTTP 403"}, "auth"),
    ({"status_code": 529, "error_type": "overloaded_error", "error": "HTTP 529"}, "overloaded"),
    ({"error_type": "overloaded_error", "error": "stream error event"}, "overloaded"),
    ({"error_type": "incomplete_stream", "error": "stream ended early"}, "connection"),
    ({"error_type": "timeout", "error": "timed out"}, "connection"),
    ({"error_type": "worker_lost", "error": "the Ray worker died"}, "connection"),
    ({"status_code": 400, "error_type": "invalid_request_error", "error": "HTTP 400: bad role"}, "unknown"),
    ({"status_code": 500, "error_type": "api_error", "error": "HTTP 500"}, "unknown"),
])
def test_every_failure_gets_the_skills_kind_from_its_status_and_type(fields, kind):
    from mac_core.invocation_errors import kind_of
    from mac_core.results import FAILED, TaskResult

    assert kind_of(TaskResult(0, "t", FAILED, **fields)) == kind
