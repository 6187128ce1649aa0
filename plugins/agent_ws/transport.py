"""The ``agent-ws`` transport: one task is one agent turn over the agent-over-WebSocket protocol.

A task: take a free server (:mod:`.servers`), ``POST /config`` (the task's
agent options), make sure the server's query runs with them, open ``/ws``,
wait for ``connected``, send the prompt as a ``user_message``, read frames
until the turn's ``result`` (see :mod:`.turn`), close.

Guarantees, beyond the protocol (``docs/agent-protocol.md`` has the why):

* **One connection per server at a time.** A server takes one connection,
  so the tasks of a run take turns on it; with ``urls``, each task goes to
  the first free server. A connection refused as busy (another process) is
  retried until ``connect_timeout``. Frames before ``connected`` (the
  reference server's ``info`` "Spawning Claude Code process…", or kinds this
  client does not know) are skipped.
* **The task's configuration, or none.** Both servers apply ``/config`` only
  to the query their first connection starts. A server that reports its
  query (``GET /query``: ``mac agent-server``, the simulator) and runs one
  with other options is asked to end it (``DELETE /query``) so the task's
  connection starts a fresh one. A server that does not (the reference
  server) cannot start another query: the transport remembers the options of
  the query its own connection started (the one that got frames before
  ``connected``) and fails a task whose options differ, or whose server's
  query it did not start, with ``invalid_request_error`` before the prompt
  is sent.
* **Interrupt.** When the engine cancels the task, the transport sends
  ``{"type": "interrupt"}`` and waits up to ``interrupt_timeout`` (shielded) for
  the turn's ``result``, emitting the text that still arrives. An interrupt
  sent before the agent is up (before its first SDKMessage, normally
  ``system/init``) may be dropped by the SDK, so it is re-sent once, when the
  agent is up. No ``result`` in time: a warning is logged ("not acknowledged")
  and the connection closed. Never a hang.
* **Dropped connection.** The server keeps the query running, so the transport
  reconnects (for up to ``reconnect_timeout``, at most ``MAX_RESUMES`` times a
  turn) and reads on without re-sending the prompt. A server that keeps the
  frames of an absent client (it says so in ``GET /query``) delivers the rest
  of the turn. One that does not (the reference server) may have lost the
  turn's end: if no frame comes within ``resume_timeout`` of the reconnect,
  or the server restarted meanwhile, the task fails with ``connection_error``
  at once, its text kept, instead of after ``idle_timeout``. No connection
  back in time: the server is gone (:class:`~.servers.ServerGone`).
* **A server that dies** (with ``urls``): it leaves the rotation, and its
  task is re-run once on another server if the agent had not used a tool
  yet (``tool_use``): a turn that may have changed files is not run twice;
  it fails, saying so. Usage received from the dead server is kept.
  :attr:`TaskResult.server <mac_core.TaskResult.server>` names the server
  that ran (or failed) each task.
* **Leftovers.** A turn left without its ``result`` (drop, unacknowledged
  interrupt, timeout) may still send frames to the next connection; the next
  task to the same server first skips frames up to that many ``result`` s (each
  wait bounded by ``interrupt_timeout``), so it never mistakes them for its own.
* **Timeouts** on /config and the upgrade and ``connected``
  (``connect_timeout``), and between frames (``idle_timeout``).
* **Secrets.** The token goes only into ``Authorization: Bearer`` headers;
  it never appears in reprs, logs or error messages. A token or key with a
  control character, inner whitespace or non-ASCII is refused before any
  connection (:func:`mac_core.credentials.check_secret`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import ssl
from typing import Any

import anyio
import httpx2
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from mac_core import Event, Transport, TransportError, Usage

from .options import AgentOptions, AgentServerAddress
from .servers import ServerGone, ServerPool, unfinished_turns
from .turn import AgentTurn

log = logging.getLogger("mac_plugins.agent_ws")

#: Prompt fields that become ``QueryConfig`` fields in ``POST /config``.
AGENT_TASK_OPTIONS = frozenset(
    {"allowedTools", "systemPrompt", "agents", "mcpServers", "includePartialMessages"}
)
MAX_FRAME_BYTES = 64 * 2**20  # tool results can carry whole files
_unfinished_turns = unfinished_turns  # the tests' name for it


def query_config(task, options: AgentOptions) -> dict[str, Any]:
    """The ``QueryConfig`` for ``task``: its agent options, model and system prompt."""
    config = {key: task.options[key] for key in AGENT_TASK_OPTIONS if key in task.options}
    config["model"] = task.model
    if "systemPrompt" not in config and task.system is not None:
        system = task.system
        config["systemPrompt"] = system if isinstance(system, str) else "\n\n".join(b["text"] for b in system)
    if options.anthropic_api_key is not None:
        config["anthropicApiKey"] = options.anthropic_api_key.reveal()
    return config


def _refused(status: int, where: str, has_token: bool) -> TransportError:
    reason = "refused the token" if has_token else "requires a token (pass token=...)"
    return TransportError(
        f"the agent server {reason}: HTTP {status} at {where}",
        status_code=status,
        error_type="authentication_error",
    )


class _RedactingLogger(logging.LoggerAdapter):
    """websockets' debug log of the handshake, with the Authorization header masked."""

    def log(self, level, msg, *args, **kwargs):
        if len(args) == 2 and str(args[0]).lower() == "authorization":
            args = (args[0], "********")
        super().log(level, msg, *args, **kwargs)


