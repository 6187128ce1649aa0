"""The ``agent-ws`` transport: delegate a task to a tool-enabled agent over WebSocket.

A client of the agent-over-WebSocket protocol spoken by the public
``claude-agent-server``, ``mac agent-server`` and the simulator's scripted agent::

    Coordinator().run(
        [{"prompt": "Fix the bug in app.py", "allowedTools": ["Read", "Edit"]}],
        transport="agent-ws",
        transport_options={"url": "http://127.0.0.1:3000", "token": "..."},
    )

Settings: :mod:`.options`; events and their mapping: :mod:`.turn`; interrupt,
drop and concurrency guarantees: :mod:`.transport`.
"""

from __future__ import annotations

from mac_core import hookimpl

from .options import AgentOptions
from .transport import AgentWSTransport

__all__ = ["AgentOptions", "AgentWSTransport"]


@hookimpl
def mac_register_transports(register):
    """Register ``agent-ws``."""
    register("agent-ws", AgentWSTransport)
