"""invoke_claude_json / parse_json_response with repair turns, and ConversationThread's cached history."""

from __future__ import annotations

import json

import httpx
import pytest
from sse import API, message_json

from mac_core import (
    ERROR_OUTPUT_PARSE,
    ClaudeInvocationError,
    ConversationThread,
    invoke_claude_json,
    parse_json_response,
)


@pytest.mark.parametrize("raw", [
    '{"a": 1}', '```json\n{"a": 1}\n```', '```\n{"a": 1}\n```', '  ```JSON\n{"a": 1}```  ',
    'Here you go:\n```json\n{"a": 1}\n```\nHope that helps.',
])
def test_parse_json_response_strips_fences(raw):
    assert parse_json_response(raw) == {"a": 1}


def test_parse_json_response_raises_json_decode_error_on_prose():
    with pytest.raises(json.JSONDecodeError):
        parse_json_response("I cannot do that.")


def test_invoke_claude_json_parses_a_fenced_answer(sim):
    assert invoke_claude_json('[[reply: ```json\n{"verdict": "ok"}\n```]]') == {"verdict": "ok"}


def _answers(httpx2_mock, *texts):
    """Mock the API to give ``texts`` in turn; returns the route (its calls hold the bodies sent)."""
    replies = iter(texts)
    return httpx2_mock.post(API).mock(side_effect=lambda request: httpx.Response(200, json=message_json(next(replies))))


def test_a_bad_json_answer_is_repaired_in_the_same_conversation(httpx2_mock, api_key, project_dir):
    route = _answers(httpx2_mock, "Sure! The verdict is ok.", '{"verdict": "ok"}')
    assert invoke_claude_json("Give the verdict as JSON", temperature=0.5) == {"verdict": "ok"}
    repair = json.loads(route.calls[1].request.content)
    roles = [m["role"] for m in repair["messages"]]
    assert roles == ["user", "assistant", "user"] and repair["messages"][1]["content"] == "Sure! The verdict is ok."
    assert "could not be parsed as JSON" in repair["messages"][2]["content"]
    assert repair["temperature"] == pytest.approx(0.2)


def test_json_that_never_comes_is_a_decode_error_of_kind_output_parse(httpx2_mock, api_key, project_dir):
    route = _answers(httpx2_mock, "no", "still no", "never")
    with pytest.raises(json.JSONDecodeError) as info:
        invoke_claude_json("JSON please", max_parse_retries=2)
    assert isinstance(info.value, ClaudeInvocationError) and info.value.kind == ERROR_OUTPUT_PARSE
    assert len(route.calls) == 3


def test_max_parse_retries_zero_parses_once(httpx2_mock, api_key, project_dir):
    route = _answers(httpx2_mock, "nope")
    with pytest.raises(json.JSONDecodeError):
        invoke_claude_json("JSON please", max_parse_retries=0)
    assert len(route.calls) == 1


def test_a_conversation_thread_keeps_history_and_counts_turns(sim):
    agent = ConversationThread(system="You are a code refactoring expert", cache_system=True)
    assert agent.send("[[reply: UserAuth has issues]]") == "UserAuth has issues"
    second = agent.send("How would you refactor the login method?")
    assert second == "UserAuth has issues"  # the simulator's script is the first user message's directive
    assert agent.turn_count == len(agent) == 2
    assert [m["role"] for m in agent.get_messages()] == ["user", "assistant", "user", "assistant"]
    agent.clear()
    assert len(agent) == 0 and agent.get_messages() == []


def test_each_turn_caches_the_growing_prefix(httpx2_mock, api_key, project_dir):
    route = _answers(httpx2_mock, "one", "two", "three")
    agent = ConversationThread(system="Large base context")
    for question in ("q1", "q2", "q3"):
        agent.send(question)
    third = json.loads(route.calls[2].request.content)
    assert third["system"][-1]["cache_control"] == {"type": "ephemeral"}
    marks = [m["content"][-1].get("cache_control") if isinstance(m["content"], list) else None
             for m in third["messages"]]
    # The previous user turn (read from the cache) and the new one (written for the next turn).
    assert marks == [None, None, {"type": "ephemeral"}, None, {"type": "ephemeral"}]
    assert agent.get_messages()[0] == {"role": "user", "content": "q1"}  # history holds no cache marks


def test_max_turns_and_continuations_follow_the_skill(sim):
    agent = ConversationThread(max_turns=2, continuation_prompt="[[reply: continuing]]")
    with pytest.raises(RuntimeError, match="No previous turns"):
        agent.send_continuation()
    agent.send("[[reply: first]]")
    agent.send_continuation()
    assert agent.get_messages()[2]["content"] == "[[reply: continuing]]"
    with pytest.raises(RuntimeError, match=r"Maximum turns \(2\) reached"):
        agent.send("one more")


def test_a_failed_turn_leaves_the_history_as_it_was(sim):
    agent = ConversationThread()
    agent.send("[[reply: fine]]")
    with pytest.raises(ClaudeInvocationError):
        agent.send("again", max_retries=0, extra_headers={"x-mac-sim-fault": "overloaded"})
    assert agent.turn_count == 1 and len(agent.get_messages()) == 2
