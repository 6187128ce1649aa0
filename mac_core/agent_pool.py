"""Named agents that message each other: :class:`AgentPool`, and :data:`EXECUTE_MODE`.

Each agent is a :class:`~mac_core.ConversationThread`. A message to an agent
waits in the pool's mailbox and is put before its next turn; one sent with
``trigger_turn=True`` runs that turn at once. Names are reserved before an
agent is built (:meth:`AgentPool.reserve`), so a failed setup leaves no half
agent and no taken name; depth and size limits stop runaway spawning.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .conversation import ConversationThread
from .invoke import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE

#: A system prompt for sub-agents that should act without asking questions.
EXECUTE_MODE = """You execute a well-specified task on your own and report the results.

How to work:
- When information is missing, do not ask. Make a sensible assumption, say it in a line, and go on.
- Reason aloud only where it helps weigh a trade-off, and keep it short and concrete.
- Think ahead: what else will be needed, and how will the result be checked?
- Mind the time: explore little, act directly.
- If something fails, say what failed, what you tried, and what you will do next.
- When done, sum up what you delivered and how to verify it.

If other agents sent you messages, use what they found: build on it, do not redo it."""


@dataclass
class AgentMessage:
    """A message from one agent to another (``recipient="*"``: to everyone)."""

    author: str
    recipient: str
    content: str
    trigger_turn: bool = False
    timestamp: float = field(default_factory=time.time)

    def format_for_injection(self) -> str:
        """The line put before the recipient's next prompt."""
        return f"[Message from {self.author}]: {self.content}"


class SpawnReservation:
    """A reserved agent name; :meth:`configure` it, and leaving the ``with`` block cleanly makes the agent.

    An exception inside the block releases the name and makes nothing.
    """

    def __init__(self, pool: AgentPool, name: str, parent: str | None, depth: int) -> None:
        self.pool = pool
        self.name = name
        self.parent = parent
        self.depth = depth
        self.system: str | list[dict[str, Any]] | None = None
        self.model: str | None = pool.default_model
        self.max_tokens = DEFAULT_MAX_TOKENS
        self.temperature = DEFAULT_TEMPERATURE
        self.committed = False

    def configure(self, *, system: Any = None, model: str | None = None,
                  max_tokens: int | None = None, temperature: float | None = None) -> None:
        """Set the agent's system prompt (after the pool's shared one), model, max_tokens or temperature."""
        if system is not None:
            self.system = system
        if model is not None:
            self.model = model
        if max_tokens is not None:
            self.max_tokens = max_tokens
        if temperature is not None:
            self.temperature = temperature

    def _system(self) -> Any:
        shared, own = self.pool.shared_system, self.system
        if not shared:
            return own
        if not own:
            return shared
        if isinstance(shared, str) and isinstance(own, str):
            return f"{shared}\n\n{own}"
        as_blocks = lambda s: [{"type": "text", "text": s}] if isinstance(s, str) else list(s)  # noqa: E731
        return as_blocks(shared) + as_blocks(own)

    def commit(self) -> str:
        """Make the agent live in the pool (done for you when the ``with`` block ends cleanly)."""
        if not self.committed:
            thread = ConversationThread(system=self._system(), model=self.model, max_tokens=self.max_tokens,
                                        temperature=self.temperature, cache_system=True)
            self.pool._commit(self, thread)
            self.committed = True
        return self.name


