"""Keeping the agent's tools inside the workspace.

``cwd=workspace`` alone confines nothing: with ``acceptEdits`` and ``Write``
in the allowed tools, the Claude Code CLI writes ``/tmp/elsewhere.py`` without
asking (checked against the CLI bundled with claude-agent-sdk 0.2.188). So
every tool call goes through :meth:`WorkspaceGuard.refusal` from a
``PreToolUse`` hook, which runs before the CLI's own permission rules and
whose "deny" the CLI honours in every permission mode.

The guard is an allow-list: a tool runs only if it is one of
:data:`CONFINED_TOOLS` (whose path arguments are checked), a tool of a remote
MCP server the client posted, or one of :data:`SHELL_TOOLS` when the
operator passed ``--allow-bash``. Every other name, including tools the CLI
gains in later releases, is refused, whatever ``allowedTools`` a client posts:
the CLI's ``Monitor`` runs a shell command, and ``ToolSearch`` loads such
tools on demand. Paths are checked by parameter name: any ``file_path``,
``path``, ``notebook_path`` is resolved (relative to the workspace, symlinks
followed) and must stay inside it; glob patterns may not be absolute outside
it or climb with ``..``.

:class:`ConfinedAgent` is the one place these rules become Claude Agent SDK
options (cwd, permission mode, tool set, hooks, no filesystem settings):
``mac agent-server``'s session and the ``ray`` transport's agent workers both
build their agent with it, so the two cannot drift apart.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the SDK is imported when an agent is built: WorkspaceGuard alone needs none of it
    from claude_agent_sdk import ClaudeAgentOptions, PermissionResultDeny

    from .config import QueryConfig

log = logging.getLogger("mac_plugins.agent_server")

PATH_PARAMETERS = ("file_path", "path", "notebook_path", "filePath")
"""Tool input keys that name one file or directory."""

PATTERN_PARAMETERS = ("pattern", "glob")
"""Tool input keys holding a glob pattern (for ``Glob`` and ``Grep``)."""

GLOB_TOOLS = frozenset({"Glob", "Grep"})
"""Tools whose ``pattern``/``glob`` parameters are file globs (``Grep``'s ``pattern`` is a regex, skipped)."""

CONFINED_TOOLS = {
    "Read": "reads one file; file_path checked",
    "Write": "writes one file; file_path checked",
    "Edit": "edits one file; file_path checked",
    "NotebookEdit": "edits one notebook; notebook_path checked",
    "Glob": "lists files; path and pattern checked",
    "Grep": "searches files; path and glob checked",
    "Agent": "runs a subagent whose tools come from this same tool set and pass this same guard",
    "Task": "the older name of Agent",
}
"""The tools known to stay inside the workspace (checked against the CLI bundled
with claude-agent-sdk 0.2.189), with why."""

SHELL_TOOLS = frozenset(
    {"Bash", "BashOutput", "KillShell", "KillBash", "TaskOutput", "TaskStop", "Monitor", "PowerShell"}
)
"""Tools that run commands or manage the ones running: only with the operator's ``--allow-bash``."""

MCP_PREFIX = "mcp__"
"""MCP tools are named ``mcp__<server>__<tool>``."""


class WorkspaceGuard:
    """Decides whether one tool call stays inside ``workspace``.

    :param workspace: the directory the agent works in; resolved once, so a
        workspace reached through a symlink is compared by its real path.
    :param allow_shell: let :data:`SHELL_TOOLS` through, knowing that
        their commands can reach anything the server's user can.
    """

    def __init__(self, workspace: str | os.PathLike[str], *, allow_shell: bool = False) -> None:
        self.workspace = Path(os.path.realpath(workspace))
        self.allow_shell = allow_shell

    def contains(self, path: str) -> bool:
        """Whether ``path`` (absolute, or relative to the workspace) resolves inside the workspace."""
        candidate = os.path.expanduser(path)
        resolved = os.path.realpath(os.path.join(self.workspace, candidate))
        return os.path.commonpath([resolved, self.workspace]) == str(self.workspace)

    def tool_refusal(self, tool_name: str, remote_servers: Collection[str] = ()) -> str | None:
        """Why ``tool_name`` may not run on this server at all, or ``None`` when it may.

        :param remote_servers: the names of the remote MCP servers the client
            posted; their ``mcp__<name>__…`` tools run on those servers, not here.
        """
        if tool_name in CONFINED_TOOLS:
            return None
        if tool_name in SHELL_TOOLS:
            if self.allow_shell:
                return None
            return (
                f"{tool_name} is disabled on this server: it runs commands that cannot be confined "
                "to the workspace (the operator enables such tools with --allow-bash)"
            )
        if tool_name.startswith(MCP_PREFIX):
            server = tool_name[len(MCP_PREFIX) :].split("__", 1)[0]
            if server in remote_servers:
                return None
            return f"{tool_name} is refused: {server!r} is not a remote MCP server posted in /config"
        return (
            f"{tool_name} is not available on this server: only tools known to stay in the "
            f"workspace are ({', '.join(CONFINED_TOOLS)})"
        )

    def refusal(
        self, tool_name: str, tool_input: dict[str, Any], remote_servers: Collection[str] = ()
    ) -> str | None:
        """Why this call is refused, or ``None`` when it may run: the tool, then its paths."""
        refused = self.tool_refusal(tool_name, remote_servers)
        if refused:
            return refused
        if not isinstance(tool_input, dict):
            return None
        for key in PATH_PARAMETERS:
            value = tool_input.get(key)
            if isinstance(value, str) and value and not self.contains(value):
                return f"{tool_name}: {key} {value!r} is outside the workspace {self.workspace}"
        if tool_name in GLOB_TOOLS:
            for key in PATTERN_PARAMETERS:
                if tool_name == "Grep" and key == "pattern":
                    continue
                value = tool_input.get(key)
                if isinstance(value, str) and not self._pattern_inside(value):
                    return f"{tool_name}: {key} {value!r} reaches outside the workspace {self.workspace}"
        return None

    def _pattern_inside(self, pattern: str) -> bool:
        parts = Path(pattern.replace("\\", "/")).parts
        if ".." in parts or pattern.startswith("~"):
            return False
        if os.path.isabs(pattern):
            # The fixed prefix of the pattern (before any wildcard) must be inside.
            fixed = []
            for part in parts:
                if any(ch in part for ch in "*?[{"):
                    break
                fixed.append(part)
            return self.contains(os.path.join(*fixed))
        return True


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
    """What the CLI child gets over its parent's own environment.

    The API key from the configuration when there is one; no non-essential
    network traffic; and the server's bearer token variable blanked, so the
    agent cannot read the token that guards it.
    """
    env = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "MAC_AGENT_TOKEN": "", **extra}
    if config.api_key:
        env["ANTHROPIC_API_KEY"] = config.api_key.reveal()
    return env


