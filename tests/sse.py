"""Building Messages API responses (JSON and SSE bytes) for tests that mock HTTP."""

from __future__ import annotations

import json
from typing import Any

API = "https://api.anthropic.com/v1/messages"
SSE_HEADERS = {"content-type": "text/event-stream", "request-id": "req_test"}


def sse_event(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def stream_head(input_tokens: int = 10, cache_read: int = 0, cache_write: int = 0) -> bytes:
    message = {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": 1,
            "cache_read_input_tokens": cache_read,
            "cache_creation_input_tokens": cache_write,
        },
    }
    return sse_event({"type": "message_start", "message": message}) + sse_event(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    )


def text_delta(text: str) -> bytes:
    return sse_event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}})


def stream_tail(output_tokens: int = 5, stop_reason: str = "end_turn") -> bytes:
    return (
        sse_event({"type": "content_block_stop", "index": 0})
        + sse_event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            }
        )
        + sse_event({"type": "message_stop"})
    )


def sse_body(chunks: list[str], **usage: int) -> bytes:
    """A whole successful stream answering with ``chunks``."""
    return stream_head(**usage) + b"".join(text_delta(c) for c in chunks) + stream_tail(len(chunks))


def error_event(error_type: str = "overloaded_error", message: str = "Overloaded") -> bytes:
    return sse_event({"type": "error", "error": {"type": error_type, "message": message}})


def message_json(text: str, *, input_tokens: int = 10, output_tokens: int = 5) -> dict[str, Any]:
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def error_json(status: int, error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}
