"""The seed's functions keep their names, parameters and meaning."""

from __future__ import annotations

import json

import httpx
import pytest
from sse import API, SSE_HEADERS, error_json, message_json, sse_body

from mac_core import (
    ClaudeInvocationError,
    invoke_claude,
    invoke_claude_streaming,
    invoke_parallel,
    invoke_parallel_interruptible,
    invoke_parallel_streaming,
)


def answer_with_prompt(request):
    """Echo the prompt back, JSON or SSE as asked, so order can be checked."""
    body = json.loads(request.content)
    prompt = body["messages"][0]["content"]
    if body.get("stream"):
        return httpx.Response(200, content=sse_body([f"re: {prompt}"]), headers=SSE_HEADERS)
    return httpx.Response(200, json=message_json(f"re: {prompt}"))


def test_invoke_claude_returns_the_text_of_a_plain_request(httpx2_mock, api_key):
    route = httpx2_mock.post(API).mock(side_effect=answer_with_prompt)
    assert invoke_claude("hello", system="be brief", temperature=0.2, max_tokens=50) == "re: hello"
    body = json.loads(route.calls.last.request.content)
    assert "stream" not in body  # the classic call stays non-streaming
    assert body["system"] == "be brief" and body["temperature"] == 0.2 and body["max_tokens"] == 50


def test_invoke_claude_caches_system_and_prompt_when_asked(httpx2_mock, api_key):
    route = httpx2_mock.post(API).mock(side_effect=lambda r: httpx.Response(200, json=message_json("ok")))
    invoke_claude("big prompt", system="big system", cache_system=True, cache_prompt=True)
    body = json.loads(route.calls.last.request.content)
    assert body["system"] == [{"type": "text", "text": "big system", "cache_control": {"type": "ephemeral"}}]
    assert body["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}


def test_invoke_claude_raises_the_classic_error_on_failure(httpx2_mock, api_key):
    httpx2_mock.post(API).mock(return_value=httpx.Response(400, json=error_json(400, "invalid_request_error", "bad model")))
    with pytest.raises(ClaudeInvocationError, match="invalid_request_error: bad model") as info:
        invoke_claude("x")
    assert info.value.status_code == 400


def test_invoke_parallel_keeps_the_input_order(httpx2_mock, api_key):
    httpx2_mock.post(API).mock(side_effect=answer_with_prompt)
    prompts = [{"prompt": f"q{i}"} for i in range(8)]
    assert invoke_parallel(prompts, max_workers=3) == [f"re: q{i}" for i in range(8)]


def test_invoke_parallel_raises_naming_the_failed_invocation(httpx2_mock, api_key):
    def fail_second(request):
        if "q1" in request.content.decode():
            return httpx.Response(403, json=error_json(403, "permission_error", "no access"))
        return answer_with_prompt(request)

    httpx2_mock.post(API).mock(side_effect=fail_second)
    with pytest.raises(ClaudeInvocationError, match="Invocation 1 failed: HTTP 403 permission_error") as info:
        invoke_parallel([{"prompt": "q0"}, {"prompt": "q1"}, {"prompt": "q2"}])
    assert info.value.details == "1 of 3 invocations failed"


def test_streaming_calls_feed_each_callback_its_own_chunks(httpx2_mock, api_key):
    httpx2_mock.post(API).mock(side_effect=answer_with_prompt)
    single: list[str] = []
    assert invoke_claude_streaming("solo", callback=single.append) == "re: solo"
    assert "".join(single) == "re: solo"
    seen: list[list[str]] = [[], [], []]
    results = invoke_parallel_streaming(
        [{"prompt": "a"}, {"prompt": "b"}, {"prompt": "c"}], callbacks=[seen[0].append, None, seen[2].append]
    )
    assert results == ["re: a", "re: b", "re: c"]
    assert ["".join(s) for s in seen] == ["re: a", "", "re: c"]


def test_interruptible_returns_every_answer_when_not_interrupted(httpx2_mock, api_key):
    httpx2_mock.post(API).mock(side_effect=answer_with_prompt)
    assert invoke_parallel_interruptible([{"prompt": "a"}, {"prompt": "b"}]) == ["re: a", "re: b"]
