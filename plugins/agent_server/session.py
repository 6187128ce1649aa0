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
import warnings
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from claude_agent_sdk import (
    AgentDefinition,
    ClaudeAgentOptions,
    ClaudeSDKClient,
    HookMatcher,
    PermissionResultDeny,
)
from claude_agent_sdk.types import CanUseToolShadowedWarning

from .config import QueryConfig
from .confinement import WorkspaceGuard
from .wire import frame, sdk_message, tool_progress

log = logging.getLogger("mac_plugins.agent_server")

STOP_INTERRUPT_TIMEOUT = 2.0
"""On shutdown, how long a running turn has to acknowledge its interrupt before the CLI is closed anyway."""

MAX_PENDING_COMMANDS = 64
"""Client messages waiting for the agent (before it is up, or behind an interrupt)."""

# The SDK warns that whole-tool allow rules skip can_use_tool. Here that is the
# design: the PreToolUse hook sees every call, can_use_tool only says no to the rest.
warnings.filterwarnings(
    "ignore", message="can_use_tool will not be invoked", category=CanUseToolShadowedWarning
)


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


def tool_name(entry: str) -> str:
    """The tool an ``allowedTools`` entry names: ``Write(src/**)`` names ``Write``."""
    return entry.split("(", 1)[0].strip()


def base_tools(allowed_tools: tuple[str, ...]) -> list[str]:
    """The built-in tools the agent is given at all: those named in ``allowedTools``.

    ``Write(src/**)`` gives ``Write``; MCP tools (``mcp__…``) come from their servers.
    """
    names = [tool_name(entry) for entry in allowed_tools if not entry.startswith("mcp__")]
    return list(dict.fromkeys(name for name in names if name))


def granted_tools(config: QueryConfig, guard: WorkspaceGuard) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The client's ``allowedTools`` split by the guard: the entries kept, and the tool names refused.

    The client can only narrow the guard's allow-list: a refused tool is not
    even offered to the CLI (the ``PreToolUse`` hook would refuse it anyway).
    """
    kept, refused = [], []
    for entry in config.allowed_tools:
        if guard.tool_refusal(tool_name(entry), config.mcp_servers):
            refused.append(tool_name(entry))
        else:
            kept.append(entry)
    return tuple(kept), tuple(dict.fromkeys(refused))


def child_environment(config: QueryConfig, extra: dict[str, str]) -> dict[str, str]:
    """What the CLI child gets over the server's own environment.

    The API key from ``/config`` when one was posted; no non-essential network
    traffic; and the server's bearer token variable blanked, so the agent
    cannot read the token that guards it.
    """
    env = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "MAC_AGENT_TOKEN": "", **extra}
    if config.api_key:
        env["ANTHROPIC_API_KEY"] = config.api_key.reveal()
    return env


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
        self._running_tools: dict[str, tuple[str, float]] = {}
        self._commands_in, self._commands_out = anyio.create_memory_object_stream[tuple[str, Any]](
            MAX_PENDING_COMMANDS
        )

    def options(self) -> ClaudeAgentOptions:
        """The SDK options: workspace as cwd, ``acceptEdits``, the granted tools, the guard as a hook."""
        config = self.config
        granted, _ = granted_tools(config, self.guard)
        return ClaudeAgentOptions(
            cwd=str(self.guard.workspace),
            permission_mode="acceptEdits",
            allowed_tools=list(granted),
            tools=base_tools(granted),
            system_prompt=config.system_prompt,
            model=config.model,
            agents={name: AgentDefinition(**d) for name, d in config.agents.items()} or None,
            mcp_servers=config.mcp_servers,
            # The workspace is not trusted: its .mcp.json and .claude/ settings could run programs.
            strict_mcp_config=True,
            setting_sources=[],
            # An "@/etc/passwd" in a prompt would otherwise be read and attached, bypassing the hooks.
            verbatim_prompts=True,
            include_partial_messages=config.include_partial_messages,
            max_turns=config.max_turns,
            hooks={
                "PreToolUse": [HookMatcher(hooks=[self._before_tool], on_failure="block")],
                "PostToolUse": [HookMatcher(hooks=[self._after_tool])],
                "PostToolUseFailure": [HookMatcher(hooks=[self._after_tool])],
            },
            can_use_tool=self._can_use_tool,
            stderr=self._on_stderr,
            env=child_environment(config, self._env),
        )

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

    # --- permission callbacks ---------------------------------------------------

    async def _before_tool(self, hook_input: Any, tool_use_id: str | None, context: Any) -> dict[str, Any]:
        name = hook_input.get("tool_name", "")
        reason = self.guard.refusal(name, hook_input.get("tool_input") or {}, self.config.mcp_servers)
        if reason:
            log.info("refused a tool call: %s", reason)
            return {
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "deny",
                    "permissionDecisionReason": reason,
                }
            }
        if tool_use_id:
            self._running_tools[tool_use_id] = (name, time.monotonic())
        return {}

    async def _after_tool(self, hook_input: Any, tool_use_id: str | None, context: Any) -> dict[str, Any]:
        self._running_tools.pop(tool_use_id, None)
        return {}

    async def _can_use_tool(
        self, tool_name: str, tool_input: dict[str, Any], context: Any
    ) -> PermissionResultDeny:
        # Reached only by calls the allowed tools do not pre-approve: there is no one to ask, so no.
        reason = self.guard.refusal(tool_name, tool_input, self.config.mcp_servers) or (
            f"{tool_name} is not pre-approved on this server (see allowedTools in /config)"
        )
        return PermissionResultDeny(message=reason)


async def _one(message: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    yield message
