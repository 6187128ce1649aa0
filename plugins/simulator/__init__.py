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

import click

from mac_core import hookimpl

from .app import create_app
from .server import Simulator
from .settings import FAULT_KINDS, SimulatorSettings, SimulatorStats

__all__ = ["FAULT_KINDS", "Simulator", "SimulatorSettings", "SimulatorStats", "create_app"]


@hookimpl
def mac_register_commands(cli: click.Group) -> None:
    """Add ``mac sim``."""
    from .cli import sim_command

    cli.add_command(sim_command)
