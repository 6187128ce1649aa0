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
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

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
