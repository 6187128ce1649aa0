"""The HTTP and WebSocket side: ``/config``, ``/ws``, and the checks in front of them.

Every request passes :class:`AccessGuard` first: a browser ``Origin`` that
was not allowed gets 403 (so a web page cannot drive a loopback agent), and
when a token is set, a missing ``Authorization: Bearer`` gets 401 and a
wrong one 403, compared in constant time, before any route runs. For the
WebSocket that refusal is the HTTP answer to the upgrade. Before that, the
server (:mod:`mac_core.serving`) closes a connection whose request does not
arrive within ``request_timeout`` and keeps at most ``max_connections`` open,
so clients that never finish a request cannot lock out the real one. JSON
nested too deeply is refused like any other invalid JSON.

Beyond the reference server's routes: ``GET /query`` reports the running
query (``running``, the ``config`` it started with, ``connected``,
``keeps_frames``), and ``DELETE /query`` ends it (409 while a client is
connected), so the next connection starts a fresh query with the
configuration posted last. The ``agent-ws`` transport uses them to run each
task with its own model and tools.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from mac_core.serving import ConnectionLimits, JSONTooDeepError, load_json

from .config import ConfigError, QueryConfig
from .confinement import WorkspaceGuard
from .session import AgentSession, ClientFactory, Outbox
from .wire import frame

log = logging.getLogger("mac_plugins.agent_server")

CONNECTED = frame("connected")
BUSY = "Server already has an active connection"
CLOSE_TRY_AGAIN_LATER = 1013
END_QUERY_TIMEOUT = 10.0
"""How long ``DELETE /query`` waits for the old query's CLI to stop."""


@dataclass
class ServerSettings:
    """What the operator decides; a client cannot change any of it.

    :param workspace: the directory the agent works in and may not leave.
    :param token: the bearer token clients must present, or ``None``.
    :param env: extra environment for the CLI child (``ANTHROPIC_BASE_URL``…).
    :param allow_shell: give the agent shell tools if ``allowedTools`` names them.
    :param allowed_origins: browser origins allowed to connect (none by default).
    :param max_body_bytes: the largest ``/config`` body.
    :param buffer_bytes: the outbox bound (frames kept while no client reads).
    :param progress_interval: seconds between ``tool_progress`` messages while a tool runs.
    :param request_timeout: seconds a client has to send a whole HTTP request
        (the WebSocket upgrade included) before its connection is closed.
    :param max_connections: open connections beyond which the oldest one not
        being answered is closed.
    :param client_factory: makes the SDK client from its options; ``None`` is
        ``ClaudeSDKClient`` (tests pass a fake).
    """

    workspace: str
    token: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    allow_shell: bool = False
    allowed_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1 << 20
    buffer_bytes: int = 16 << 20
    progress_interval: float = 5.0
    request_timeout: float = 5.0
    max_connections: int = 64
    client_factory: ClientFactory | None = None

    def __repr__(self) -> str:
        token = "set" if self.token else "none"
        return f"ServerSettings(workspace={self.workspace!r}, token={token}, allow_shell={self.allow_shell})"


