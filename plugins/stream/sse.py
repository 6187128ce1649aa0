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
from mac_core.events import MESSAGE_START, MESSAGE_STOP, PING, TEXT, THINKING, TOOL_USE, USAGE
from mac_core.transport import Emit

try:  # optional: a faster JSON parser when installed
    from orjson import loads
except ImportError:  # pragma: no cover - depends on the environment
    loads = json.loads


def _data_of(block: bytes) -> bytes | None:
    """The data field of one SSE event block, or None for comments and keep-alives."""
    start = block.find(b"data:")
    if start < 0:
        return None
    if block.find(b"\ndata:", start + 5) < 0:  # the usual case: a single data line
        return block[start + 5 :]
    lines = [line[5:].removeprefix(b" ") for line in block.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines)


async def consume_stream(chunks: AsyncIterator[bytes], emit: Emit, request_id: str | None) -> Completion:
    """Parse SSE bytes, emit an :class:`Event` per model event, return the :class:`Completion`.

    Raises :class:`TransportError` on an ``error`` event or a stream that ends
    before ``message_stop``; the text already emitted stays with the task.
    """
    pending = b""
    usage = Usage()
    stop_reason = None
    tools: dict[int, dict[str, Any]] = {}
    finished = False
    async for chunk in chunks:
        if pending:
            chunk = pending + chunk
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        blocks = chunk.split(b"\n\n")
        pending = blocks.pop()
        for block in blocks:
            raw = _data_of(block)
            if raw is None:
                continue
            try:
                data = loads(raw)
                kind = data["type"]
            except (ValueError, TypeError, KeyError):  # not JSON, or not an event object
                raise TransportError(
                    f"malformed event from the server: {bytes(raw[:80])!r}", error_type="malformed_event", request_id=request_id
                ) from None
            if kind == "content_block_delta":
                delta = data["delta"]
                delta_kind = delta["type"]
                if delta_kind == "text_delta":
                    emit(Event(TEXT, delta["text"]))
                elif delta_kind == "input_json_delta":
                    tool = tools.get(data["index"])
                    if tool is not None:
                        tool["json"].append(delta["partial_json"])
                elif delta_kind == "thinking_delta":
                    emit(Event(THINKING, delta["thinking"]))
            elif kind == "ping":
                emit(Event(PING))
            elif kind == "content_block_start":
                block_data = data["content_block"]
                if block_data.get("type") == "tool_use":
                    tools[data["index"]] = {"id": block_data.get("id"), "name": block_data.get("name"), "json": []}
            elif kind == "content_block_stop":
                tool = tools.pop(data.get("index"), None)
                if tool is not None:
                    text = "".join(tool["json"])
                    try:
                        arguments = json.loads(text) if text else {}
                    except ValueError:
                        raise TransportError(f"malformed tool input for {tool['name']}: {text[:80]!r}") from None
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
