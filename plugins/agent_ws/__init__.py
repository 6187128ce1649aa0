"""The ``agent-ws`` transport: delegate a task to a tool-enabled agent over WebSocket.

A client of the agent-over-WebSocket protocol spoken by the public
``claude-agent-server``, ``mac agent-server`` and the simulator's scripted agent::

    Coordinator().run(
        [{"prompt": "Fix the bug in app.py", "allowedTools": ["Read", "Edit"]}],
        transport="agent-ws",
        transport_options={"url": "http://127.0.0.1:3000", "token": "..."},
    )

``urls`` (a list) instead of ``url`` spreads a fan-out over several servers,
and each task's :attr:`~mac_core.TaskResult.server` names the one that ran it.

Settings: :mod:`.options`; events and their mapping: :mod:`.turn`; interrupt,
drop, configuration and concurrency guarantees: :mod:`.transport`; several
servers: :mod:`.servers`. For users: ``docs/agent-protocol.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mac_core import hookimpl

from .options import AgentOptions

if TYPE_CHECKING:
    from .transport import AgentWSTransport

__all__ = ["AgentOptions", "AgentWSTransport"]


def __getattr__(name: str) -> Any:
    # websockets and httpx2 are imported with the transport, when transports are collected: not by `mac --help`.
    if name == "AgentWSTransport":
        from .transport import AgentWSTransport

        return AgentWSTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def mac_register_transports(register):
    """Register ``agent-ws``."""
    from .transport import AgentWSTransport

    register("agent-ws", AgentWSTransport)
