"""Scripting a lead: directives inside a tool directive's JSON are the worker's, [[thinking: ...]], {{tool_results}}."""

from __future__ import annotations

import json

import anthropic
import pytest
from mac_plugins.simulator.script import parse_script

SPAWN_TOOL = {"name": "spawn_agents", "input_schema": {"type": "object"}}
WORKERS = {"tasks": [{"name": "a", "prompt": 'Go. [[reply: from a]] [[tool: Read {"path": "x"}]]'}]}
LEAD = f"Lead. [[tool: spawn_agents {json.dumps(WORKERS)}]] [[reply: Summary: {{{{tool_results}}}}]]"


def test_a_workers_script_inside_the_json_is_not_the_leads():
    script = parse_script(LEAD)
    assert [[(call.name, call.input) for call in step] for step in script.steps] == [
        [("spawn_agents", WORKERS)]
    ]
    assert script.reply == "Summary: {{tool_results}}"
    worker = parse_script(WORKERS["tasks"][0]["prompt"])  # what the worker's own request reads
    assert worker.reply == "from a" and [call.name for call in worker.tools] == ["Read"]


def test_the_lead_calls_spawn_agents_then_answers_with_the_tool_results_text(client):
    ask = {"model": "m", "max_tokens": 500, "tools": [SPAWN_TOOL]}
    first = client.messages.create(**ask, messages=[{"role": "user", "content": LEAD}])
    (block,) = first.content
    assert first.stop_reason == "tool_use" and block.name == "spawn_agents" and block.input == WORKERS
    results = [{"type": "tool_result", "tool_use_id": block.id, "content": '{"a": "found it"}'}]
    messages = [
        {"role": "user", "content": LEAD},
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": results},
    ]
    closing = client.messages.create(**ask, messages=messages)
    assert closing.content[0].text == 'Summary: {"a": "found it"}' and closing.stop_reason == "end_turn"


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_is_scripted_when_the_request_turns_it_on_and_absent_otherwise(client, stream):
    prompt = "Think. [[thinking: first this, then that]] [[reply: done]]"
    ask = {"model": "m", "max_tokens": 2048, "messages": [{"role": "user", "content": prompt}]}
    on = {**ask, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    if stream:
        with client.messages.stream(**on) as answer:
            message = answer.get_final_message()
    else:
        message = client.messages.create(**on)
    assert [(b.type, getattr(b, "thinking", None) or getattr(b, "text", None)) for b in message.content] == [
        ("thinking", "first this, then that"),
        ("text", "done"),
    ]
    assert [b.type for b in client.messages.create(**ask).content] == ["text"]


def test_a_malformed_spawn_directive_is_a_400_naming_it(client):
    with pytest.raises(
        anthropic.BadRequestError, match=r"\[\[tool: spawn_agents ...\]\] needs a JSON object"
    ):
        client.messages.create(
            model="m",
            max_tokens=100,
            tools=[SPAWN_TOOL],
            messages=[{"role": "user", "content": "[[tool: spawn_agents {tasks: 1}]]"}],
        )