class AgentPool:
    """A pool of named agents with a shared system prompt and a mailbox.

    :param shared_system: put before every agent's own system prompt (and cached).
    :param max_agents: agents alive (or being spawned) at once.
    :param max_depth: spawn depth limit: an agent without a parent (or whose
        parent is outside the pool, such as the orchestrator) is depth 0 or 1,
        its child one more; a spawn at depth ``max_depth`` raises ``ValueError``.
    :param model: the agents' model unless a spawn names another.
    """

    EXECUTE_MODE = EXECUTE_MODE

    def __init__(self, shared_system: str | list[dict[str, Any]] | None = None, max_agents: int = 10,
                 max_depth: int = 3, model: str | None = None) -> None:
        for name, value in (("max_agents", max_agents), ("max_depth", max_depth)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.shared_system = shared_system
        self.max_agents = max_agents
        self.max_depth = max_depth
        self.default_model = model
        self._agents: dict[str, ConversationThread] = {}
        self._depths: dict[str, int] = {}
        self._children: dict[str, list[str]] = {}
        self._reserved: set[str] = set()
        self._mailbox: list[AgentMessage] = []
        self._lock = threading.Lock()

    # -- spawning --

    def _depth_for(self, parent: str | None) -> int:
        if parent is None:
            return 0
        return self._depths.get(parent, 0) + 1  # a parent outside the pool (the orchestrator) is depth 0

    @contextlib.contextmanager
    def reserve(self, name: str, parent: str | None = None) -> Iterator[SpawnReservation]:
        """Reserve ``name``; the agent is made when the block ends cleanly, the name freed if it raises.

        :raises ValueError: the name is taken or being spawned, the pool is
            full, or the depth limit would be passed.
        """
        if not isinstance(name, str) or not name.strip() or name == "*":
            raise ValueError(f"agent name must be a non-empty string other than '*', got {name!r}")
        with self._lock:
            if name in self._agents or name in self._reserved:
                raise ValueError(f"Agent '{name}' already exists or is being spawned")
            if len(self._agents) + len(self._reserved) >= self.max_agents:
                raise ValueError(f"Pool full ({self.max_agents} agents)")
            depth = self._depth_for(parent)
            if depth >= self.max_depth:
                raise ValueError(f"Spawn depth limit ({self.max_depth}) exceeded: '{name}' would be at depth {depth}")
            self._reserved.add(name)
        reservation = SpawnReservation(self, name, parent, depth)
        try:
            yield reservation
            reservation.commit()
        finally:
            with self._lock:
                self._reserved.discard(name)

    def _commit(self, reservation: SpawnReservation, thread: ConversationThread) -> None:
        with self._lock:
            self._agents[reservation.name] = thread
            self._depths[reservation.name] = reservation.depth
            if reservation.parent:
                self._children.setdefault(reservation.parent, []).append(reservation.name)

    def spawn(self, name: str, *, system: Any = None, model: str | None = None, parent: str | None = None,
              **kwargs: Any) -> str:
        """Create the agent ``name`` now and return its name.

        :param system: its own system prompt (after ``shared_system``).
        :param model: its model (default: the pool's).
        :param parent: the agent that spawned it (for depth and :meth:`agent_info`).
        :param kwargs: ``max_tokens``, ``temperature``.
        :raises ValueError: as :meth:`reserve`, or for another keyword.
        """
        unknown = set(kwargs) - {"max_tokens", "temperature"}
        if unknown:
            raise ValueError(f"spawn() takes max_tokens and temperature, not {', '.join(sorted(unknown))}")
        with self.reserve(name, parent=parent) as reservation:
            reservation.configure(system=system, model=model, **kwargs)
        return name

    # -- messaging --

    def send(self, author: str, *, to: str, content: str, trigger_turn: bool = False) -> str | None:
        """Leave ``content`` for ``to``; with ``trigger_turn``, run its turn now and return the answer."""
        if to not in self._agents:
            raise ValueError(f"Agent '{to}' not in pool")
        with self._lock:
            self._mailbox.append(AgentMessage(author, to, content, trigger_turn))
        if trigger_turn:
            return self.run(to, f"[Triggered by message from {author}]")
        return None

    def broadcast(self, author: str, content: str, *, exclude: set[str] | None = None,
                  trigger_turn: bool = False) -> dict[str, str]:
        """Send ``content`` to every agent but ``author`` (and ``exclude``); the answers of triggered turns by name."""
        skip = set(exclude or ()) | {author}
        answers: dict[str, str] = {}
        for name in self.agents():
            if name not in skip:
                answer = self.send(author, to=name, content=content, trigger_turn=trigger_turn)
                if answer is not None:
                    answers[name] = answer
        return answers

    def _drain(self, name: str) -> list[AgentMessage]:
        with self._lock:
            mine = [m for m in self._mailbox if m.recipient == name]
            self._mailbox = [m for m in self._mailbox if m.recipient != name]
        return mine

    def run(self, agent_name: str, prompt: str, **kwargs: Any) -> str:
        """Run one turn of ``agent_name``: its waiting messages, then ``prompt``; returns the answer.

        :param kwargs: as :meth:`ConversationThread.send`.
        """
        if agent_name not in self._agents:
            raise ValueError(f"Agent '{agent_name}' not in pool")
        waiting = self._drain(agent_name)
        if waiting:
            prompt = "\n".join(m.format_for_injection() for m in waiting) + "\n\n" + prompt
        return self._agents[agent_name].send(prompt, **kwargs)

    # -- lifecycle and queries --

    def shutdown(self, agent_name: str) -> None:
        """Remove one agent (and the messages waiting for it)."""
        with self._lock:
            self._agents.pop(agent_name, None)
            self._depths.pop(agent_name, None)
            self._mailbox = [m for m in self._mailbox if m.recipient != agent_name]
            for children in self._children.values():
                if agent_name in children:
                    children.remove(agent_name)

    def shutdown_all(self) -> None:
        """Remove every agent and message."""
        with self._lock:
            self._agents.clear()
            self._depths.clear()
            self._children.clear()
            self._mailbox.clear()

    def agents(self) -> list[str]:
        """The live agents' names, in spawn order."""
        return list(self._agents)

    def agent_info(self, name: str) -> dict[str, Any]:
        """``{name, depth, children, pending_messages, turns}`` for one agent."""
        if name not in self._agents:
            raise ValueError(f"Agent '{name}' not in pool")
        with self._lock:
            pending = sum(1 for m in self._mailbox if m.recipient == name)
        return {"name": name, "depth": self._depths.get(name, 0), "children": list(self._children.get(name, [])),
                "pending_messages": pending, "turns": len(self._agents[name])}

    def __len__(self) -> int:
        return len(self._agents)

    def __contains__(self, name: object) -> bool:
        return name in self._agents

    def __repr__(self) -> str:
        return f"<AgentPool agents={self.agents()}>"
