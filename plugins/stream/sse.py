"""Reading a Messages API event stream straight off the socket.

The SDK's stream helpers build a pydantic object per event; this parser does
one ``json.loads`` per event and nothing else, which is what keeps the
per-event cost near the bare-HTTP floor (see docs/benchmarks.md).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from mac_core import Completion, Event, TransportError, Usage
from mac_core.events import MESSAGE_START, MESSAGE_STOP, PING, TEXT, THINKING, TOOL_INPUT, TOOL_USE, USAGE
from mac_core.transport import Emit

try:  # optional: a faster JSON parser when installed
    from orjson import loads
except ImportError:  # pragma: no cover - depends on the environment
    loads = json.loads


BOM = b"\xef\xbb\xbf"  # stripped once at the start of a stream, as the SSE standard says


def _data_of(block: bytes) -> bytes | None:
    """The joined ``data`` lines of one event block (LF line endings, no blank line), or None if it has none.

    Follows the SSE standard's line rules: ``:`` starts a comment, one space
    after a field's colon is dropped, a line without a colon is a field with
    an empty value, and ``data`` lines join with LF. Other fields (``event``,
    ``id``, ``retry``) mean nothing here: the JSON's ``type`` names the event.
    """
    values = []
    for line in block.split(b"\n"):
        if line.startswith(b"data"):  # also the comments and other fields skipped below
            name, _, value = line.partition(b":")
            if name == b"data":
                values.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(values) if values else None


async def consume_stream(chunks: AsyncIterator[bytes], emit: Emit, request_id: str | None) -> Completion:
    """Parse SSE bytes, emit an :class:`Event` per model event, return the :class:`Completion`.

    Reads any framing the SSE standard allows (LF, CRLF or CR line endings,
    a leading BOM, comments, ``id``/``retry``/``event`` fields in any order,
    multi-line ``data``); an event whose data is empty is skipped like a
    keep-alive. Raises :class:`TransportError` on an ``error`` event or a
    stream that ends before ``message_stop``; the text already emitted stays
    with the task.
    """
    pending = b""  # the unfinished event block, LF line endings only
    at_start = True  # a BOM may still come (possibly split across chunks)
    after_cr = False  # the last chunk ended in CR: an LF opening the next one ends no further line
    usage = Usage()
    stop_reason = None
    tools: dict[int, dict[str, Any]] = {}
    finished = False
    async for chunk in chunks:
        if after_cr and chunk:
            after_cr = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        if pending:
            chunk = pending + chunk
        if at_start:
            if len(chunk) < 3 and BOM.startswith(chunk):  # too short to tell yet
                pending = chunk
                continue
            at_start = False
            if chunk.startswith(BOM):
                chunk = chunk[3:]
        if b"\r" in chunk:
            after_cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")  # every line ending becomes LF
        blocks = chunk.split(b"\n\n")
        pending = blocks.pop()
        for block in blocks:
            start = block.find(b"data:")
            if start >= 0 and (start == 0 or block[start - 1] == 10) and block.find(b"\n", start) < 0:
                raw = block[start + 5 :]  # the usual case: one data line, the block's last
            else:
                raw = _data_of(block)
                if raw is None:
                    continue
            try:
                data = loads(raw)
                kind = data["type"]
            except (ValueError, TypeError, KeyError):  # not JSON, or not an event object
                if not raw.strip(b" \t\n"):  # an empty data field carries no event
                    continue
                raise TransportError(
                    f"malformed event from the server: {bytes(raw[:80])!r}",
                    error_type="malformed_event",
                    request_id=request_id,
                ) from None
            if kind == "content_block_delta":
                delta = data["delta"]
                delta_kind = delta["type"]
                if delta_kind == "text_delta":
                    emit(Event(TEXT, delta["text"]))
                elif delta_kind == "input_json_delta":
                    tool = tools.get(data["index"])
                    if tool is not None:
                        partial = delta["partial_json"]
                        tool["json"].append(partial)
                        tool["chars"] += len(partial)
                        # a long call (a lead writing spawn_agents) is progress, not silence, to Stall and reporters
                        emit(
                            Event(
                                TOOL_INPUT,
                                data={"id": tool["id"], "name": tool["name"], "chars": tool["chars"]},
                            )
                        )
                elif delta_kind == "thinking_delta":
                    emit(Event(THINKING, delta["thinking"]))
            elif kind == "ping":
                emit(Event(PING))
            elif kind == "content_block_start":
                block_data = data["content_block"]
                if block_data.get("type") == "tool_use":
                    tools[data["index"]] = {
                        "id": block_data.get("id"),
                        "name": block_data.get("name"),
                        "json": [],
                        "chars": 0,
                    }
            elif kind == "content_block_stop":
                tool = tools.pop(data.get("index"), None)
                if tool is not None:
                    text = "".join(tool["json"])
                    try:
                        arguments = json.loads(text) if text else {}
                    except ValueError:
                        raise TransportError(
                            f"malformed tool input for {tool['name']}: {text[:80]!r}"
                        ) from None
                    emit(Event(TOOL_USE, data={"id": tool["id"], "name": tool["name"], "input": arguments}))
            elif kind == "message_start":
                usage = Usage.from_api(data["message"].get("usage"))
                emit(Event(MESSAGE_START, data=data))
                emit(Event(USAGE, data=usage))
            elif kind == "message_delta":
                stop_reason = (data.get("delta") or {}).get("stop_reason")
                reported = data.get("usage")
                if reported:
                    # message_delta's counts are cumulative; fields it omits keep their start values.
                    usage = Usage(
                        input_tokens=reported.get("input_tokens") or usage.input_tokens,
                        output_tokens=reported.get("output_tokens") or usage.output_tokens,
                        cache_read_input_tokens=reported.get("cache_read_input_tokens")
                        or usage.cache_read_input_tokens,
                        cache_creation_input_tokens=reported.get("cache_creation_input_tokens")
                        or usage.cache_creation_input_tokens,
                    )
                    emit(Event(USAGE, data=usage))
            elif kind == "message_stop":
                finished = True
                emit(Event(MESSAGE_STOP, data={"stop_reason": stop_reason}))
            elif kind == "error":
                error = data.get("error") or {}
                message = f"stream error {error.get('type', 'error')}: {error.get('message', '')}"
                if request_id:
                    message += f" (request id {request_id})"
                raise TransportError(message, error_type=error.get("type"), request_id=request_id)
    if not finished:
        raise TransportError(
            "the stream ended before message_stop (connection closed mid-stream)"
            + (f" (request id {request_id})" if request_id else ""),
            error_type="incomplete_stream",
            request_id=request_id,
        )
    return Completion(usage=usage, stop_reason=stop_reason, request_id=request_id)
