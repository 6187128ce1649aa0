"""Reading one agent turn: server frames in, :class:`~mac_core.Event` objects out, a ``result`` at the end.

How SDKMessages become events (``agent-ws-protocol.md`` lists the kinds):

======================================  ==========================================================
frame / SDKMessage                      event(s)
======================================  ==========================================================
``assistant`` text / thinking blocks    ``text`` / ``thinking`` (skipped if already streamed)
``assistant`` tool_use blocks           ``tool_use`` with ``{"id", "name", "input"}``
``assistant`` usage                     ``usage``: the turn's running total over its messages
``user`` tool_result blocks             ``tool_result`` with the block
``stream_event`` text/thinking deltas   ``text`` / ``thinking``
``tool_progress``                       ``tool_progress`` with the message
``result``                              ends the turn (no event)
anything else (``system``, sub-agents)  ``agent_message`` with the message
``info`` frame                          ``info`` with the line (and a debug log line); never an error
``error`` frame                         :class:`~mac_core.TransportError`
======================================  ==========================================================
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mac_core import Completion, Event, TransportError, Usage

log = logging.getLogger("mac_plugins.agent_ws")


class TurnReader:
    """Feeds one turn's frames to ``emit``; :attr:`result` holds the ``result`` message once it came.

    :ivar agent_up: an SDKMessage of this turn arrived, so the agent is running
        and will honour an interrupt.
    """

    def __init__(self, emit) -> None:
        self.emit = emit
        self.agent_up = False
        self.result: dict[str, Any] | None = None
        self.session_id: str | None = None
        self._usage: dict[str, Usage] = {}
        self._streamed = False  # text deltas arrived for the message now being generated
        self._block_started = False  # the current text block has emitted text already
        self._wrote_text = False

    def feed(self, raw: str | bytes) -> bool:
        """Handle one frame; return True once the turn's ``result`` arrived."""
        try:
            frame = json.loads(raw)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            preview = raw[:80] if isinstance(raw, str) else f"{len(raw)} bytes of binary"
            raise TransportError(
                f"the agent server sent a frame that is not a JSON object ({preview!r}): is this an agent server?",
                error_type="protocol_error",
            )
        kind = frame.get("type")
        if kind == "sdk_message" and isinstance(frame.get("data"), dict):
            return self._message(frame["data"])
        if kind == "info":
            line = str(frame.get("data", ""))
            log.debug("agent: %s", line)
            self.emit(Event("info", text=line))
        elif kind == "error":
            raise TransportError(f"the agent server reported an error: {frame.get('error')}", error_type="agent_error")
        else:  # ``connected`` after a reconnect, or a kind from a newer server
            log.debug("agent-ws: ignoring a %r frame", kind)
        return False

    def completion(self) -> Completion:
        """The task's :class:`~mac_core.Completion` from the ``result``; an error result raises."""
        result = self.result or {}
        subtype = result.get("subtype")
        if subtype != "success" or result.get("is_error"):
            errors = [str(e) for e in result.get("errors") or () if e] or [str(result.get("result") or "no details")]
            raise TransportError(f"the agent's turn ended in {subtype}: {'; '.join(errors)}", error_type=subtype)
        usage = result.get("usage")
        cost = result.get("total_cost_usd")
        return Completion(
            text=str(result["result"]) if result.get("result") else None,  # None: the streamed text
            usage=Usage.from_api(usage) if isinstance(usage, dict) else None,
            stop_reason=result.get("stop_reason"),
            cost_usd=float(cost) if isinstance(cost, (int, float)) else None,
        )

    def _message(self, message: dict[str, Any]) -> bool:
        self.agent_up = True
        kind = message.get("type")
        if kind == "result":
            self.result = message
            log.debug("agent turn ended: %s (session %s)", message.get("subtype"), message.get("session_id"))
            return True
        if kind == "system" and message.get("subtype") == "init":
            self.session_id = message.get("session_id")
            log.debug("agent up: model %s in %s", message.get("model"), message.get("cwd"))
        body = message.get("message")
        if message.get("parent_tool_use_id"):  # a sub-agent's inner steps: reported, not the answer
            handled = False
        elif kind == "assistant" and isinstance(body, dict):
            handled = self._assistant(body)
        elif kind == "user" and isinstance(body, dict):
            handled = self._tool_results(body)
        elif kind == "stream_event":
            handled = self._delta(message.get("event"))
        elif kind == "tool_progress":
            self.emit(Event("tool_progress", data=message))
            handled = True
        else:
            handled = False
        if not handled:
            self.emit(Event("agent_message", data=message))
        return False

    def _text(self, kind: str, text: str) -> None:
        if kind == "text":
            if not self._block_started and self._wrote_text:
                text = "\n\n" + text  # separate the agent's successive messages
            self._block_started = self._wrote_text = True
        self.emit(Event(kind, text=text))

    def _assistant(self, body: dict[str, Any]) -> bool:
        for block in body.get("content") or ():
            if not isinstance(block, dict):
                continue
            if block.get("type") in ("text", "thinking") and not self._streamed:
                kind = block["type"]
                self._block_started = False
                self._text(kind, str(block.get(kind, "")))
            elif block.get("type") == "tool_use":
                self.emit(Event("tool_use", data={k: block.get(k) for k in ("id", "name", "input")}))
        self._streamed = self._block_started = False
        usage = body.get("usage")
        if isinstance(usage, dict):
            before = sum(self._usage.values(), Usage())
            self._usage[str(body.get("id"))] = Usage.from_api(usage)  # one API call may span several messages
            total = sum(self._usage.values(), Usage())
            if total != before:
                self.emit(Event("usage", data=total))
        return True

    def _tool_results(self, body: dict[str, Any]) -> bool:
        content = body.get("content")
        blocks = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"] if isinstance(content, list) else []
        for block in blocks:
            self.emit(Event("tool_result", data=block))
        return bool(blocks)

    def _delta(self, event: Any) -> bool:
        if not isinstance(event, dict):
            return False
        if event.get("type") == "content_block_start":
            self._block_started = False
        delta = event.get("delta")
        if event.get("type") != "content_block_delta" or not isinstance(delta, dict):
            return False
        for kind in ("text", "thinking"):
            if delta.get("type") == f"{kind}_delta":
                self._streamed = True
                self._text(kind, str(delta.get(kind, "")))
                return True
        return False
