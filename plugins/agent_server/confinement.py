"""Keeping the agent's tools inside the workspace.

``cwd=workspace`` alone confines nothing: with ``acceptEdits`` and ``Write``
in the allowed tools, the Claude Code CLI writes ``/tmp/elsewhere.py`` without
asking (checked against the CLI bundled with claude-agent-sdk 0.2.188). So
every tool call goes through :meth:`WorkspaceGuard.refusal` from a
``PreToolUse`` hook, which runs before the CLI's own permission rules and
whose "deny" the CLI honours in every permission mode.

The check is on the tool's input, by parameter name, so it covers tools the
guard has never heard of: any ``file_path``, ``path``, ``notebook_path`` is
resolved (relative to the workspace, symlinks followed) and must stay inside
it; glob patterns may not be absolute outside it or climb with ``..``.
Shell tools cannot be confined by looking at their input, so they are
refused unless the operator allowed them explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PATH_PARAMETERS = ("file_path", "path", "notebook_path", "filePath")
"""Tool input keys that name one file or directory."""

PATTERN_PARAMETERS = ("pattern", "glob")
"""Tool input keys holding a glob pattern (for ``Glob`` and ``Grep``)."""

GLOB_TOOLS = frozenset({"Glob", "Grep"})
"""Tools whose ``pattern``/``glob`` parameters are file globs (``Grep``'s ``pattern`` is a regex, skipped)."""

SHELL_TOOLS = frozenset({"Bash", "BashOutput", "KillShell", "KillBash", "PowerShell"})
"""Tools that run arbitrary commands: no input check can keep them in the workspace."""


class WorkspaceGuard:
    """Decides whether one tool call stays inside ``workspace``.

    :param workspace: the directory the agent works in; resolved once, so a
        workspace reached through a symlink is compared by its real path.
    :param allow_shell: let shell tools (``Bash``…) through, knowing that
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

    def refusal(self, tool_name: str, tool_input: dict[str, Any]) -> str | None:
        """Why this call is refused, or ``None`` when it may run."""
        if tool_name in SHELL_TOOLS and not self.allow_shell:
            return (
                f"{tool_name} is disabled on this server: shell commands cannot be confined to the workspace"
            )
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
