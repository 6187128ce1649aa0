"""The embedded simulator of the Anthropic API and of the agent protocol, for offline runs, tests and benchmarks.

One loopback server (starlette on uvicorn) speaks:

* the **Messages API**: ``POST /v1/messages`` (also ``?beta=true``, as Claude
  Code sends it), JSON or SSE with every event kind, ``tool_use`` blocks,
  usage with prompt-cache accounting, ``request-id`` headers and the API's
  error bodies; ``POST /v1/messages/count_tokens``;
* **Message Batches**, processed for real in the background;
* the **agent protocol** (``POST/GET /config``, ``/ws``) with a scripted agent
  (:mod:`.agent`).

What the model says is scripted by the prompt (``[[reply: TEXT]]``,
``[[tool: NAME {json}]]``, see :mod:`.script`); faults come from the
``x-mac-sim-fault`` header or at random (:mod:`.faults`). docs/simulator.md
has the user's summary.

Use it in-process::

    from mac_plugins.simulator import Simulator
    with Simulator(tokens=20, token_delay=0) as sim:
        ...  # ANTHROPIC_BASE_URL=sim.url, the agent at sim.ws_url, counters in sim.stats

or from the command line: ``mac sim --port 8750``. :func:`create_app` builds
the ASGI app for anyone serving it another way.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import click

from mac_core import hookimpl

if TYPE_CHECKING:
    from .app import create_app
    from .server import Simulator
    from .settings import FAULT_KINDS, SimulatorSettings, SimulatorStats

__all__ = ["FAULT_KINDS", "Simulator", "SimulatorSettings", "SimulatorStats", "create_app"]

#: Where each public name lives; starlette and uvicorn are imported with the first one used, not by `mac` at start.
_PUBLIC = {
    "FAULT_KINDS": ".settings", "SimulatorSettings": ".settings", "SimulatorStats": ".settings",
    "Simulator": ".server", "create_app": ".app", "RateLimits": ".rate_limits",
}

#: What ``mac --help`` says of ``mac sim`` (the command's own help is its docstring, in :mod:`.cli`).
SIM_SUMMARY = "Serve a simulated Anthropic API (Messages, Batches) and a scripted agent (/config, /ws)."


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def mac_register_commands(cli: click.Group) -> None:
    """Add ``mac sim`` (its options are built, and the server imported, only when it is used)."""
    from mac_core.cli import LazyCommand

    cli.add_command(LazyCommand("sim", "mac_plugins.simulator.cli:sim_command", summary=SIM_SUMMARY))