_websockets_log = _RedactingLogger(logging.getLogger("websockets.client"), {})


def _tls_failure(exc: BaseException) -> str | None:
    """The TLS error behind ``exc`` (a certificate that does not verify…), or ``None``."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return str(getattr(seen, "verify_message", None) or seen.reason or seen)
        seen = seen.__cause__ or seen.__context__
    return None


class AgentWSTransport(Transport):
    """Delegates each task to a tool-enabled agent server over WebSocket (see the module docstring).

    ``transport_options`` keys are documented in :mod:`mac_plugins.agent_ws.options`;
    prompts may set ``allowedTools``, ``systemPrompt``, ``agents``,
    ``mcpServers`` and ``includePartialMessages`` (sent in ``/config``), and
    ``model`` and ``system`` as usual.
    """

    name = "agent-ws"
    streams = True
    needs_api_key = False
    task_options = AGENT_TASK_OPTIONS

    options_type = AgentOptions

    def __init__(self, settings) -> None:
        super().__init__(settings)  # bad options fail here at the latest, before any connection
        self.options = AgentOptions.from_settings(self.settings)
        secrets = {"token": self.options.token, "anthropic_api_key": self.options.anthropic_api_key}
        hidden = {k: secrets.get(k, v) for k, v in self.settings.transport_options.items()}
        self.settings = dataclasses.replace(
            self.settings, transport_options=hidden
        )  # no plain token in reprs

    async def open(self) -> None:
        self._http = httpx2.AsyncClient(
            timeout=self.options.connect_timeout, trust_env=not self.options.loopback, follow_redirects=False
        )
        self.pool = ServerPool(self.options.servers)
        self._unreported: set[str] = set()  # servers that do not answer GET /query

    async def aclose(self) -> None:
        await self._http.aclose()

    def _headers(self) -> dict[str, str]:
        token = self.options.token
        return {"Authorization": f"Bearer {token.reveal()}"} if token is not None else {}

    async def run_task(self, task, emit):
        config = query_config(task, self.options)
        tried: list[str] = []
        earlier = Usage()
        while True:
            server = await self.pool.acquire(exclude=tried)
            turn = AgentTurn(self, server, emit, earlier_usage=earlier)
            try:
                completion = await turn.run(task.prompt, config)
                completion.server = server.name
                return completion
            except TransportError as exc:
                exc.server = server.name
                if not isinstance(exc, ServerGone) or not self.pool.mark_gone(server, str(exc)):
                    raise
                log.warning("agent-ws: %s is out of the rotation: %s", server.name, exc)
                if tried:
                    raise
                if turn.reader.acted:
                    raise ServerGone(
                        f"{exc}; not re-run on another server: the agent had already used a tool, "
                        "so the turn may have changed files",
                        error_type=exc.error_type,
                        server=server.name,
                    ) from None
                tried.append(server.name)
                earlier = turn.reader.usage
                emit(
                    Event(
                        "info",
                        text=f"agent server {server.name} is gone ({exc}); re-running the task elsewhere",
                    )
                )
            finally:
                self.pool.release(server)

    # --- HTTP: /config and /query -----------------------------------------------------

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx2.Response:
        try:
            response = await self._http.request(method, url, headers=self._headers(), **kwargs)
        except httpx2.ConnectError as exc:
            tls = _tls_failure(exc)
            if tls is not None:
                raise TransportError(f"TLS with {url} failed: {tls}", error_type="tls_error") from None
            raise ServerGone(
                f"cannot reach the agent server at {url}: connection refused or host unreachable (is it running?)",
                error_type="connection_error",
            ) from None
        except httpx2.TimeoutException:
            raise TransportError(
                f"no answer from the agent server at {url} within {self.options.connect_timeout:g} s",
                error_type="timeout",
            ) from None
        except httpx2.HTTPError as exc:
            raise ServerGone(
                f"{method} {url} failed: {type(exc).__name__}", error_type="connection_error"
            ) from None
        if response.status_code in (401, 403):
            raise _refused(response.status_code, url, self.options.token is not None)
        return response

    async def post_config(self, server: AgentServerAddress, config: dict[str, Any]) -> None:
        """``POST /config``; a refusal raises :class:`~mac_core.TransportError` with the server's reason."""
        url = server.config_url
        response = await self._request("POST", url, json=config)
        if response.status_code >= 300:
            try:
                detail = response.json().get("error")
            except (ValueError, AttributeError):
                detail = None
            raise TransportError(
                f"the agent server rejected the configuration at {url}: HTTP {response.status_code}"
                + (f": {detail}" if detail else ""),
                status_code=response.status_code,
            )

    async def query_state(self, server: AgentServerAddress) -> dict[str, Any] | None:
        """``GET /query``: the server's query (running, its config, keeps_frames), or ``None`` if it does not say."""
        if server.name in self._unreported:
            return None
        response = await self._request("GET", server.query_url)
        try:
            state = response.json() if response.status_code == 200 else None
        except ValueError:
            state = None
        if not isinstance(state, dict):
            self._unreported.add(server.name)  # the reference server answers 404 Not Found
            return None
        return state

    async def end_query(self, server: AgentServerAddress) -> None:
        """``DELETE /query``, so the next connection starts a fresh query; waits while a client is connected."""
        delay = 0.05
        try:
            with anyio.fail_after(self.options.connect_timeout):
                while True:
                    response = await self._request("DELETE", server.query_url)
                    if response.status_code != 409:
                        break
                    await anyio.sleep(delay)  # another client is connected; its turn ends first
                    delay = min(delay * 2, 0.5)
        except TimeoutError:
            raise TransportError(
                f"could not start a fresh query on {server.name} within {self.options.connect_timeout:g} s: "
                "another client stayed connected",
                error_type="timeout",
            ) from None
        if response.status_code >= 300:
            raise TransportError(
                f"the agent server at {server.name} refused to end its query: HTTP {response.status_code}",
                status_code=response.status_code,
            )

    # --- the WebSocket ------------------------------------------------------------------

    async def connect(self, server: AgentServerAddress) -> tuple[ClientConnection, bool]:
        """Open ``/ws`` and wait for ``connected``, retrying while the server is busy; bounded by connect_timeout.

        Frames before ``connected`` (``info``, kinds this client does not know) are skipped.
        :return: the connection, and whether frames came before ``connected``: on the
            reference server, the ``info`` of the agent process its query just spawned.
        """
        timeout = self.options.connect_timeout
        delay = 0.05
        busy = None
        try:
            with anyio.fail_after(timeout):
                while True:
                    ws = await self._open_ws(server)
                    try:
                        first, early = await _first_frame(ws)
                    except BaseException:  # cancelled or timed out: leave no connection holding the server
                        with anyio.move_on_after(2, shield=True):
                            await ws.close()
                        raise
                    if first.get("type") == "connected":
                        return ws, early > 0
                    await ws.close()
                    error = str(first.get("error") or "")
                    if "active connection" not in error.lower():
                        what = (
                            f"error: {error}"
                            if error
                            else f"a {first.get('type')!r} frame instead of 'connected'"
                        )
                        raise TransportError(
                            f"the agent server at {server.ws_url} answered with {what}",
                            error_type="protocol_error",
                        )
                    busy = error
                    await anyio.sleep(delay)
                    delay = min(delay * 2, 0.5)
        except TimeoutError:
            why = f"busy ({busy})" if busy else "no 'connected' frame"
            raise TransportError(
                f"could not connect to the agent at {server.ws_url} within {timeout:g} s: {why}",
                error_type="timeout",
            ) from None

    async def _open_ws(self, server: AgentServerAddress) -> ClientConnection:
        url = server.ws_url
        try:
            return await connect(
                url,
                additional_headers=self._headers(),
                open_timeout=None,  # bounded by connect()'s deadline
                proxy=None if server.loopback else True,
                max_size=MAX_FRAME_BYTES,
                close_timeout=2,
                logger=_websockets_log,  # its debug log prints request headers
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise _refused(status, url, self.options.token is not None) from None
            raise TransportError(
                f"the agent server refused the WebSocket upgrade at {url}: HTTP {status}", status_code=status
            ) from None
        except ssl.SSLError as exc:
            raise TransportError(
                f"TLS with {url} failed: {_tls_failure(exc)}", error_type="tls_error"
            ) from None
        except OSError as exc:
            raise ServerGone(
                f"cannot connect to the agent at {url}: {exc.strerror or type(exc).__name__} (is it running?)",
                error_type="connection_error",
            ) from None
        except InvalidHandshake as exc:
            raise TransportError(
                f"{url} did not complete a WebSocket handshake ({type(exc).__name__}): is this an agent server?",
                error_type="protocol_error",
            ) from None


async def _first_frame(ws: ClientConnection) -> tuple[dict[str, Any], int]:
    """The first frame that matters on a new connection (``connected`` or ``error``), and how many came before it."""
    early = 0
    while True:
        try:
            frame = json.loads(await ws.recv())
        except ConnectionClosed:
            return {"type": "closed"}, early
        except ValueError:
            return {"type": "non-JSON"}, early
        if not isinstance(frame, dict):
            return {"type": "non-JSON"}, early
        if frame.get("type") in ("connected", "error", "sdk_message"):
            return frame, early
        early += 1
        log.debug(
            "agent-ws: before 'connected', skipped a %r frame: %.200s",
            frame.get("type"),
            frame.get("data", ""),
        )
