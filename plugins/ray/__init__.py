"""The ``ray`` transport: a fan-out on a Ray cluster, local by default (``pip install 'multi-agent-coordination[ray]'``).

::

    Coordinator().run(prompts, transport="ray")                       # a local cluster on this machine
    Coordinator().run(prompts, transport="ray", transport_options={"address": "head:6379"})
    Coordinator().run([{"prompt": "Fix app.py", "allowedTools": ["Read", "Edit"]}], transport="ray",
                      transport_options={"inner": "agent", "workspace": "/srv/checkout"})

Settings: :mod:`.options`; guarantees: :mod:`.transport`; what runs on a
worker: :mod:`.worker` and :mod:`.agent`. Importing this plugin (as every
``mac`` start does) imports no Ray: the transport does, when a run opens it.
"""

from __future__ import annotations

from mac_core import hookimpl

from .cluster import MissingRayError
from .options import RayOptions
from .transport import RayTransport

__all__ = ["MissingRayError", "RayOptions", "RayTransport"]


@hookimpl
def mac_register_transports(register):
    """Register ``ray``."""
    register("ray", RayTransport)
