"""The ``QueryConfig`` posted to ``/config``: validation, and what ``GET /config`` may show.

Fields of the protocol (all optional): ``agents``, ``allowedTools``,
``systemPrompt``, ``model``, ``mcpServers``, ``anthropicApiKey``. This server
also reads two extensions: ``includePartialMessages`` (bool: send
``stream_event`` messages) and ``maxTurns`` (int). Unknown fields are kept and
echoed (a value under a name that looks secret, like the reference client's
``e2bApiKey``, masked), and otherwise ignored with a warning.

The reference README's own example is accepted: a subagent field the Agent
SDK does not know (its ``"name"``) is ignored with a warning, and a subagent
without ``prompt`` is left undefined with a warning, not a 400. The warnings
are logged and returned in the ``/config`` answer (``"warnings": [...]``).

``allowedTools`` differs from the reference server's: there it pre-approves
tools on top of the whole tool set (it runs with ``bypassPermissions``); here
it is the whole tool set, narrowed further to what this server can confine.

Refused because they would let a client escape the workspace or run programs
on the server: MCP servers that are not remote (``stdio`` runs a command),
and subagent fields the Agent SDK knows other than :data:`AGENT_FIELDS`
(``permissionMode``, ``mcpServers``…). The API key is held as a
:class:`mac_core.Secret` and never echoed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mac_core import Secret

DEFAULT_ALLOWED_TOOLS = ("Read", "Write", "Edit", "Glob", "Grep")
"""The tools the agent gets when ``allowedTools`` is not posted."""

AGENT_FIELDS = frozenset({"description", "prompt", "tools", "disallowedTools", "model", "maxTurns"})
"""Subagent definition fields accepted in ``agents``."""

SDK_AGENT_FIELDS = AGENT_FIELDS | frozenset(
    {"skills", "memory", "mcpServers", "initialPrompt", "background", "effort", "permissionMode"}
)
"""The fields of claude-agent-sdk's ``AgentDefinition`` (0.2.189): the ones not accepted are refused, others ignored."""

PROTOCOL_FIELDS = frozenset(
    {
        "agents",
        "allowedTools",
        "systemPrompt",
        "model",
        "mcpServers",
        "anthropicApiKey",
        "includePartialMessages",
        "maxTurns",
    }
)
"""The top-level ``/config`` fields this server reads."""

_SECRET_NAME = re.compile(r"key|token|secret|password", re.IGNORECASE)

REMOTE_MCP_TYPES = frozenset({"http", "sse"})
"""MCP server types accepted in ``mcpServers``: remote ones only."""


class ConfigError(ValueError):
    """A ``/config`` body that is JSON but not a valid QueryConfig; the message is safe to show."""


@dataclass(frozen=True)
class QueryConfig:
    """A validated QueryConfig."""

    allowed_tools: tuple[str, ...] = DEFAULT_ALLOWED_TOOLS
    system_prompt: str | dict[str, Any] | None = None
    model: str | None = None
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    mcp_servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    include_partial_messages: bool = False
    max_turns: int | None = None
    api_key: Secret | None = None
    shown: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @classmethod
    def parse(cls, body: object) -> QueryConfig:
        """Validate a decoded ``/config`` body; raises :class:`ConfigError` naming the bad field."""
        if not isinstance(body, dict):
            raise ConfigError("the configuration must be a JSON object")
        values: dict[str, Any] = {}
        warnings: list[str] = []
        unknown = sorted(k for k in body if k not in PROTOCOL_FIELDS)
        if unknown:
            warnings.append(f"ignored: field(s) this server does not read: {', '.join(unknown)}")
        if body.get("allowedTools") is not None:
            values["allowed_tools"] = tuple(_string_list(body["allowedTools"], "allowedTools"))
        if body.get("systemPrompt") is not None:
            values["system_prompt"] = _system_prompt(body["systemPrompt"])
        if body.get("model") is not None:
            values["model"] = _string(body["model"], "model")
        if body.get("agents") is not None:
            values["agents"] = _agents(body["agents"], warnings)
        if body.get("mcpServers") is not None:
            values["mcp_servers"] = _mcp_servers(body["mcpServers"])
        if body.get("includePartialMessages") is not None:
            if not isinstance(body["includePartialMessages"], bool):
                raise ConfigError("includePartialMessages must be true or false")
            values["include_partial_messages"] = body["includePartialMessages"]
        if body.get("maxTurns") is not None:
            turns = body["maxTurns"]
            if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
                raise ConfigError("maxTurns must be a positive integer")
            values["max_turns"] = turns
        key = body.get("anthropicApiKey")
        if key is not None:
            if not isinstance(key, str):
                raise ConfigError("anthropicApiKey must be a string")
            values["api_key"] = Secret(key.strip()) if key.strip() else None
        shown = {
            k: ("********" if k not in PROTOCOL_FIELDS and _SECRET_NAME.search(k) else v)
            for k, v in body.items()
            if k != "anthropicApiKey"
        }
        return cls(**values, shown=shown, warnings=tuple(warnings))


def _string(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string")
    return value


def _string_list(value: object, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{name} must be a list of tool names")
    return value


def _system_prompt(value: object) -> str | dict[str, Any]:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value.get("type") == "preset" and value.get("preset") == "claude_code":
        prompt: dict[str, Any] = {"type": "preset", "preset": "claude_code"}
        if value.get("append") is not None:
            prompt["append"] = _string(value["append"], "systemPrompt.append")
        return prompt
    raise ConfigError(
        'systemPrompt must be a string or {"type": "preset", "preset": "claude_code", "append"?: str}'
    )


def _agents(value: object, warnings: list[str]) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise ConfigError("agents must be an object of name → agent definition")
    agents = {}
    for name, definition in value.items():
        if not isinstance(definition, dict):
            raise ConfigError(f"agents.{name} must be an object")
        refused = sorted(set(definition) & SDK_AGENT_FIELDS - AGENT_FIELDS)
        if refused:
            raise ConfigError(f"agents.{name}: field(s) not accepted by this server: {', '.join(refused)}")
        unknown = sorted(set(definition) - SDK_AGENT_FIELDS)
        if unknown:  # the reference README's example has "name"; the Agent SDK has no such field
            warnings.append(
                f"agents.{name}: ignored field(s) the Agent SDK does not know: {', '.join(unknown)}"
            )
        _string(definition.get("description"), f"agents.{name}.description")
        if definition.get("prompt") is None:
            warnings.append(f"agents.{name}: no prompt, so this subagent is not defined")
            continue
        _string(definition["prompt"], f"agents.{name}.prompt")
        for tools in ("tools", "disallowedTools"):
            if definition.get(tools) is not None:
                _string_list(definition[tools], f"agents.{name}.{tools}")
        agents[name] = {k: v for k, v in definition.items() if k in AGENT_FIELDS}
    return agents


def _mcp_servers(value: object) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise ConfigError("mcpServers must be an object of name → server config")
    servers = {}
    for name, server in value.items():
        if not isinstance(server, dict) or server.get("type") not in REMOTE_MCP_TYPES:
            raise ConfigError(f"mcpServers.{name}: only remote MCP servers (type http or sse) are accepted")
        _string(server.get("url"), f"mcpServers.{name}.url")
        servers[name] = dict(server)
    return servers
