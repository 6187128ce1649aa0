"""Several agent servers for one run: which server takes the next task, and which ones are gone.

An agent server runs one turn at a time (it takes one connection), so a
fan-out over ``urls`` hands each task to the first server that is free and
alive, in the order the URLs were given, and queues when all are busy. A
server that could not be reached, or died mid-turn and did not come back, is
*gone*: no later task of the run is sent to it. With a single server nothing
is ever marked gone, so every task tries it on its own (as with ``url``).

What the server's query was started with, per server and for this process:
:data:`query_configs` (servers that do not report it, like the reference
server), :data:`unfinished_turns` (turns this process left without their
``result``, whose frames may still reach the next connection) and
:data:`dead_agents` (such servers whose agent process exited).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import anyio

from mac_core import TransportError

from .options import AgentServerAddress

#: ws URL -> turns this process left without their ``result`` there.
unfinished_turns: dict[str, int] = {}
#: ws URL -> the configuration (as :func:`comparable` text) the server's running query was started
#: with, for servers that do not report it themselves, learnt when this process's connection started it.
query_configs: dict[str, str] = {}
#: ws URL -> the ``error`` a server that does not report its query sent when its agent process exited:
#: such a server never starts another, so later connections get ``connected`` and then nothing.
dead_agents: dict[str, str] = {}


def forget_servers() -> None:
    """Forget what this process learnt about agent servers (tests, or servers restarted behind a URL)."""
    unfinished_turns.clear()
    query_configs.clear()
    dead_agents.clear()


def comparable(config: dict[str, Any]) -> str:
    """``config`` as canonical JSON without ``anthropicApiKey``, to tell two query configurations apart."""
    return json.dumps(
        {k: v for k, v in config.items() if k != "anthropicApiKey"}, sort_keys=True, default=str
    )


def differences(started: str, wanted: dict[str, Any]) -> str:
    """``model 'a' (the task wants 'b'), allowedTools ...``: how a running query differs from the task's."""
    running = json.loads(started)
    wanted = json.loads(comparable(wanted))
    keys = sorted(k for k in running.keys() | wanted.keys() if running.get(k) != wanted.get(k))
    return ", ".join(f"{k} {running.get(k)!r} (the task wants {wanted.get(k)!r})" for k in keys)


class ServerGone(TransportError):
    """The agent server could not be reached, or dropped the connection and did not come back."""


class ServerPool:
    """Hands out the servers of a run: one task per server at a time, the first free one first.

    :param servers: the servers, in the order the caller gave them.
    """

    def __init__(self, servers: Iterable[AgentServerAddress]) -> None:
        self.servers = tuple(servers)
        self._busy: set[str] = set()
        self.gone: dict[str, str] = {}  #: server name -> why it is out of the rotation
        self._changed = anyio.Event()

    async def acquire(self, exclude: Iterable[str] = ()) -> AgentServerAddress:
        """The first free server that is alive and not in ``exclude``, waiting for one to be released.

        :raises ServerGone: when no server is left to wait for.
        """
        excluded = set(exclude)
        while True:
            alive = [s for s in self.servers if s.name not in self.gone and s.name not in excluded]
            if not alive:
                reasons = "; ".join(f"{name}: {why}" for name, why in self.gone.items())
                raise ServerGone(
                    f"no agent server left to run the task: all {len(self.servers)} are gone ({reasons})",
                    error_type="connection_error",
                )
            for server in alive:
                if server.name not in self._busy:
                    self._busy.add(server.name)
                    return server
            await self._changed.wait()

    def release(self, server: AgentServerAddress) -> None:
        """``server`` is free for the next task (synchronous, so it also runs while cancelled)."""
        self._busy.discard(server.name)
        self._wake()

    def mark_gone(self, server: AgentServerAddress, why: str) -> bool:
        """Take ``server`` out of the rotation, unless it is the only one; True if it was taken out."""
        if len(self.servers) < 2:
            return False
        self.gone.setdefault(server.name, why)
        self._wake()
        return True

    def _wake(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()
