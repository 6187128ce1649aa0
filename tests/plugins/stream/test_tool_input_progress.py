"""A tool call's input streaming in is progress (``tool_input`` events), so a long call never looks stalled."""

from __future__ import annotations

import asyncio
import json

import pytest
from mac_plugins.policies import Stall
from mac_plugins.stream.sse import consume_stream
from sse import sse_event, stream_head, stream_tail, text_delta

from mac_core import Coordinator, hookimpl, tool
from mac_core.events import EVENT_TYPES, TEXT, TOOL_INPUT, TOOL_USE

LONG_NOTE = " ".join(f"word{n}" for n in range(40))  # 40 streamed chunks of tool input


@tool
def note(text: str) -> str:
    """Keep a note.

    :param text: what to keep.
    """
    return f"kept {len(text)} characters"


class Seen:
    """Records every event a hook sees."""

    def __init__(self) -> None:
        self.events: list = []

    @hookimpl
    def mac_task_event(self, task, event):
        self.events.append(event)


def test_tool_input_is_a_documented_event_kind():
    assert TOOL_INPUT == "tool_input" and TOOL_INPUT in EVENT_TYPES


def test_each_input_json_delta_is_a_tool_input_event_with_the_partial_jsons_length_and_text_pays_nothing():
    pieces = ['{"path": ', '"a.py", "body": ', '"x"}']
    tool_block = {"type": "tool_use", "id": "toolu_1", "name": "Write", "input": {}}
    body = (
        stream_head()
        + text_delta("Writing.")
        + sse_event({"type": "content_block_stop", "index": 0})
        + sse_event({"type": "content_block_start", "index": 1, "content_block": tool_block})
        + b"".join(
            sse_event(
                {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": p},
                }
            )
            for p in pieces
        )
        + stream_tail(stop_reason="tool_use").replace(b'"index": 0', b'"index": 1')
    )
    events: list = []

    async def chunks():
        yield body

    asyncio.run(consume_stream(chunks(), events.append, "req_1"))
    kinds = [event.type for event in events]
    assert kinds.count(TEXT) == 1 and kinds.count(TOOL_INPUT) == len(pieces)
    progress = [event.data for event in events if event.type == TOOL_INPUT]
    lengths = [len("".join(pieces[: n + 1])) for n in range(len(pieces))]
    assert progress == [{"id": "toolu_1", "name": "Write", "chars": n} for n in lengths]
    (call,) = [event.data for event in events if event.type == TOOL_USE]
    assert kinds.index(TOOL_USE) > kinds.index(TOOL_INPUT)  # the whole call follows its progress
    assert call == {"id": "toolu_1", "name": "Write", "input": {"path": "a.py", "body": "x"}}


@pytest.mark.mac_sim(token_delay=0.03)
def test_a_long_tool_call_streaming_for_seconds_does_not_look_stalled(mac_sim):
    stall, seen = Stall(0.4, interrupt=True), Seen()
    prompt = f"Keep it. [[tool: note {json.dumps({'text': LONG_NOTE})}]]"
    (result,) = Coordinator().run(
        [{"prompt": prompt, "tools": [note]}], transport="stream", plugins=[stall, seen]
    )

    assert result.status == "completed", result.interrupt_reason or result.error
    assert stall.stalled == []
    assert result.tool_calls[0]["input"] == {"text": LONG_NOTE}
    progress = [event.data["chars"] for event in seen.events if event.type == TOOL_INPUT]
    assert len(progress) >= 40 and progress == sorted(progress)  # one per chunk, growing: 40 x 0.03 s > 0.4 s
    assert progress[-1] == len(json.dumps({"text": LONG_NOTE}))
