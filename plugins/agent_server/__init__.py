"""``mac agent-server``: the agent-over-WebSocket protocol, served from Python by claude-agent-sdk.

One HTTP port: ``POST/GET /config`` and ``GET /ws``, the protocol of the
public ``claude-agent-server``, so the ``agent-ws`` transport and that
server's other clients work against either. The agent is the official Python Agent
SDK driving the Claude Code CLI bundled in its wheel; install it with
``pip install 'multi-agent-coordination[agent]'``.

What the server guarantees:

* **One query, one connection.** The agent's query starts with the first
  WebSocket connection, using the configuration posted before it, and lives
  until the server stops. A second simultaneous connection gets
  ``{"type": "error", "error": "Server already has an active connection"}``
  and is closed. A dropped connection does not stop the query: what the agent
  produces meanwhile is buffered (16 MiB by default, oldest dropped first,
  with an ``info`` frame saying how many) and delivered to the next
  connection. A ``/config`` posted while the query runs is stored (and echoed)
  but applies only to the next query; if the agent process ends, the next
  connection starts that next query. Unlike the reference server, ``GET
  /query`` says which configuration the running query started with and
  ``DELETE /query`` ends it (409 while a client is connected), so a client can
  start a fresh query with other options. Stopping the server interrupts a
  running turn, then closes the CLI (no orphaned process).
* **The reference's ``/config`` shape.** The reference README's example is
  accepted: fields this server does not read, subagent fields the Agent SDK
  does not know (``name``) and subagents without ``prompt`` are ignored with
  a warning (logged, and listed in the answer's ``warnings``), not a 400.
* **Tools stay in the workspace.** ``allowedTools`` means something else
  here than on the reference server, where it pre-approves tools on top of the
  CLI's whole tool set (``bypassPermissions``) and confines nothing: here it is
  the whole tool set. The CLI runs with ``cwd=workspace``,
  ``acceptEdits``, the ``allowedTools`` from ``/config`` (default Read, Write,
  Edit, Glob, Grep) narrowed to the server's allow-list as its whole tool set,
  no filesystem settings, no local MCP servers, and prompts taken verbatim (no
  ``@file`` expansion). Every tool call passes a ``PreToolUse`` hook that
  refuses tools off the allow-list (unknown names included) and paths outside
  the workspace; tools that run commands are refused unless the operator
  passes ``--allow-bash``.
* **Access.** Loopback by default. With a token (``--token`` or
  ``MAC_AGENT_TOKEN``), ``/config`` and the WebSocket upgrade answer 401
  without ``Authorization: Bearer`` and 403 with a wrong one. Requests from
  browsers (an ``Origin`` header) are refused unless ``--allow-origin`` names
  the origin. ``/config`` bodies are limited
  to 1 MiB and client WebSocket messages to 4 MiB. The token and the
  ``anthropicApiKey`` are never logged or echoed; the token is blanked in the
  agent's environment.
* **Backend from the environment.** ``ANTHROPIC_BASE_URL`` and
  ``ANTHROPIC_API_KEY`` pass through to the CLI, so pointing the base URL at
  ``mac sim`` runs the real agent runtime offline.

Beyond the reference protocol: ``includePartialMessages`` and ``maxTurns`` in
``/config``; ``info`` frames acknowledging an interrupt; ``tool_progress``
messages synthesised from tool hooks every 5 s while a tool runs (the Python
SDK drops the CLI's own).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from mac_core import hookimpl
from mac_core.credentials import MalformedSecretError, check_secret

if TYPE_CHECKING:
    from .runner import AgentServer

INSTALL_HINT = "pip install 'multi-agent-coordination[agent]'"

__all__ = ["AgentServer", "MissingAgentSDKError"]


class MissingAgentSDKError(ImportError):
    """claude-agent-sdk (the optional extra ``agent``) is not installed."""


def _require_sdk() -> None:
    try:
        import claude_agent_sdk  # noqa: F401
    except ImportError:
        raise MissingAgentSDKError(f"mac agent-server needs claude-agent-sdk: {INSTALL_HINT}") from None


def __getattr__(name: str) -> Any:
    # Importing the plugin (as `mac` does at startup) must not need the optional SDK.
    if name == "AgentServer":
        _require_sdk()
        from .runner import AgentServer

        return AgentServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def mac_register_commands(cli: click.Group) -> None:
    """Add ``mac agent-server``."""
    cli.add_command(agent_server_command)


@click.command("agent-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    default=3000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port for HTTP and WebSocket.",
)
@click.option(
    "--workspace",
    required=True,
    type=click.Path(exists=True, file_okay=False, resolve_path=True),
    help="The directory the agent works in; its tools cannot leave it.",
)
@click.option(
    "--token",
    envvar="MAC_AGENT_TOKEN",
    default=None,
    help="Bearer token clients must send (prefer the MAC_AGENT_TOKEN variable: arguments show in `ps`).",
)
@click.option(
    "--allow-bash",
    is_flag=True,
    help="Let the agent run shell commands (Bash, Monitor, PowerShell and their companions); "
    "they are NOT confined to the workspace.",
)
@click.option(
    "--allow-origin",
    "allowed_origins",
    multiple=True,
    help="A browser origin allowed to connect (repeatable).",
)
@click.option(
    "--request-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Seconds a client has to send a whole HTTP request or WebSocket upgrade before it is closed.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Open connections beyond which the oldest idle ones are closed.",
)
def agent_server_command(
    host: str,
    port: int,
    workspace: str,
    token: str | None,
    allow_bash: bool,
    allowed_origins: tuple[str, ...],
    request_timeout: float,
    max_connections: int,
) -> None:
    """Serve the agent-over-WebSocket protocol, backed by claude-agent-sdk.

    The model backend comes from the environment (ANTHROPIC_API_KEY,
    ANTHROPIC_BASE_URL). Ctrl-C stops the server and the agent.
    """
    try:
        _require_sdk()
    except MissingAgentSDKError as exc:
        raise click.ClickException(str(exc)) from None
    from .app import ServerSettings
    from .runner import is_loopback, serve

    if (
        token is not None
    ):  # a token with a newline or NUL would be compared, logged and sent mangled: refuse it
        source = "MAC_AGENT_TOKEN" if os.environ.get("MAC_AGENT_TOKEN") == token else "--token"
        try:
            token = check_secret(token, source)
        except MalformedSecretError as exc:
            raise click.UsageError(str(exc)) from None
    if not is_loopback(host) and not token:
        raise click.UsageError(
            f"--host {host} is reachable from other machines: set a token (MAC_AGENT_TOKEN or --token)"
        )
    from mac_core.cli import check_can_listen

    check_can_listen(host, port)
    settings = ServerSettings(
        workspace=workspace,
        token=token or None,
        allow_shell=allow_bash,
        allowed_origins=allowed_origins,
        request_timeout=request_timeout,
        max_connections=max_connections,
    )

    def announce(url: str) -> None:
        click.echo(f"mac agent-server: {url} (WebSocket {'ws' + url[4:]}/ws)", err=True)
        click.echo(
            f"  workspace {workspace}; token {'required' if token else 'not required'}; Ctrl-C to stop",
            err=True,
        )
        if not is_loopback(host):
            click.echo("  warning: plain http/ws: put a TLS proxy in front before exposing it", err=True)

    serve(settings, host=host, port=port, announce=announce)