class ServerState:
    """The one configuration, the one session, the one connection."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.guard = WorkspaceGuard(settings.workspace, allow_shell=settings.allow_shell)
        self.config = QueryConfig()
        self.outbox = Outbox(settings.buffer_bytes)
        self.session: AgentSession | None = None
        self.connection: WebSocket | None = None
        self.tasks: TaskGroup | None = None
        self._session_scope: anyio.CancelScope | None = None
        self._session_ended: anyio.Event | None = None

    @property
    def running(self) -> bool:
        """A query is running (started by a connection, not yet ended)."""
        return self.session is not None and not self.session.finished

    def session_for_connection(self) -> AgentSession:
        """The running session, or a new one started with the configuration of this moment."""
        if not self.running:
            self.session = AgentSession(
                self.config,
                self.guard,
                self.outbox,
                env=self.settings.env,
                client_factory=self.settings.client_factory,
                progress_interval=self.settings.progress_interval,
            )
            assert self.tasks is not None, "the app's lifespan has not started"
            self._session_scope, self._session_ended = anyio.CancelScope(), anyio.Event()
            self.tasks.start_soon(self._run_session, self.session, self._session_scope, self._session_ended)
        assert self.session is not None
        return self.session

    async def _run_session(self, session: AgentSession, scope: anyio.CancelScope, ended: anyio.Event) -> None:
        try:
            with scope:
                await session.run()
        finally:
            ended.set()

    async def end_query(self, timeout: float = END_QUERY_TIMEOUT) -> bool:
        """End the running query (its turn interrupted, its CLI closed); frames it left are dropped.

        :return: whether a query was running.
        """
        was_running = self.running
        if self._session_scope is not None and self._session_ended is not None:
            self._session_scope.cancel()
            with anyio.move_on_after(timeout):
                await self._session_ended.wait()
        self.session = None
        # The old query's undelivered frames are not the next one's.
        self.outbox = Outbox(self.settings.buffer_bytes)
        return was_running


class AccessGuard:
    """ASGI middleware: origin check, then bearer token, for HTTP and WebSocket alike."""

    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.app = app
        self.token = settings.token.encode() if settings.token else None
        self.allowed_origins = frozenset(settings.allowed_origins)
        # Read by mac_core.serving when it builds the server.
        self.connection_limits = ConnectionLimits(settings.request_timeout, settings.max_connections)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        origin = headers.get("origin")
        if origin is not None and origin.decode("latin-1") not in self.allowed_origins:
            return await _refuse(scope, send, 403, "Origin not allowed")
        if self.token is not None:
            presented = _bearer(headers.get("authorization"))
            if presented is None:
                return await _refuse(scope, send, 401, "Missing bearer token")
            if not hmac.compare_digest(presented, self.token):
                return await _refuse(scope, send, 403, "Invalid bearer token")
        await self.app(scope, receive, send)


def _bearer(header: bytes | None) -> bytes | None:
    if header is None:
        return None
    scheme, _, value = header.partition(b" ")
    if scheme.lower() != b"bearer" or not value.strip():
        return None
    return value.strip()


async def _refuse(scope: Scope, send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:  # a server without denial responses answers 403 to a close before accept
        await send({"type": "websocket.close", "code": 1008})


async def _read_body(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(settings: ServerSettings) -> ASGIApp:
    """The ASGI application: the protocol's routes behind :class:`AccessGuard`."""
    state = ServerState(settings)

    async def post_config(request: Request) -> JSONResponse:
        body = await _read_body(request, settings.max_body_bytes)
        if body is None:
            return JSONResponse(
                {"error": f"Request body too large (limit {settings.max_body_bytes} bytes)"}, 413
            )
        try:
            decoded = load_json(body)
        except JSONTooDeepError as exc:
            return JSONResponse({"error": f"Invalid JSON: {exc}"}, 400)
        except ValueError:
            return JSONResponse({"error": "Invalid JSON"}, 400)
        try:
            state.config = QueryConfig.parse(decoded)
        except ConfigError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        for warning in state.config.warnings:
            log.warning("/config: %s", warning)
        if state.running:
            log.info("configuration stored; the running query keeps the one it started with")
        answer: dict[str, Any] = {"success": True, "config": state.config.shown}
        if state.config.warnings:
            answer["warnings"] = list(state.config.warnings)
        return JSONResponse(answer)

    async def get_config(request: Request) -> JSONResponse:
        return JSONResponse({"config": state.config.shown})

    async def get_query(request: Request) -> JSONResponse:
        session = state.session if state.running else None
        return JSONResponse(
            {
                "running": session is not None,
                "config": session.config.shown if session is not None else None,
                "connected": state.connection is not None,
                "keeps_frames": True,
            }
        )

    async def delete_query(request: Request) -> JSONResponse:
        if state.connection is not None:
            return JSONResponse({"error": "a client is connected; its query cannot be ended"}, 409)
        ended = await state.end_query()
        log.info("query ended by DELETE /query; the next connection starts a fresh one")
        return JSONResponse({"success": True, "ended": ended})

    async def agent_socket(websocket: WebSocket) -> None:
        if state.connection is not None:
            await websocket.accept()
            await websocket.send_text(frame("error", error=BUSY))
            await websocket.close(CLOSE_TRY_AGAIN_LATER)
            return
        state.connection = websocket
        try:
            await websocket.accept()
            await websocket.send_text(CONNECTED)
            session = state.session_for_connection()
            sending = anyio.Lock()
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(_deliver, websocket, state.outbox, sending)
                await _receive(websocket, session, sending)
                tasks.cancel_scope.cancel()
        finally:
            state.connection = None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            state.tasks = tasks
            yield
            # Cancelling the session stops the CLI child (its disconnect is shielded and bounded).
            tasks.cancel_scope.cancel()

    app = Starlette(
        routes=[
            Route("/config", post_config, methods=["POST"]),
            Route("/config", get_config, methods=["GET"]),
            Route("/query", get_query, methods=["GET"]),
            Route("/query", delete_query, methods=["DELETE"]),
            WebSocketRoute("/ws", agent_socket),
        ],
        lifespan=lifespan,
    )
    app.state.agent = state
    return AccessGuard(app, settings)


