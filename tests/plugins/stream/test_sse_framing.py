"""The ``stream`` transport reads every SSE framing the standard allows, however the bytes are chunked."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from itertools import pairwise

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mac_plugins.simulator import Simulator
from mac_plugins.stream.sse import consume_stream
from sse import error_event, sse_body, stream_head, text_delta

from mac_core import TransportError

HEADERS = {"x-api-key": "sk-ant-simulated", "anthropic-version": "2023-06-01"}
WRITE_TOOL = {"name": "Write", "description": "Write a file", "input_schema": {"type": "object"}}
ENDINGS = {"LF": "\n", "CRLF": "\r\n", "CR": "\r"}
BOM = "\ufeff"


def ask(text: str, **extra) -> dict:
    return {"model": "claude-test", "max_tokens": 200, "stream": True,
            "messages": [{"role": "user", "content": text}], **extra}


@pytest.fixture(scope="module")
def recorded() -> dict[str, bytes]:
    """Real SSE bodies from the simulator: text with pings, a tool call, thinking, and an error mid-stream."""
    write = {"file_path": "/tmp/ü.py", "content": "print('hi')\n\tdone: {ok}\r\n"}
    requests = {
        "text": (ask("Go on."), {}),
        "tool_use": (ask(f"Do it. [[tool: Write {json.dumps(write)}]]", tools=[WRITE_TOOL]), {}),
        "thinking": (ask("[[reply: The answer: yes.]]", thinking={"type": "enabled", "budget_tokens": 1024}), {}),
        "error": (ask("Go on."), {"x-mac-sim-fault": "midstream"}),
    }
    sim = Simulator(token_delay=0.0, tokens=60).start()
    try:
        return {name: httpx2.post(f"{sim.url}/v1/messages", json=body, headers={**HEADERS, **extra}).content
                for name, (body, extra) in requests.items()}
    finally:
        sim.stop()


def outcome(chunks: list[bytes]) -> tuple[list[tuple], object]:
    """What the parser makes of ``chunks``: every emitted event, then the Completion or the error raised."""
    events: list = []

    async def chunk_source():
        for chunk in chunks:
            yield chunk

    async def parse() -> object:
        try:
            return await consume_stream(chunk_source(), events.append, "req_framing")
        except TransportError as exc:
            return ("TransportError", str(exc), exc.error_type)

    ended = asyncio.run(parse())
    return [(event.type, event.text, event.data) for event in events], ended


def reframe(body: bytes, draw: Callable, ending: str, bom: bool) -> bytes:
    """``body`` written another way the SSE standard reads the same: fields reordered, extra fields,
    comments, data split over several lines, one optional space, ``ending`` line endings, an optional BOM."""
    lines: list[str] = []
    for block in body.decode().split("\n\n"):
        if not block:
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        extras = [f"event: {fields['event']}", "id: 42", "id", "retry: 3000", ": a comment", ":", "eventual: x"]
        before = draw(st.lists(st.sampled_from(extras), max_size=3))
        after = draw(st.lists(st.sampled_from(extras), max_size=3))
        # JSON may break over data lines (joined by LF) only where it allows whitespace: indent=1 puts it there.
        pieces = json.dumps(json.loads(fields["data"]), indent=1, ensure_ascii=draw(st.booleans())).split("\n")
        breaks = draw(st.lists(st.booleans(), min_size=len(pieces) - 1, max_size=len(pieces) - 1))
        data_lines, current = [], pieces[0]
        for piece, new_line in zip(pieces[1:], breaks, strict=True):
            if new_line:
                data_lines.append(current)
                current = piece
            else:
                current += piece.lstrip(" ")
        data_lines.append(current)
        space = draw(st.sampled_from(["", " "]))
        data = [f"data:{space}{line}" if line else "data" for line in data_lines]
        if draw(st.booleans()):
            data.insert(draw(st.integers(0, len(data))), "data")  # an empty data line adds only a LF
        lines += before + data + after + [""]
        if draw(st.booleans()):
            lines += [": keep-alive", ""]
    return ((BOM if bom else "") + ending.join(lines) + ending).encode()


def cut(body: bytes, offsets: list[int]) -> list[bytes]:
    """``body`` split at ``offsets`` (anywhere: inside a CRLF, the BOM or a UTF-8 character)."""
    bounds = [0, *sorted(set(offsets)), len(body)]
    return [body[start:end] for start, end in pairwise(bounds)]


@pytest.mark.parametrize("name", ["text", "tool_use", "thinking", "error"])
@settings(max_examples=60, deadline=None)
@given(data=st.data(), ending=st.sampled_from(sorted(ENDINGS)), bom=st.booleans())
def test_every_framing_and_chunking_of_a_recorded_stream_yields_the_same_events(recorded, name, data, ending, bom):
    body = recorded[name]
    expected = outcome([body])
    assert expected[0], "the recorded stream has events"
    framed = reframe(body, data.draw, ENDINGS[ending], bom)
    offsets = data.draw(st.lists(st.integers(0, len(framed)), max_size=40))
    assert outcome(cut(framed, offsets)) == expected


def test_the_recorded_streams_cover_text_tools_thinking_pings_and_errors(recorded):
    kinds = {name: {event[0] for event in outcome([body])[0]} for name, body in recorded.items()}
    assert {"text", "ping", "message_stop"} <= kinds["text"]
    assert "tool_use" in kinds["tool_use"]
    assert "thinking" in kinds["thinking"]
    assert outcome([recorded["error"]])[1][2] == "overloaded_error"


BODY = sse_body(["Hello", ", world"])
EXPECTED = outcome([BODY])


def test_an_id_field_after_data_is_read_as_its_own_field():
    assert outcome([BODY.replace(b"\n\n", b"\nid: 7\n\n")]) == EXPECTED


def test_an_event_field_after_data_is_read_as_its_own_field():
    moved = b"".join(
        b"data:" + block.split(b"\ndata:", 1)[1] + b"\n" + block.split(b"\n", 1)[0] + b"\n\n"
        for block in BODY.split(b"\n\n") if block
    )
    assert outcome([moved]) == EXPECTED


def test_cr_only_line_endings_are_read():
    assert outcome([BODY.replace(b"\n", b"\r")]) == EXPECTED


def test_a_crlf_cut_between_its_cr_and_lf_is_one_line_ending():
    crlf = BODY.replace(b"\n", b"\r\n")
    cuts = [index + 1 for index in range(len(crlf)) if crlf[index : index + 1] == b"\r"]
    assert outcome(cut(crlf, cuts)) == EXPECTED


def test_cr_only_events_are_emitted_as_soon_as_their_chunk_arrives():
    emitted_when_asked_for_more: list[int] = []
    events: list = []

    async def one_event_per_chunk():
        for block in BODY.replace(b"\n", b"\r").split(b"\r\r")[:-1]:
            yield block + b"\r\r"
            emitted_when_asked_for_more.append(len(events))

    asyncio.run(consume_stream(one_event_per_chunk(), events.append, None))
    # message_start brings message_start and usage, content_block_start nothing, each delta its text
    assert emitted_when_asked_for_more[:4] == [2, 2, 3, 4]


def test_a_leading_bom_is_skipped_even_when_split_across_chunks():
    with_bom = b"\xef\xbb\xbf" + BODY
    assert outcome([with_bom]) == EXPECTED
    assert outcome([with_bom[:1], with_bom[1:2], with_bom[2:4], with_bom[4:]]) == EXPECTED


def test_comment_lines_anywhere_in_an_event_are_ignored():
    commented = b": hello\n" + BODY.replace(b"\n\n", b"\n: data: {not json}\n\n")
    assert outcome([commented]) == EXPECTED


def test_a_retry_field_is_ignored():
    assert outcome([BODY.replace(b"event:", b"retry: 1000\nevent:").replace(b"\n\n", b"\nretry: 5\n\n")]) == EXPECTED


def test_data_over_several_lines_joins_with_line_feeds():
    delta = b'data: {"type": "content_block_delta", "index": 0,\ndata: "delta": {"type": "text_delta",\ndata:"text": "!"}}\n\n'
    events, _ = outcome([BODY.replace(b"event: content_block_stop", delta + b"event: content_block_stop")])
    assert [text for kind, text, _ in events if kind == "text"] == ["Hello", ", world", "!"]


def test_an_event_with_empty_data_is_skipped_like_a_keep_alive():
    assert outcome([b"data:\n\ndata\n\n" + BODY]) == EXPECTED


def test_a_data_line_that_is_not_json_is_still_a_malformed_event():
    _, ended = outcome([BODY.replace(b"\n\n", b"\ndata: oops\n\n", 1)])
    assert ended[0] == "TransportError" and ended[2] == "malformed_event"


def test_an_error_event_after_reframing_still_ends_the_stream_with_its_type():
    _, ended = outcome([(stream_head() + text_delta("Hi") + error_event()).replace(b"\n", b"\r")])
    assert ended[2] == "overloaded_error"
