"""The Messages API of the simulator, spoken to by the official SDK and raw HTTP over real sockets."""

from __future__ import annotations

import json

import anthropic
import httpx2
import pytest
from conftest import KEY, sse_events
from mac_plugins.simulator.script import count_tokens, words

HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
WRITE_TOOL = {"name": "Write", "description": "Write a file", "input_schema": {"type": "object"}}
READ_TOOL = {"name": "Read", "description": "Read a file", "input_schema": {"type": "object"}}


def ask(text: str, **extra) -> dict:
    return {"model": "claude-test", "max_tokens": 200, "messages": [{"role": "user", "content": text}], **extra}


def test_a_json_answer_has_the_api_shape_usage_and_a_request_id(client):
    raw = client.messages.with_raw_response.create(**ask("Review this module."))
    message = raw.parse()
    assert raw.headers["request-id"].startswith("req_")
    assert message.id.startswith("msg_") and message.model == "claude-test" and message.role == "assistant"
    assert message.stop_reason == "end_turn"
    assert len(message.content[0].text.split()) == 12
    assert message.usage.input_tokens == count_tokens("Review this module.")
    assert message.usage.output_tokens == 12


def test_unscripted_answers_are_deterministic_per_prompt(client):
    first = client.messages.create(**ask("Same prompt")).content[0].text
    assert client.messages.create(**ask("Same prompt")).content[0].text == first
    assert client.messages.create(**ask("Another prompt")).content[0].text != first


def test_a_scripted_reply_is_exact_and_streams_one_delta_per_word(client):
    reply = "Hello,  world!\n  A second line; with punctuation."
    prompt = f"Say it. [[reply: {reply}]]"
    assert client.messages.create(**ask(prompt)).content[0].text == reply
    deltas = []
    with client.messages.stream(**ask(prompt)) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                deltas.append(event.delta.text)
        final = stream.get_final_message()
    assert "".join(deltas) == reply
    assert deltas == words(reply)
    assert final.usage.output_tokens == len(deltas)


def test_a_stream_has_every_event_kind_in_the_api_order_and_beta_query_works(start_sim):
    sim = start_sim(tokens=60)
    response = httpx2.post(f"{sim.url}/v1/messages?beta=true", json=ask("Go on.", stream=True), headers=HEADERS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["request-id"].startswith("req_")
    events = sse_events(response.content)
    names = [name for name, _ in events]
    assert all(name == data["type"] for name, data in events)
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-4:] == ["content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert names.count("content_block_delta") == 60
    assert names.count("ping") >= 2  # interleaved among the deltas too
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] == count_tokens("Go on.")
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 60


def test_tool_directives_round_trip_through_tool_results(client):
    write = {"file_path": "/tmp/x.py", "content": "print('hi')\n"}
    read = {"file_path": "/tmp/x.py"}
    prompt = f"Do it. [[tool: Write {json.dumps(write)}]] then [[tool: Read {json.dumps(read)}]]"
    messages = [{"role": "user", "content": prompt}]
    tools = [WRITE_TOOL, READ_TOOL]

    with client.messages.stream(model="m", max_tokens=500, messages=messages, tools=tools) as stream:
        partial = [e.delta.partial_json for e in stream if e.type == "content_block_delta"]
        first = stream.get_final_message()
    assert first.stop_reason == "tool_use"
    assert [(b.type, b.name, b.input) for b in first.content] == [("tool_use", "Write", write)]
    assert json.loads("".join(partial)) == write and len(partial) > 1
    tool_id = first.content[0].id
    assert tool_id.startswith("toolu_")

    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": "written"}]},
    ]
    second = client.messages.create(model="m", max_tokens=500, messages=messages, tools=tools)
    assert [(b.type, b.name, b.input) for b in second.content] == [("tool_use", "Read", read)]

    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in second.content]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": second.content[0].id, "content": "no such file", "is_error": True},
        ]},
    ]
    closing = client.messages.create(model="m", max_tokens=500, messages=messages, tools=tools)
    assert closing.stop_reason == "end_turn"
    assert closing.content[0].text == "Done: Write succeeded; Read failed."


def test_a_reply_next_to_tool_directives_is_the_closing_text(client):
    prompt = '[[tool: Write {"file_path": "a", "content": ""}]] [[reply: All written.]]'
    first = client.messages.create(**ask(prompt, tools=[WRITE_TOOL]))
    messages = [
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": [first.content[0].model_dump(exclude_none=True)]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": first.content[0].id, "content": "ok"}]},
    ]
    assert client.messages.create(model="m", max_tokens=50, messages=messages, tools=[WRITE_TOOL]).content[0].text == (
        "All written."
    )


def test_a_tool_the_request_does_not_offer_is_not_called(client):
    message = client.messages.create(**ask('[[tool: Bash {"command": "ls"}]]', tools=[WRITE_TOOL]))
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text" and "Bash" in message.content[0].text