async def _deliver(websocket: WebSocket, outbox: Outbox, sending: anyio.Lock) -> None:
    """Send the outbox to this connection until it drops; an unsent frame stays for the next one."""
    while True:
        text = await outbox.peek()
        try:
            async with sending:
                await websocket.send_text(text)
        except Exception:
            return
        outbox.pop()


async def _receive(websocket: WebSocket, session: AgentSession, sending: anyio.Lock) -> None:
    """Read client frames until the connection closes, handing each to the session."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        problem = _dispatch(message.get("text"), session)
        if problem:
            async with sending:
                await websocket.send_text(frame("error", error=problem))


def _dispatch(text: str | None, session: AgentSession) -> str | None:
    """Act on one client frame; the error to send back, if any."""
    if text is None:
        return "Invalid message: frames must be JSON text"
    try:
        message = load_json(text)
    except JSONTooDeepError as exc:
        return f"Invalid JSON: {exc}"
    except ValueError:
        return "Invalid JSON"
    kind = message.get("type") if isinstance(message, dict) else None
    if kind == "user_message":
        try:
            user = user_message(message.get("data"))
        except ValueError as exc:
            return f"Invalid user_message: {exc}"
        return session.submit("user", user)
    if kind == "interrupt":
        return session.submit("interrupt")
    return f"Unknown message type: {kind!r}"


def user_message(data: Any) -> dict[str, Any]:
    """A clean SDKUserMessage for the CLI from the client's ``data``; ``ValueError`` says what is wrong."""
    if not isinstance(data, dict) or data.get("type", "user") != "user":
        raise ValueError('data must be {"type": "user", "message": {"role": "user", "content": ...}}')
    message = data.get("message")
    if not isinstance(message, dict) or message.get("role", "user") != "user":
        raise ValueError('data.message must be {"role": "user", "content": ...}')
    content = message.get("content")
    if not (
        isinstance(content, str) or (isinstance(content, list) and all(isinstance(b, dict) for b in content))
    ):
        raise ValueError("data.message.content must be a string or a list of content blocks")
    clean: dict[str, Any] = {
        "type": "user",
        "message": {"role": "user", "content": content},
        "parent_tool_use_id": data.get("parent_tool_use_id"),
        "session_id": data.get("session_id") or "default",
    }
    if isinstance(data.get("uuid"), str):
        clean["uuid"] = data["uuid"]
    return clean
