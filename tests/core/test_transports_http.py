"""The messages and stream transports against mocked HTTP (httpx2 layer): answers, usage, errors."""

from __future__ import annotations

import json

import httpx  # respx builds its canned responses with httpx; pytest-httpx2 serves them through httpcore2
import pytest
from sse import (
    API,
    SSE_HEADERS,
    error_event,
    error_json,
    message_json,
    sse_body,
    sse_event,
    stream_head,
    stream_tail,
    text_delta,
)

from mac_core import Coordinator


@pytest.fixture
def coord(api_key) -> Coordinator:
    return Coordinator(max_retries=2)


def sse(content: bytes, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=content, headers=SSE_HEADERS)


def test_stream_assembles_text_usage_and_stop_reason(httpx2_mock, coord, api_key):
    route = httpx2_mock.post(API).mock(return_value=sse(sse_body(["Hello", ", ", "world"], input_tokens=42)))
    (result,) = coord.run(["Say hello"], model="claude-test", max_tokens=100)
    assert result.status == "completed"
    assert result.text == "Hello, world"
    assert result.usage.input_tokens == 42 and result.usage.output_tokens == 3
    assert result.stop_reason == "end_turn" and result.request_id == "req_test"
    body = json.loads(route.calls.last.request.content)
    assert body["stream"] is True and body["model"] == "claude-test" and body["max_tokens"] == 100
    assert body["messages"] == [{"role": "user", "content": "Say hello"}]
    assert route.calls.last.request.headers["authorization"] == f"Bearer {api_key}"  # SDK 2.x sends the key so


def test_stream_reports_tool_use_and_pings(httpx2_mock, coord):
    tool = (
        sse_event({"type": "ping"})
        + sse_event(
            {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "Write", "input": {}}}
        )
        + sse_event({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"path": '}})
        + sse_event({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '"a.py"}'}})
        + sse_event({"type": "content_block_stop", "index": 1})
    )
    httpx2_mock.post(API).mock(return_value=sse(stream_head() + text_delta("ok") + tool + stream_tail(stop_reason="tool_use")))
    events = []

    class Spy:
        from mac_core import hookimpl

        @hookimpl
        def mac_task_event(self, event):
            events.append(event)

    (result,) = Coordinator(plugins=[Spy()]).run(["x"], tools=[{"name": "Write", "input_schema": {"type": "object"}}])
    assert result.stop_reason == "tool_use"
    tool_uses = [e.data for e in events if e.type == "tool_use"]
    assert tool_uses == [{"id": "toolu_1", "name": "Write", "input": {"path": "a.py"}}]
    assert any(e.type == "ping" for e in events)


def test_a_midstream_error_event_fails_the_task_and_keeps_the_text(httpx2_mock, coord):
    httpx2_mock.post(API).mock(return_value=sse(stream_head() + text_delta("half an ") + text_delta("answer") + error_event()))
    (result,) = coord.run(["x"])
    assert result.status == "failed"
    assert result.text == "half an answer"
    assert "overloaded_error" in result.error and "req_test" in result.error


def test_a_stream_cut_before_message_stop_fails_with_the_text_kept(httpx2_mock, coord):
    httpx2_mock.post(API).mock(return_value=sse(stream_head() + text_delta("cut")))
    (result,) = coord.run(["x"])
    assert result.status == "failed" and result.text == "cut"
    assert "ended before message_stop" in result.error


def test_401_fails_at_once_with_a_clear_message(httpx2_mock, coord):
    route = httpx2_mock.post(API).mock(
        return_value=httpx.Response(401, json=error_json(401, "authentication_error", "invalid x-api-key"), headers={"request-id": "req_401"})
    )
    (result,) = coord.run(["x"])
    assert result.status == "failed"
    assert result.error == "HTTP 401 authentication_error: invalid x-api-key (request id req_401)"
    assert route.call_count == 1  # not retried


def test_429_is_retried_until_it_succeeds(httpx2_mock, coord):
    limited = httpx.Response(429, json=error_json(429, "rate_limit_error", "slow down"), headers={"retry-after": "0"})
    route = httpx2_mock.post(API).mock(side_effect=[limited, sse(sse_body(["fine"]))])
    (result,) = coord.run(["x"])
    assert result.status == "completed" and result.text == "fine"
    assert route.call_count == 2


def test_529_that_persists_fails_after_the_retries(httpx2_mock, api_key):
    overloaded = httpx.Response(529, json=error_json(529, "overloaded_error", "Overloaded"), headers={"retry-after": "0"})
    route = httpx2_mock.post(API).mock(return_value=overloaded)
    (result,) = Coordinator(max_retries=1).run(["x"])
    assert result.status == "failed"
    assert result.error.startswith("HTTP 529 overloaded_error: Overloaded")
    assert "after 1 retry" in result.error
    assert route.call_count == 2


def test_messages_transport_sends_one_plain_request(httpx2_mock, coord):
    route = httpx2_mock.post(API).mock(
        return_value=httpx.Response(200, json=message_json("The answer", input_tokens=7, output_tokens=2), headers={"request-id": "req_m"})
    )
    chunks = []
    (result,) = coord.run(["q"], transport="messages", callbacks=[chunks.append])
    assert result.status == "completed" and result.text == "The answer"
    assert result.usage.input_tokens == 7 and result.usage.output_tokens == 2
    assert result.request_id == "req_m" and chunks == ["The answer"]
    assert "stream" not in json.loads(route.calls.last.request.content)


def test_shared_system_cache_marks_the_prefix_and_reports_cache_reads(httpx2_mock, coord):
    route = httpx2_mock.post(API).mock(return_value=sse(sse_body(["ok"], cache_read=900)))
    results = coord.run(
        [{"prompt": "a", "system": "You review security."}, "b"],
        system="A long shared codebase...",
        cache_shared_system=True,
    )
    first = json.loads(route.calls[0].request.content)
    assert first["system"][0] == {"type": "text", "text": "A long shared codebase...", "cache_control": {"type": "ephemeral"}}
    systems = sorted(json.dumps(json.loads(c.request.content)["system"]) for c in route.calls)
    assert any("You review security." in s for s in systems)
    assert all(r.usage.cache_read_input_tokens == 900 for r in results)


def test_base_url_from_the_environment_is_honoured(httpx2_mock, api_key, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/custom")
    route = httpx2_mock.post("http://127.0.0.1:9/custom/v1/messages").mock(return_value=sse(sse_body(["here"])))
    (result,) = Coordinator().run(["x"])
    assert result.text == "here" and route.called
