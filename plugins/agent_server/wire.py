"""The frames of the protocol, and the SDK's typed messages turned back into SDKMessage JSON.

claude-agent-sdk parses the CLI's stream into dataclasses; the protocol
speaks the TypeScript SDK's ``SDKMessage`` JSON. The mapping is one to one
except where the Python SDK drops information (listed in :func:`sdk_message`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from claude_agent_sdk import (
    AssistantMessage,
    ResultMessage,
    StreamEvent,
    SystemMessage,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)
from claude_agent_sdk.types import (
    ConversationResetMessage,
    RateLimitEvent,
    ServerToolResultBlock,
    ServerToolUseBlock,
)


def frame(kind: str, **fields: Any) -> str:
    """One server → client frame as JSON text: ``frame("info", data="...")``."""
    return json.dumps({"type": kind, **fields}, default=str)


def content_block(block: Any) -> dict[str, Any]:
    """One SDK content block as an Anthropic content block."""
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ThinkingBlock):
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if isinstance(block, ToolUseBlock):
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if isinstance(block, ToolResultBlock):
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": block.tool_use_id}
        if block.content is not None:
            result["content"] = block.content
        if block.is_error is not None:
            result["is_error"] = block.is_error
        return result
    if isinstance(block, ServerToolUseBlock):
        return {"type": "server_tool_use", "id": block.id, "name": block.name, "input": block.input}
    if isinstance(block, ServerToolResultBlock):
        # The SDK parses only the advisor's server tool results into this class.
        return {"type": "advisor_tool_result", "tool_use_id": block.tool_use_id, "content": block.content}
    return {"type": type(block).__name__, **dataclasses.asdict(block)}


def sdk_message(message: Any, session_id: str) -> dict[str, Any] | None:
    """The SDKMessage JSON for one SDK message, or ``None`` for a kind the protocol has no shape for.

    :param session_id: the session id to use where the SDK's dataclass has
        none (``UserMessage`` carries no ``session_id``).

    GAPS against the TypeScript SDKMessage, all from the Python SDK's parser:
    ``tool_progress``, ``auth_status`` and other message kinds it does not
    know are dropped before they reach us (the server synthesises
    ``tool_progress`` from hooks instead); the assistant message loses
    ``stop_sequence`` and ``container``; server tool results other than the
    advisor's are dropped from assistant content.
    """
    if isinstance(message, SystemMessage):
        data = dict(message.data)
        data.setdefault("type", "system")
        data.setdefault("subtype", message.subtype)
        data.setdefault("session_id", session_id)
        return data
    if isinstance(message, AssistantMessage):
        body: dict[str, Any] = {
            "id": message.message_id,
            "type": "message",
            "role": "assistant",
            "model": message.model,
            "content": [content_block(b) for b in message.content],
            "stop_reason": message.stop_reason,
            "usage": message.usage or {},
        }
        out = {
            "type": "assistant",
            "message": body,
            "parent_tool_use_id": message.parent_tool_use_id,
            "session_id": message.session_id or session_id,
            "uuid": message.uuid,
        }
        if message.error is not None:
            out["error"] = message.error
        return out
    if isinstance(message, UserMessage):
        content = (
            message.content
            if isinstance(message.content, str)
            else [content_block(b) for b in message.content]
        )
        out = {
            "type": "user",
            "message": {"role": "user", "content": content},
            "parent_tool_use_id": message.parent_tool_use_id,
            "session_id": session_id,
            "uuid": message.uuid,
        }
        if message.tool_use_result is not None:
            out["tool_use_result"] = message.tool_use_result
        return out
    if isinstance(message, ResultMessage):
        return _result(message)
    if isinstance(message, StreamEvent):
        return {
            "type": "stream_event",
            "event": message.event,
            "parent_tool_use_id": message.parent_tool_use_id,
            "session_id": message.session_id,
            "uuid": message.uuid,
        }
    if isinstance(message, RateLimitEvent):
        return {
            "type": "rate_limit_event",
            "rate_limit_info": message.rate_limit_info.raw,
            "session_id": message.session_id,
            "uuid": message.uuid,
        }
    if isinstance(message, ConversationResetMessage):
        return {
            "type": "conversation_reset",
            "new_conversation_id": message.new_conversation_id,
            "session_id": message.session_id,
            "uuid": message.uuid,
        }
    return None


def _result(message: ResultMessage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "result",
        "subtype": message.subtype,
        "is_error": message.is_error,
        "num_turns": message.num_turns,
        "duration_ms": message.duration_ms,
        "duration_api_ms": message.duration_api_ms,
        "total_cost_usd": message.total_cost_usd,
        "usage": message.usage or {},
        "permission_denials": message.permission_denials or [],
        "session_id": message.session_id,
        "uuid": message.uuid,
    }
    if message.result is not None:
        out["result"] = message.result
    if message.errors is not None or message.subtype != "success":
        out["errors"] = message.errors or []
    optional = {
        "stop_reason": message.stop_reason,
        "modelUsage": message.model_usage,
        "structured_output": message.structured_output,
        "terminal_reason": message.terminal_reason,
        "api_error_status": message.api_error_status,
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


def tool_progress(
    tool_use_id: str, tool_name: str, elapsed: float, session_id: str, uuid: str
) -> dict[str, Any]:
    """A ``tool_progress`` SDKMessage for a tool that has been running ``elapsed`` seconds."""
    return {
        "type": "tool_progress",
        "tool_use_id": tool_use_id,
        "tool_name": tool_name,
        "parent_tool_use_id": None,
        "elapsed_time_seconds": int(elapsed),
        "session_id": session_id,
        "uuid": uuid,
    }
