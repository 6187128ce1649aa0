"""``[[tools: A {json} | B {json}]]``: the simulated model asks for several tools in one response."""

from __future__ import annotations

import anthropic
import pytest

WRITE_TOOL = {"name": "Write", "description": "Write a file", "input_schema": {"type": "object"}}
READ_TOOL = {"name": "Read", "description": "Read a file", "input_schema": {"type": "object"}}
PARALLEL = '[[tools: Write {"file_path": "a", "content": "x | y"} | Read {"file_path": "b"}]] [[tool: Read {"file_path": "c"}]]'


def ask(text: str, messages: list | None = None) -> dict:
    return {"model": "m", "max_tokens": 500, "tools": [WRITE_TOOL, READ_TOOL],
            "messages": messages or [{"role": "user", "content": text}]}


@pytest.mark.parametrize("stream", [False, True])
def test_one_response_carries_a_tool_use_block_per_call_then_the_next_directive_follows(client, stream):
    if stream:
        with client.messages.stream(**ask(PARALLEL)) as answer:
            first = answer.get_final_message()
    else:
        first = client.messages.create(**ask(PARALLEL))
    assert first.stop_reason == "tool_use"
    assert [(b.type, b.name, b.input) for b in first.content] == [
        ("tool_use", "Write", {"file_path": "a", "content": "x | y"}),
        ("tool_use", "Read", {"file_path": "b"}),
    ]
    assert first.content[0].id != first.content[1].id
    results = [{"type": "tool_result", "tool_use_id": block.id, "content": "ok", "is_error": index == 1}
               for index, block in enumerate(first.content)]
    messages = [{"role": "user", "content": PARALLEL}, {"role": "assistant", "content": first.content},
                {"role": "user", "content": results}]
    second = client.messages.create(**ask("", messages))
    assert [(b.name, b.input) for b in second.content] == [("Read", {"file_path": "c"})]
    closing_results = [{"type": "tool_result", "tool_use_id": second.content[0].id, "content": "ok"}]
    closing = client.messages.create(**ask("", [*messages, {"role": "assistant", "content": second.content},
                                                {"role": "user", "content": closing_results}]))
    assert closing.content[0].text == "Done: Write succeeded; Read failed; Read succeeded."


def test_a_tools_directive_without_a_closing_or_a_name_after_a_bar_is_a_400(client):
    for bad in ('[[tools: Write {} | ]]', '[[tools: Write {} Read {}]]'):
        with pytest.raises(anthropic.BadRequestError, match="simulator script"):
            client.messages.create(**ask(bad))
