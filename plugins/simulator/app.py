"""The simulator as one ASGI app: the Messages API, Message Batches and the agent protocol.

:func:`create_app` builds it. In front of every route, :class:`Front` checks
the API key on ``/v1/`` paths (401 without ``x-api-key`` or ``authorization:
Bearer``), refuses a browser ``Origin`` on the agent protocol's ``/config``
and ``/ws`` with 403 unless it is allowed (a web page must not drive an agent
that writes files), adds a ``request-id`` header to every response, answers
a crash with the API's 500 body, counts statuses and logs one line per
request at debug level. Unknown paths get the API's 404 body; ``/api/hello`` (Claude
Code's connectivity check) answers 200; ``GET /v1/_mac/stats`` answers the counters as JSON.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .batches import BatchStore
from .messages import count_message_tokens, create_message
from .models import model_routes
from .settings import SimulatorSettings, connection_limits
from .state import SimulatorState
from .streaming import AbortConnection
from .wire import ApiError, new_id

log = logging.getLogger("mac_plugins.simulator")


class Front:
    """ASGI middleware: authentication, browser origins, ``request-id``, crash answers, status counts, the log line.

    It is the outermost layer, and sends ``POST /v1/messages`` straight to its
    endpoint: every streamed event then passes one send wrapper instead of
    starlette's four.
    """

    def __init__(self, app: ASGIApp, state: SimulatorState) -> None:
        self.app = app
        self.state = state
        self.allowed_origins = frozenset(state.settings.allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and self._foreign_origin(scope):
            await _refuse_origin(scope, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = {"request_id": new_id("req"), "outcome": ""}
        scope["mac_sim"] = record
        request_id = record["request_id"].encode()
        self.state.stats.requests += 1
        status = 0
        began = time.monotonic()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                self.state.stats.statuses[status] += 1  # counted before the client can see the answer
                message = {**message, "headers": [*message.get("headers", ()), (b"request-id", request_id)]}
            await send(message)

        try:
            if self._foreign_origin(scope):
                await _refuse_origin(scope, send_with_id)
            elif scope["path"].startswith("/v1/") and not _authenticated(scope["headers"]):
                message = "x-api-key header is required (or authorization: Bearer)"
                await ApiError(401, message).response()(scope, receive, send_with_id)
            elif scope["path"] == "/v1/messages" and scope["method"] == "POST":
                await create_message(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        except AbortConnection:
            record["outcome"] += " connection dropped"
            raise
        except Exception:
            if status:
                raise
            log.exception("simulator request %s failed", record["request_id"])
            await ApiError(500, "Internal server error").response()(scope, receive, send_with_id)
        finally:
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "%s %s %s -> %s in %.3f s%s",
                    record["request_id"],
                    scope["method"],
                    scope["path"],
                    status or "no response",
                    time.monotonic() - began,
                    record["outcome"] and " " + record["outcome"],
                )

    def _foreign_origin(self, scope: Scope) -> bool:
        """Whether this is an agent-protocol request from a browser origin that was not allowed."""
        if scope["path"] not in AGENT_PATHS:
            return False
        origin = next((value for name, value in scope["headers"] if name == b"origin"), None)
        return origin is not None and origin.decode("latin-1") not in self.allowed_origins


AGENT_PATHS = ("/config", "/ws", "/query")
ORIGIN_REFUSED = b'{"error":"Origin not allowed"}'


async def _refuse_origin(scope: Scope, send: Send) -> None:
    """403 with the agent protocol's error body; for a WebSocket, as the answer to its upgrade."""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(ORIGIN_REFUSED)).encode())]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": ORIGIN_REFUSED})
    elif "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": 403, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": ORIGIN_REFUSED})
    else:  # a server without denial responses answers 403 to a close before accept
        await send({"type": "websocket.close", "code": 1008})


def _authenticated(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"x-api-key" and value:
            return True
        if name == b"authorization" and value[:7].lower() == b"bearer " and value[7:].strip():
            return True
    return False


class _DropDeliberateAborts(logging.Filter):
    """Keeps the server's "Exception in ASGI application" record out of the log for a ``disconnect`` fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], AbortConnection))


def _quiet_deliberate_aborts() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropDeliberateAborts) for f in logger.filters):
        logger.addFilter(_DropDeliberateAborts())


async def _hello(request: Request) -> JSONResponse:
    """``/api/hello``: the connectivity check Claude Code makes before its first request."""
    return JSONResponse({"message": "hello"})


STATS_PATH = "/v1/_mac/stats"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


async def _stats(request: Request) -> JSONResponse:
    """``GET /v1/_mac/stats``: the counters and the rate limits as JSON, for a benchmark in another process.

    Answered to loopback clients only (404 to others, as if it did not exist): a simulator listening on a
    public interface does not show its traffic.
    """
    if request.client is None or request.client.host not in LOOPBACK:
        raise HTTPException(404)
    state = request.app.state.simulator
    return JSONResponse({**state.stats.as_json(), "limits": state.limiter.as_json()})


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    message = f"Not found: {request.method} {request.url.path}" if exc.status_code == 404 else str(exc.detail)
    return ApiError(exc.status_code, message).response()


class SimulatorApp(Starlette):
    """A starlette app with :class:`Front` outside starlette's own middleware."""

    def build_middleware_stack(self) -> ASGIApp:
        return Front(super().build_middleware_stack(), self.state.simulator)


def create_app(settings: SimulatorSettings | None = None) -> SimulatorApp:
    """The simulator app; its :class:`~.state.SimulatorState` (``stats`` included) is ``app.state.simulator``.

    Run it with its lifespan on (uvicorn's default): batches process in the
    lifespan's task group, which is cancelled at shutdown.
    """
    from .agent import agent_routes  # imported when the app is built, as the agent is a separate module

    settings = settings or SimulatorSettings()
    state = SimulatorState(settings)
    batches = BatchStore(state)
    _quiet_deliberate_aborts()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            state.tasks = tasks
            try:
                yield
            finally:
                state.tasks = None
                tasks.cancel_scope.cancel()

    routes: list[Any] = [
        Route("/v1/messages", create_message, methods=["POST"]),  # reached through Front; here for 405s
        Route("/v1/messages/count_tokens", count_message_tokens, methods=["POST"]),
        *model_routes(),
        *batches.routes(),
        Route("/api/hello", _hello, methods=["GET", "HEAD"]),
        Route(STATS_PATH, _stats, methods=["GET"]),
        *agent_routes(
            token_delay=settings.token_delay, seed=settings.seed, workspace=settings.agent_workspace
        ),
    ]
    app = SimulatorApp(
        routes=routes,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.simulator = state
    app.connection_limits = connection_limits(settings)  # read by mac_core.serving when it builds the server
    return app