def test_a_malformed_tool_directive_is_a_400_that_says_why(client):
    with pytest.raises(anthropic.BadRequestError, match="needs a JSON object input"):
        client.messages.create(**ask("[[tool: Write {not json}]]", tools=[WRITE_TOOL]))


def test_max_tokens_and_stop_sequences_cut_the_text_as_the_api_does(client):
    cut = client.messages.create(**{**ask("[[reply: one two three four five]]"), "max_tokens": 3})
    assert (cut.content[0].text, cut.stop_reason, cut.usage.output_tokens) == ("one two three ", "max_tokens", 3)
    stopped = client.messages.create(**ask("[[reply: one two STOP three]]", stop_sequences=["STOP", "three"]))
    assert (stopped.content[0].text, stopped.stop_reason, stopped.stop_sequence) == ("one two ", "stop_sequence", "STOP")


def test_extended_thinking_streams_a_signed_thinking_block_first(client):
    request = ask("[[reply: The answer.]]", thinking={"type": "enabled", "budget_tokens": 1024})
    kinds = set()
    with client.messages.stream(**request) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                kinds.add(event.delta.type)
        message = stream.get_final_message()
    assert {"thinking_delta", "signature_delta", "text_delta"} <= kinds
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature
    assert text.text == "The answer."


def test_prompt_caching_writes_a_marked_prefix_once_then_reads_it(client):
    system = [
        {"type": "text", "text": "You are a careful reviewer. " * 40, "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Be brief."},
    ]
    prefix_tokens = count_tokens(system[0]["text"])
    request = {**ask("Review A."), "system": system}

    first = client.messages.create(**request).usage
    assert first.cache_creation_input_tokens == prefix_tokens
    assert first.cache_creation.ephemeral_5m_input_tokens == prefix_tokens
    assert first.cache_read_input_tokens == 0
    assert first.input_tokens == count_tokens("Be brief.") + count_tokens("Review A.")

    with client.messages.stream(**{**request, "messages": [{"role": "user", "content": "Review B."}]}) as stream:
        second = stream.get_final_message().usage
    assert second.cache_read_input_tokens == prefix_tokens
    assert second.cache_creation_input_tokens == 0
    assert second.input_tokens == count_tokens("Be brief.") + count_tokens("Review B.")

    other = {**request, "system": [{**system[0], "text": "Another prefix. " * 40}, system[1]]}
    assert client.messages.create(**other).usage.cache_creation_input_tokens > 0


def test_a_cache_marker_on_a_message_caches_the_conversation_so_far(client):
    turn = {"role": "user", "content": [
        {"type": "text", "text": "Long shared context. " * 30, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    ]}
    first = client.messages.create(model="m", max_tokens=20, messages=[turn]).usage
    assert first.cache_creation.ephemeral_1h_input_tokens == count_tokens("Long shared context. " * 30)
    follow_up = [turn, {"role": "assistant", "content": "Noted."}, {"role": "user", "content": "Now answer."}]
    again = client.messages.create(model="m", max_tokens=20, messages=follow_up).usage
    assert again.cache_read_input_tokens == first.cache_creation_input_tokens
    assert again.input_tokens == count_tokens("Noted.") + count_tokens("Now answer.")


def test_count_tokens_matches_the_usage_of_the_same_request(client):
    request = {"model": "m", "messages": [{"role": "user", "content": "How many tokens is this?"}], "system": "Be exact."}
    counted = client.messages.count_tokens(**request).input_tokens
    assert counted == client.messages.create(**request, max_tokens=5).usage.input_tokens == count_tokens(
        "Be exact."
    ) + count_tokens("How many tokens is this?")


def test_claude_code_style_requests_are_accepted(client):
    """Block content, several cached system blocks and a mid-conversation system message, as the CLI sends."""
    request = {
        "model": "claude-opus-test",
        "max_tokens": 128000,
        "stream": True,
        "system": [{"type": "text", "text": "billing header"}, {"type": "text", "text": "You are an agent.",
                                                                  "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"},
                                         {"type": "text", "text": "[[reply: ok then]]"}]},
            {"role": "system", "content": [{"type": "text", "text": "# Environment"}]},
        ],
        "tools": [WRITE_TOOL, READ_TOOL],
        "thinking": {"type": "adaptive", "display": "omitted"},
        "context_management": {"edits": []},
        "metadata": {"user_id": "u"},
    }
    raw = httpx2.post(str(client.base_url).rstrip("/") + "/v1/messages?beta=true", json=request, headers=HEADERS)
    assert raw.status_code == 200
    text = "".join(d["delta"]["text"] for n, d in sse_events(raw.content) if n == "content_block_delta")
    assert text == "ok then"
