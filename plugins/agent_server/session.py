"""The agent's one query: a claude-agent-sdk client that outlives WebSocket connections.

The session starts when the first client connects, with the configuration
posted so far, and runs until the server stops or the agent process ends.
Everything it produces goes to an :class:`Outbox`; the connection of the
moment drains it, and while nobody is connected it keeps the frames (up to
a size bound) for the next connection.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from claude_agent_sdk import ClaudeAgentOptions, ClaudeSDKClient

from .config import QueryConfig
from .confinement import (
    ConfinedAgent,
    WorkspaceGuard,
    base_tools,
    child_environment,
    granted_tools,
    tool_name,
)
from .wire import frame, sdk_message, tool_progress

__all__ = [
    "AgentSession",
    "ClientFactory",
    "Outbox",
    "base_tools",
    "child_environment",
    "granted_tools",
    "tool_name",
]

log = logging.getLogger("mac_plugins.agent_server")

STOP_INTERRUPT_TIMEOUT = 2.0
"""On shutdown, how long a running turn has to acknowledge its interrupt before the CLI is closed anyway."""

MAX_PENDING_COMMANDS = 64
"""Client messages waiting for the agent (before it is up, or behind an interrupt)."""


class Outbox:
    """Frames on their way to the client, kept while no client is connected.

    Bounded by the total size of the frames: past ``limit_bytes`` the oldest
    are dropped, and the next frame read is an ``info`` frame saying how many.
    A frame leaves the outbox only once sent (:meth:`peek`, then :meth:`pop`),
    so the one in flight when a connection drops goes to the next connection.
    Single consumer: the one active connection.
    """

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self._frames: deque[str] = deque()
        self._size = 0
        self._dropped = 0
        self._wakeup = anyio.Event()

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, text: str) -> None:
        """Queue one frame (JSON text); never blocks."""
        self._frames.append(text)
        self._size += len(text)
        while self._size > self.limit_bytes and len(self._frames) > 1:
            self._size -= len(self._frames.popleft())
            self._dropped += 1
        self._wakeup.set()

    async def peek(self) -> str:
        """The oldest frame, waiting for one if there is none."""
        while True:
            if self._dropped:
                notice = frame(
                    "info",
                    data=f"{self._dropped} earlier message(s) were dropped: the server's buffer "
                    f"({self.limit_bytes} bytes) filled while no client was reading",
                )
                self._frames.appendleft(notice)
                self._size += len(notice)
                self._dropped = 0
            if self._frames:
                return self._frames[0]
            self._wakeup = anyio.Event()
            await self._wakeup.wait()

    def pop(self) -> None:
        """Forget the frame :meth:`peek` returned, now that it was sent."""
        self._size -= len(self._frames.popleft())


ClientFactory = Callable[[ClaudeAgentOptions], Any]
"""Makes the SDK client from the options (``ClaudeSDKClient``; tests pass a fake)."""


class AgentSession:
    """One ``ClaudeSDKClient`` query, fed by :meth:`submit` and drained through an :class:`Outbox`.

    :param config: the QueryConfig of the moment the session starts.
    :param guard: the :class:`WorkspaceGuard` every tool call passes.
    :param outbox: where frames go.
    :param env: extra environment for the CLI child.
    :param client_factory: makes the SDK client from its options (``ClaudeSDKClient`` by default).
    :param progress_interval: seconds between ``tool_progress`` messages for
        a tool that is still running.
    :param interrupt_timeout: how long the agent has to acknowledge an interrupt.
    :param start_timeout: how long the CLI has to start and initialise.
    """

    def __init__(
        self,
        config: QueryConfig,
        guard: WorkspaceGuard,
        outbox: Outbox,
        *,
        env: dict[str, str] | None = None,
        client_factory: ClientFactory | None = None,
        progress_interval: float = 5.0,
        interrupt_timeout: float = 15.0,
        start_timeout: float = 90.0,
    ) -> None:
        self.config = config
        self.guard = guard
        self.outbox = outbox
        self.session_id = ""
        self.finished = False
        self._env = dict(env or {})
        self._client_factory = client_factory or ClaudeSDKClient
        self._progress_interval = progress_interval
        self._interrupt_timeout = interrupt_timeout
        self._start_timeout = start_timeout
        self._turn_active = False
        # The confinement shared with the ray transport's agents; its hooks keep the running tools.
        self._confined = ConfinedAgent(config, guard, env=self._env, stderr=self._on_stderr)
        self._running_tools = self._confined.running_tools
        self._before_tool = self._confined.before_tool
        self._after_tool = self._confined.after_tool
        self._can_use_tool = self._confined.can_use_tool
        self._commands_in, self._commands_out = anyio.create_memory_object_stream[tuple[str, Any]](
            MAX_PENDING_COMMANDS
        )

    def options(self) -> ClaudeAgentOptions:
        """The SDK options (:meth:`ConfinedAgent.options`): workspace as cwd, ``acceptEdits``, the guard as a hook."""
        return self._confined.options()

    def submit(self, kind: str, payload: Any = None) -> str | None:
        """Queue ``("user", SDKUserMessage)`` or ``("interrupt", None)``; the error text if refused."""
        if self.finished:
            return "the agent is not running"
        try:
            self._commands_in.send_nowait((kind, payload))
        except anyio.WouldBlock:
            return f"too many messages waiting for the agent (limit {MAX_PENDING_COMMANDS})"
        return None

    async def run(self) -> None:
        """Start the agent, relay its messages and the client's commands; always stop the CLI.

        Never raises (but for cancellation): a failure ends the session with an ``error`` frame.
        """
        try:
            await self._run()
        except Exception as exc:
            log.exception("the agent session failed")
            self._emit(frame("error", error=f"the agent session failed: {type(exc).__name__}"))
        finally:
            self.finished = True

    async def _run(self) -> None:
        _, refused = granted_tools(self.config, self.guard)
        if refused:
            self._emit(
                frame(
                    "info",
                    data=f"allowedTools: not available on this server, so not given to the agent: "
                    f"{', '.join(refused)}",
                )
            )
        try:
            client = self._client_factory(self.options())
            with anyio.fail_after(self._start_timeout):
                await client.connect()
        except Exception as exc:
            log.warning("the agent failed to start: %s", type(exc).__name__)
            self._emit(frame("error", error=f"the agent failed to start: {exc}"))
            return
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._relay_commands, client)
                tasks.start_soon(self._report_progress)
                await self._relay_messages(client)
                tasks.cancel_scope.cancel()
        finally:
            self.finished = True
            with anyio.CancelScope(shield=True):
                if self._turn_active:
                    # A CLI mid-turn ignores the end of its input for 5 s before the SDK terminates it.
                    with anyio.move_on_after(STOP_INTERRUPT_TIMEOUT), contextlib.suppress(Exception):
                        await client.interrupt()
                await client.disconnect()

    # --- the agent's messages -------------------------------------------------

    async def _relay_messages(self, client: Any) -> None:
        try:
            async for message in client.receive_messages():
                self._relay(message)
        except Exception as exc:
            log.warning("the agent process failed: %s", type(exc).__name__)
            self._emit(frame("error", error=f"the agent process failed: {exc}"))
            return
        self._emit(frame("error", error="the agent process ended"))

    def _relay(self, message: Any) -> None:
        data = sdk_message(message, self.session_id)
        if data is None:
            log.debug("no protocol shape for %s; not sent", type(message).__name__)
            return
        self.session_id = data.get("session_id") or self.session_id
        if data["type"] == "user" and isinstance(data["message"]["content"], list):
            for block in data["message"]["content"]:
                if block.get("type") == "tool_result":
                    self._running_tools.pop(block.get("tool_use_id"), None)
        elif data["type"] == "result":
            self._turn_active = False
            self._running_tools.clear()
        self._emit(frame("sdk_message", data=data))

    def _emit(self, text: str) -> None:
        self.outbox.put(text)

    def _on_stderr(self, line: str) -> None:
        self._emit(frame("info", data=line))

    async def _report_progress(self) -> None:
        # The Python SDK drops the CLI's own tool_progress messages; these stand in for them.
        while True:
            await anyio.sleep(self._progress_interval)
            now = time.monotonic()
            for tool_use_id, (name, started) in list(self._running_tools.items()):
                if now - started >= self._progress_interval:
                    data = tool_progress(tool_use_id, name, now - started, self.session_id, str(uuid.uuid4()))
                    self._emit(frame("sdk_message", data=data))

    # --- the client's commands ------------------------------------------------

    async def _relay_commands(self, client: Any) -> None:
        async for kind, payload in self._commands_out:
            if kind == "user":
                self._turn_active = True
                try:
                    await client.query(_one(payload))
                except Exception as exc:
                    self._emit(frame("error", error=f"the agent did not take the message: {exc}"))
            elif kind == "interrupt":
                await self._interrupt(client)

    async def _interrupt(self, client: Any) -> None:
        if not self._turn_active:
            self._emit(frame("info", data="interrupt ignored: no turn in progress"))
            return
        try:
            with anyio.fail_after(self._interrupt_timeout):
                await client.interrupt()
        except TimeoutError:
            self._emit(
                frame(
                    "error",
                    error=f"the agent did not acknowledge the interrupt in {self._interrupt_timeout:g} s",
                )
            )
        except Exception as exc:
            self._emit(frame("error", error=f"interrupt failed: {exc}"))
        else:
            self._emit(frame("info", data="interrupt acknowledged by the agent; the turn ends with a result"))


async def _one(message: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    yield message