class ConfinedAgent:
    """The SDK options and permission callbacks of one agent kept inside ``guard.workspace``.

    :param config: the agent's :class:`~mac_plugins.agent_server.config.QueryConfig`.
    :param guard: the :class:`WorkspaceGuard` every tool call passes.
    :param env: extra environment for the CLI child (see :func:`child_environment`).
    :param stderr: called with each line the CLI writes to stderr.

    :ivar running_tools: tool-use id → (tool name, start time) of the tools
        now running, kept by the tool hooks (for progress reports).
    """

    def __init__(
        self,
        config: QueryConfig,
        guard: WorkspaceGuard,
        *,
        env: dict[str, str] | None = None,
        stderr: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.guard = guard
        self.env = dict(env or {})
        self.stderr = stderr
        self.running_tools: dict[str, tuple[str, float]] = {}

    def options(self) -> ClaudeAgentOptions:
        """The SDK options: workspace as cwd, ``acceptEdits``, the granted tools, the guard as a hook."""
        from claude_agent_sdk import AgentDefinition, ClaudeAgentOptions, HookMatcher
        from claude_agent_sdk.types import CanUseToolShadowedWarning

        # The SDK warns that whole-tool allow rules skip can_use_tool. Here that is the
        # design: the PreToolUse hook sees every call, can_use_tool only says no to the rest.
        warnings.filterwarnings(
            "ignore", message="can_use_tool will not be invoked", category=CanUseToolShadowedWarning
        )
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
                "PreToolUse": [HookMatcher(hooks=[self.before_tool], on_failure="block")],
                "PostToolUse": [HookMatcher(hooks=[self.after_tool])],
                "PostToolUseFailure": [HookMatcher(hooks=[self.after_tool])],
            },
            can_use_tool=self.can_use_tool,
            stderr=self.stderr,
            env=child_environment(config, self.env),
        )

    async def before_tool(self, hook_input: Any, tool_use_id: str | None, context: Any) -> dict[str, Any]:
        """The ``PreToolUse`` hook: deny what :meth:`WorkspaceGuard.refusal` refuses, note the rest as running."""
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
            self.running_tools[tool_use_id] = (name, time.monotonic())
        return {}

    async def after_tool(self, hook_input: Any, tool_use_id: str | None, context: Any) -> dict[str, Any]:
        """The ``PostToolUse``/``PostToolUseFailure`` hook: the tool is no longer running."""
        self.running_tools.pop(tool_use_id, None)
        return {}

    async def can_use_tool(
        self, tool_name: str, tool_input: dict[str, Any], context: Any
    ) -> PermissionResultDeny:
        """The permission prompt: there is no one to ask, so no (with the guard's reason when it has one)."""
        from claude_agent_sdk import PermissionResultDeny

        # Reached only by calls the allowed tools do not pre-approve.
        reason = self.guard.refusal(tool_name, tool_input, self.config.mcp_servers) or (
            f"{tool_name} is not pre-approved here (see allowedTools)"
        )
        return PermissionResultDeny(message=reason)
