"""The ``inner="agent"`` work of a Ray worker: one Claude Agent SDK turn per task, confined to the workspace.

The agent is built by :class:`~mac_plugins.agent_server.confinement.ConfinedAgent`,
the implementation ``mac agent-server`` uses: the workspace as ``cwd``,
``acceptEdits``, the prompt's ``allowedTools`` narrowed to the server's
allow-list, every tool call through the ``PreToolUse`` guard, no filesystem
settings or local MCP servers, prompts taken verbatim. Its messages become
events exactly as the ``agent-ws`` transport reads them (:class:`~mac_plugins.agent_ws.turn.TurnReader`),
so policies and reporters see the same thing from either.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
from mac_plugins.agent_server.config import ConfigError, QueryConfig
from mac_plugins.agent_server.confinement import ConfinedAgent, WorkspaceGuard

from mac_core import ClientSettings, Completion, Event, Transport, TransportError
from mac_core.run import Task

from .options import AGENT_TASK_OPTIONS

#: Seconds the CLI has to start and initialise.
START_TIMEOUT = 90.0
#: Seconds a turn cut short has to acknowledge its interrupt before the CLI is closed anyway.
STOP_INTERRUPT_TIMEOUT = 2.0


def query_config(task: Task) -> QueryConfig:
    """The agent's configuration for ``task``: its agent fields, model and system prompt, checked.

    :raises TransportError: naming the malformed field (``invalid_request_error``), before the agent starts.
    """
    body: dict[str, Any] = {key: task.options[key] for key in AGENT_TASK_OPTIONS if key in task.options}
    body["model"] = task.model
    if "systemPrompt" not in body and task.system is not None:
        system = task.system
        body["systemPrompt"] = system if isinstance(system, str) else "\n\n".join(b["text"] for b in system)
    try:
        return QueryConfig.parse(body)
    except ConfigError as exc:
        raise TransportError(f"task {task.name}: {exc}", error_type="invalid_request_error") from None


class ConfinedAgentTransport(Transport):
    """Runs each task as one turn of a confined Agent SDK session on this process (a Ray worker).

    :param settings: the run's client settings (key and base URL go to the CLI's environment).
    :param workspace: the directory the agent works in and may not leave.
    :param allow_shell: let shell tools through, unconfined (the operator's ``--allow-bash``).
    """

    name = "ray-agent"
    streams = True
    needs_api_key = False
    task_options = AGENT_TASK_OPTIONS

    def __init__(self, settings: ClientSettings, workspace: str | None, allow_shell: bool) -> None:
        super().__init__(settings)
        if not workspace:
            raise TransportError("the agent's workspace is not set", error_type="invalid_request_error")
        self.guard = WorkspaceGuard(workspace, allow_shell=allow_shell)
        self.env: dict[str, str] = {}
        if settings.base_url:
            self.env["ANTHROPIC_BASE_URL"] = settings.base_url
        if settings.api_key:
            self.env["ANTHROPIC_API_KEY"] = settings.api_key.reveal()

    async def run_task(self, task: Task, emit) -> Completion:
        from claude_agent_sdk import ClaudeSDKClient
        from mac_plugins.agent_server.wire import sdk_message
        from mac_plugins.agent_ws.turn import TurnReader

        if not self.guard.workspace.is_dir():
            raise TransportError(
                f"the workspace {self.guard.workspace} is not a directory on this worker",
                error_type="invalid_request_error",
            )
        agent = ConfinedAgent(
            query_config(task), self.guard, env=self.env, stderr=lambda line: emit(Event("info", text=line))
        )
        reader = TurnReader(emit)
        client = ClaudeSDKClient(agent.options())
        ended = False
        try:
            with anyio.fail_after(START_TIMEOUT):
                await client.connect()
            await client.query(task.prompt)
            async for message in client.receive_response():
                data = sdk_message(message, reader.session_id or "")
                if data is not None and reader.feed(
                    json.dumps({"type": "sdk_message", "data": data}, default=str)
                ):
                    ended = True
                    break
        except TimeoutError:
            raise TransportError(
                f"the agent did not start within {START_TIMEOUT:g} s", error_type="timeout"
            ) from None
        except TransportError:
            raise
        except Exception as exc:
            raise TransportError(
                f"the agent process failed: {type(exc).__name__}: {exc}", error_type="agent_error"
            ) from None
        finally:
            with anyio.CancelScope(shield=True):
                if not ended:  # cut short: a CLI mid-turn ignores the end of its input for 5 s
                    with anyio.move_on_after(STOP_INTERRUPT_TIMEOUT):
                        try:
                            await client.interrupt()
                        except Exception:
                            pass
                try:
                    await client.disconnect()
                except Exception:
                    pass
        if not ended:
            raise TransportError("the agent process ended before its turn's result", error_type="agent_error")
        return reader.completion()
