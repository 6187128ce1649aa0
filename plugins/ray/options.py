"""The ``ray`` transport's settings: :class:`RayOptions`, its ``options_type``, checked before Ray starts.

Keys (all optional)::

    address          the Ray cluster: "host:port", "ray://host:10001", or "local" for a new cluster on this
                     machine (default: RAY_ADDRESS if set, else a new local cluster)
    inner            what each task runs on its worker: "stream" (the streaming Messages API) or "agent"
                     (a Claude Agent SDK session, confined to ``workspace`` like ``mac agent-server``)
    workspace        for inner="agent": the directory the agents work in and may not leave; it must exist
                     on every node (a shared checkout, or the same path cloned on each)
    allow_shell      for inner="agent": let the agents run Bash and its companions, NOT confined (default False)
    actors           worker actors the tasks are spread over (default: one per CPU of the cluster)
    batch_interval   seconds a worker gathers a task's events before sending them to the driver (default 0.02)
    num_cpus         for a local cluster this transport starts: its CPUs (default: this machine's)
    start_timeout    seconds to reach the cluster and start the workers (default 120)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: What a task can run on its worker (``inner``).
INNERS = ("stream", "agent")

#: Prompt fields of an agent task (``inner="agent"``): the agent-over-WebSocket ``QueryConfig`` names.
AGENT_TASK_OPTIONS = frozenset(
    {"allowedTools", "systemPrompt", "agents", "mcpServers", "includePartialMessages", "maxTurns"}
)


@dataclass(frozen=True)
class RayOptions:
    """Where the cluster is and what each task runs there: the ``ray`` transport's ``options_type``."""

    address: str | None = None
    inner: str = "stream"
    workspace: str | None = None
    allow_shell: bool = False
    actors: int = 0
    batch_interval: float = 0.02
    num_cpus: int = 0
    start_timeout: float = 120.0

    def __post_init__(self) -> None:
        if self.inner not in INNERS:
            raise ValueError(
                f"the ray transport option 'inner' must be one of {', '.join(INNERS)}, got {self.inner!r}"
            )
        if self.inner == "agent":
            if not self.workspace:
                raise ValueError(
                    "the ray transport with inner='agent' needs transport_options['workspace']: the directory "
                    "the agents work in (it must exist on every node)"
                )
            if (
                self.address in (None, "", "local")
                and not os.environ.get("RAY_ADDRESS")
                and not os.path.isdir(self.workspace)
            ):
                raise ValueError(
                    f"the ray transport option 'workspace' {self.workspace!r} is not a directory"
                )
        elif self.workspace is not None or self.allow_shell:
            raise ValueError(
                "the ray transport options 'workspace' and 'allow_shell' are for inner='agent' only"
            )
        for name in ("actors", "num_cpus"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"the ray transport option {name!r} must be 0 (automatic) or more, got {getattr(self, name)}"
                )
        if not 0 < self.batch_interval <= 5:
            raise ValueError(
                f"the ray transport option 'batch_interval' must be in (0, 5] seconds, got {self.batch_interval}"
            )
        if self.start_timeout <= 0:
            raise ValueError(
                f"the ray transport option 'start_timeout' must be positive, got {self.start_timeout}"
            )

    @property
    def cluster_address(self) -> str:
        """The address ``ray.init`` gets: this option, else ``RAY_ADDRESS``, else ``"local"`` (a new cluster)."""
        return self.address or os.environ.get("RAY_ADDRESS") or "local"
