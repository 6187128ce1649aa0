"""Events: what a transport reports while a task runs.

One small class for every kind, so the per-event path stays cheap: a
transport builds an :class:`Event` per streamed item and hands it to the
engine, which passes it to the progress hooks and the interrupt policies.
"""

from __future__ import annotations

from typing import Any

TEXT = "text"  #: a chunk of generated text, in ``event.text``
THINKING = "thinking"  #: a chunk of extended thinking, in ``event.text``
MESSAGE_START = "message_start"  #: a model message began; ``data`` is the raw event
TOOL_USE = "tool_use"  #: the model called a tool; ``data`` is ``{"id", "name", "input"}``
#: the input of a tool call is streaming in (one per ``input_json_delta``, so a long call does not look
#: idle); ``data`` is ``{"id", "name", "chars"}``, ``chars`` the length of its partial JSON so far;
#: the whole call follows as ``tool_use``. Streaming transports only.
TOOL_INPUT = "tool_input"
#: a tool returned (an agent's, or one a tool loop ran: :mod:`mac_core.tool_loop`); ``data`` is the
#: ``tool_result`` block sent back, ``{"type", "tool_use_id", "content", "is_error"}``
TOOL_RESULT = "tool_result"
TOOL_PROGRESS = "tool_progress"  #: an agent's tool is still running; ``data`` is the SDKMessage
#: token counts changed; ``data`` is the task's :class:`~mac_core.Usage` so far, the same as ``task.usage``
#: once the engine took it: in a tool loop, the earlier rounds' usage plus this request's counts so far
USAGE = "usage"
MESSAGE_STOP = "message_stop"  #: a model message ended; ``data`` is ``{"stop_reason": ...}``
AGENT_MESSAGE = "agent_message"  #: any other agent SDKMessage; ``data`` is the message
INFO = "info"  #: a log line from the far side (agent stderr); ``text`` is the line
PROGRESS = "progress"  #: a long job moved (batch request counts); ``data`` is a dict
PING = "ping"  #: a keep-alive

EVENT_TYPES = (
    TEXT,
    THINKING,
    MESSAGE_START,
    TOOL_USE,
    TOOL_INPUT,
    TOOL_RESULT,
    TOOL_PROGRESS,
    USAGE,
    MESSAGE_STOP,
    AGENT_MESSAGE,
    INFO,
    PROGRESS,
    PING,
)


class Event:
    """One thing that happened in a running task.

    :ivar type: one of :data:`EVENT_TYPES`.
    :ivar text: the text chunk for ``text`` and ``thinking`` events, else ``""``.
    :ivar data: the payload of other events (see the constants above).
    """

    __slots__ = ("type", "text", "data")

    def __init__(self, type: str, text: str = "", data: Any = None) -> None:
        self.type = type
        self.text = text
        self.data = data

    def __repr__(self) -> str:
        if self.type in (TEXT, THINKING, INFO):
            return f"Event({self.type!r}, text={self.text!r})"
        return f"Event({self.type!r}, data={self.data!r})"
