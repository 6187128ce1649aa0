"""The ``agent-ws`` transport: one task is one agent turn over the agent-over-WebSocket protocol.

A task: ``POST /config`` (the task's agent options), open ``/ws``, wait for
``connected``, send the prompt as a ``user_message``, read frames until the
turn's ``result`` (see :mod:`.turn` for the events), close.

Guarantees, beyond the protocol:

* **One connection per server at a time.** The reference server refuses a
  second connection, so the tasks of a run take turns (a fan-out with
  ``max_concurrency > 1`` queues instead of being refused). A connection
  refused as busy (another process, or the server not yet done with our last
  one) is retried until ``connect_timeout``.
* **Interrupt.** When the engine cancels the task, the transport sends
  ``{"type": "interrupt"}`` and waits up to ``interrupt_timeout`` (shielded) for
  the turn's ``result``, emitting the text that still arrives. An interrupt
  sent before the agent is up (before its first SDKMessage, normally
  ``system/init``) may be dropped by the SDK, so it is re-sent once, when the
  agent is up. No ``result`` in time: a warning is logged ("not acknowledged")
  and the connection closed. Never a hang.
* **Dropped connection.** The server keeps the query running, so the transport
  reconnects (for up to ``reconnect_timeout``, at most ``MAX_RESUMES`` times a
  turn) and reads on without re-sending the prompt; a server that kept
  the frames (the simulator) delivers the rest of the turn. No connection back
  in time: :class:`~mac_core.TransportError`, the text received so far kept.
* **Leftovers.** A turn left without its ``result`` (drop, unacknowledged
  interrupt, timeout) may still send frames to the next connection; the next
  task to the same URL first skips frames up to that many ``result`` s (each
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

from mac_core import Transport, TransportError

from .options import AgentOptions
from .turn import TurnReader

log = logging.getLogger("mac_plugins.agent_ws")

#: Prompt fields that become ``QueryConfig`` fields in ``POST /config``.
AGENT_TASK_OPTIONS = frozenset({"allowedTools", "systemPrompt", "agents", "mcpServers", "includePartialMessages"})
MAX_FRAME_BYTES = 64 * 2**20  # tool results can carry whole files
MAX_RESUMES = 3  #: reconnects per turn, so a server that keeps dropping cannot loop forever
_unfinished_turns: dict[str, int] = {}  # ws URL -> turns this process left without their result


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


def user_message(prompt: str) -> str:
    """The ``user_message`` frame that sends ``prompt``."""
    message = {"role": "user", "content": prompt}
    data = {"type": "user", "message": message, "parent_tool_use_id": None, "session_id": ""}
    return json.dumps({"type": "user_message", "data": data})


def _refused(status: int, where: str, has_token: bool) -> TransportError:
    reason = "refused the token" if has_token else "requires a token (pass token=...)"
    return TransportError(
        f"the agent server {reason}: HTTP {status} at {where}", status_code=status, error_type="authentication_error"
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


def _is_result(raw: str | bytes) -> bool:
    try:
        frame = json.loads(raw)
    except ValueError:
        return False
    data = frame.get("data") if isinstance(frame, dict) else None
    return isinstance(data, dict) and data.get("type") == "result"


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
        self.settings = dataclasses.replace(self.settings, transport_options=hidden)  # no plain token in reprs

    async def open(self) -> None:
        self._lock = anyio.Lock()
        self._http = httpx2.AsyncClient(
            timeout=self.options.connect_timeout, trust_env=not self.options.loopback, follow_redirects=False
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def _headers(self) -> dict[str, str]:
        token = self.options.token
        return {"Authorization": f"Bearer {token.reveal()}"} if token is not None else {}

    async def run_task(self, task, emit):
        async with self._lock:  # the server takes one connection at a time
            await self._post_config(query_config(task, self.options))
            return await AgentTurn(self, emit).run(task.prompt)

    async def _post_config(self, config: dict[str, Any]) -> None:
        url = self.options.config_url
        try:
            response = await self._http.post(url, json=config, headers=self._headers())
        except httpx2.ConnectError as exc:
            tls = _tls_failure(exc)
            if tls is not None:
                raise TransportError(f"TLS with {url} failed: {tls}", error_type="tls_error") from None
            raise TransportError(
                f"cannot reach the agent server at {url}: connection refused or host unreachable (is it running?)",
                error_type="connection_error",
            ) from None
        except httpx2.TimeoutException:
            raise TransportError(
                f"no answer from the agent server at {url} within {self.options.connect_timeout:g} s",
                error_type="timeout",
            ) from None
        except httpx2.HTTPError as exc:
            raise TransportError(f"POST {url} failed: {type(exc).__name__}", error_type="connection_error") from None
        if response.status_code in (401, 403):
            raise _refused(response.status_code, url, self.options.token is not None)
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

    async def connect(self) -> ClientConnection:
        """Open ``/ws`` and wait for ``connected``, retrying while the server is busy; bounded by connect_timeout."""
        timeout = self.options.connect_timeout
        delay = 0.05
        busy = None
        try:
            with anyio.fail_after(timeout):
                while True:
                    ws = await self._open_ws()
                    try:
                        first = json.loads(await ws.recv())
                    except ConnectionClosed:
                        first = {"type": "closed"}
                    except ValueError:
                        first = None
                    except BaseException:  # cancelled or timed out: leave no connection holding the server
                        with anyio.move_on_after(2, shield=True):
                            await ws.close()
                        raise
                    if not isinstance(first, dict):
                        first = {"type": "non-JSON"}
                    if first.get("type") == "connected":
                        return ws
                    await ws.close()
                    error = str(first.get("error") or "")
                    if "active connection" not in error.lower():
                        what = f"error: {error}" if error else f"a {first.get('type')!r} frame instead of 'connected'"
                        raise TransportError(
                            f"the agent server at {self.options.ws_url} answered with {what}", error_type="protocol_error"
                        )
                    busy = error
                    await anyio.sleep(delay)
                    delay = min(delay * 2, 0.5)
        except TimeoutError:
            why = f"busy ({busy})" if busy else "no 'connected' frame"
            raise TransportError(
                f"could not connect to the agent at {self.options.ws_url} within {timeout:g} s: {why}",
                error_type="timeout",
            ) from None

    async def _open_ws(self) -> ClientConnection:
        url = self.options.ws_url
        try:
            return await connect(
                url,
                additional_headers=self._headers(),
                open_timeout=None,  # bounded by connect()'s deadline
                proxy=None if self.options.loopback else True,
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
            raise TransportError(f"TLS with {url} failed: {_tls_failure(exc)}", error_type="tls_error") from None
        except OSError as exc:
            raise TransportError(
                f"cannot connect to the agent at {url}: {exc.strerror or type(exc).__name__} (is it running?)",
                error_type="connection_error",
            ) from None
        except InvalidHandshake as exc:
            raise TransportError(
                f"{url} did not complete a WebSocket handshake ({type(exc).__name__}): is this an agent server?",
                error_type="protocol_error",
            ) from None


class AgentTurn:
    """One task's conversation with the agent server: connect, send, read, interrupt, resume."""

    def __init__(self, transport: AgentWSTransport, emit) -> None:
        self.transport = transport
        self.options = transport.options
        self.reader = TurnReader(emit)
        self.ws: ClientConnection | None = None
        self.sent = False
        self.resumes = 0

    async def run(self, prompt: str):
        """Carry one turn out and return its :class:`~mac_core.Completion`."""
        try:
            self.ws = await self.transport.connect()
            await self._skip_leftovers()
            self.sent = True  # from here the server may have a turn running for us
            await self.ws.send(user_message(prompt))
            while True:
                try:
                    frame = await self._recv(self.options.idle_timeout)
                except ConnectionClosed as closed:
                    await self._resume(closed)
                    continue
                if self.reader.feed(frame):
                    return self.reader.completion()
        except ConnectionClosed as closed:
            raise TransportError(f"the agent server closed the connection ({closed})", error_type="connection_error") from None
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._interrupt()
            raise
        finally:
            if self.sent and self.reader.result is None:
                _unfinished_turns[self.options.ws_url] = _unfinished_turns.get(self.options.ws_url, 0) + 1
            if self.ws is not None:
                with anyio.move_on_after(2, shield=True):
                    await self.ws.close()

    async def _recv(self, timeout: float) -> str | bytes:
        assert self.ws is not None
        try:
            with anyio.fail_after(timeout):
                return await self.ws.recv()
        except TimeoutError:
            raise TransportError(
                f"no message from the agent for {timeout:g} s", error_type="timeout"
            ) from None

    async def _skip_leftovers(self) -> None:
        """Read past the frames of turns an earlier task left without their result."""
        url = self.options.ws_url
        pending = _unfinished_turns.pop(url, 0)
        skipped = 0
        while pending:
            with anyio.move_on_after(self.options.interrupt_timeout) as quiet:
                raw = await self.ws.recv()  # type: ignore[union-attr]
            if quiet.cancelled_caught:
                break  # the server kept nothing more
            skipped += 1
            if _is_result(raw):
                pending -= 1
        if skipped:
            log.debug("agent-ws: skipped %d frames left over from an earlier turn at %s", skipped, url)

    async def _resume(self, closed: ConnectionClosed) -> None:
        """Get the connection back after a drop, or raise with what happened."""
        timeout = self.options.reconnect_timeout
        what = f"the connection to the agent dropped mid-turn ({closed})"
        if timeout <= 0:
            raise TransportError(what, error_type="connection_error")
        self.resumes += 1
        if self.resumes > MAX_RESUMES:
            raise TransportError(f"{what}, for the {self.resumes}th time; giving up", error_type="connection_error")
        log.info("agent-ws: %s; reconnecting for up to %g s", what, timeout)
        self.ws = None
        with anyio.move_on_after(timeout):
            while True:
                try:
                    self.ws = await self.transport.connect()
                    log.info("agent-ws: reconnected to %s; reading on", self.options.ws_url)
                    return
                except TransportError as exc:
                    if exc.error_type == "authentication_error":
                        raise
                    await anyio.sleep(0.2)
        raise TransportError(f"{what} and did not come back within {timeout:g} s", error_type="connection_error")

    async def _interrupt(self) -> None:
        """Ask the agent to stop and wait (bounded) for the turn's ``result``; runs shielded."""
        if not self.sent or self.reader.result is not None:
            return
        timeout = self.options.interrupt_timeout
        if self.ws is None:
            log.warning("agent-ws: interrupt not delivered: no connection to %s", self.options.ws_url)
            return
        resent = self.reader.agent_up
        try:
            with anyio.move_on_after(timeout):
                await self.ws.send(json.dumps({"type": "interrupt"}))
                if not resent:
                    log.debug("agent-ws: interrupt sent before the agent was up; will re-send once it is")
                while True:
                    ended = self.reader.feed(await self.ws.recv())
                    if ended:
                        log.debug("agent-ws: interrupt acknowledged (%s)", self.reader.result.get("subtype"))
                        return
                    if not resent and self.reader.agent_up:
                        await self.ws.send(json.dumps({"type": "interrupt"}))
                        resent = True
                        log.debug("agent-ws: agent is up; interrupt re-sent")
        except (ConnectionClosed, TransportError) as exc:
            log.warning("agent-ws: interrupt not acknowledged: %s", exc)
            return
        log.warning(
            "agent-ws: interrupt not acknowledged within %g s by %s; closing (the turn may still run on the server)",
            timeout,
            self.options.ws_url,
        )
