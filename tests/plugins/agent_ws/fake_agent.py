"""A loopback agent server for the transport's tests: each test writes what ``/ws`` does as a coroutine.

``serve(app)`` runs any ASGI app on 127.0.0.1 (uvicorn, a background thread)
and yields its URL. :class:`FakeAgent` is a starlette app speaking the
agent-over-WebSocket protocol: ``POST /config`` (with an optional bearer
token check), and ``/ws``, which sends ``connected`` and then hands the
connection to the test's ``handler(conn)``. Like the reference server it takes
one connection at a time and answers a second with the busy error, and its
first connection gets an ``info`` frame before ``connected`` (the reference
server's "Spawning Claude Code process…": that connection started its query).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest
import uvicorn
from mac_plugins.agent_ws.servers import forget_servers
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

BUSY = "Server already has an active connection"


@contextmanager
def serve(app, **tls) -> Iterator[str]:
    """Run ``app`` on a free loopback port; yield ``http://127.0.0.1:PORT`` (https with ``ssl_certfile``…)."""
    # uvicorn sets its loggers' levels for the whole process: put them back after, for the tests that follow.
    levels = {name: logging.getLogger(name).level for name in ("uvicorn", "uvicorn.error", "uvicorn.access")}
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=1, **tls)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


class Connection:
    """One client connection, as a handler sees it."""

    def __init__(self, websocket: WebSocket, agent: FakeAgent, index: int) -> None:
        self.websocket = websocket
        self.agent = agent
        self.index = index  #: 0 for the first connection the server accepted, then 1…

    async def send(self, frame: dict[str, Any] | str) -> None:
        """Send a frame (a dict as JSON, a str as is)."""
        await self.websocket.send_text(frame if isinstance(frame, str) else json.dumps(frame))

    async def sdk(self, *messages: dict[str, Any]) -> None:
        """Send SDKMessages."""
        for message in messages:
            await self.send({"type": "sdk_message", "data": {"session_id": "sess-1", **message}})

    async def receive(self, timeout: float = 5) -> dict[str, Any]:
        """The next frame from the client (recorded in ``agent.received``)."""
        with anyio.fail_after(timeout):
            message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise ConnectionError("the client disconnected")
        frame = json.loads(message["text"])
        self.agent.received.append(frame)
        return frame

    async def prompt(self) -> str:
        """Wait for the ``user_message`` and return its text."""
        frame = await self.receive()
        assert frame["type"] == "user_message", frame
        return frame["data"]["message"]["content"]

    async def wait_closed(self, timeout: float = 10) -> None:
        """Wait until the client closes the connection, recording frames it still sends."""
        try:
            while True:
                await self.receive(timeout)
        except ConnectionError:
            self.agent.closed_by_client += 1

    async def drop(self) -> None:
        """End the connection abruptly, as a crashing proxy would (close code 1011)."""
        await self.websocket.close(code=1011)


Handler = Callable[[Connection], Awaitable[None]]


class FakeAgent:
    """The agent protocol with a scripted ``/ws``; records what clients sent.

    :param handler: ``await handler(conn)`` after ``connected`` is sent.
    :param token: when set, ``/config`` answers 401 and the upgrade is refused
        (403) without ``Authorization: Bearer TOKEN``.
    :param token_at_config: check the token at ``/config`` too (False: only at the upgrade).
    :param send_connected: send the ``connected`` frame (False: send nothing).
    :param greeting: the frames the first connection gets before ``connected``.
    """

    def __init__(
        self, handler: Handler, *, token: str | None = None, token_at_config: bool = True, send_connected: bool = True,
        greeting: tuple[dict[str, Any], ...] = ({"type": "info", "data": "Spawning Claude Code process: claude ..."},),
    ) -> None:
        self.handler = handler
        self.greeting = greeting
        self.token = token
        self.token_at_config = token_at_config
        self.send_connected = send_connected
        self.configs: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []
        self.received: list[dict[str, Any]] = []
        self.accepted = 0
        self.refused_busy = 0
        self.closed_by_client = 0
        self.active = 0
        self.max_active = 0
        self.app = Starlette(routes=[Route("/config", self._config, methods=["POST"]), WebSocketRoute("/ws", self._ws)])

    def _authorized(self, header: str | None) -> bool:
        self.authorizations.append(header)
        return self.token is None or header == f"Bearer {self.token}"

    async def _config(self, request: Request) -> JSONResponse:
        if not self._authorized(request.headers.get("authorization")) and self.token_at_config:
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        config = await request.json()
        self.configs.append(config)
        return JSONResponse({"success": True, "config": config})

    async def _ws(self, websocket: WebSocket) -> None:
        if not self._authorized(websocket.headers.get("authorization")):
            await websocket.close(code=1008)  # before accept: uvicorn answers the upgrade with 403
            return
        await websocket.accept()
        if self.active:
            self.refused_busy += 1
            await websocket.send_json({"type": "error", "error": BUSY})
            await websocket.close()
            return
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        index = self.accepted
        self.accepted += 1
        try:
            for frame in self.greeting if index == 0 else ():
                await websocket.send_json(frame)
            if self.send_connected:
                await websocket.send_json({"type": "connected"})
            await self.handler(Connection(websocket, self, index))
        finally:
            self.active -= 1

    @contextmanager
    def running(self) -> Iterator[str]:
        """Serve on loopback; yield the base URL."""
        with serve(self.app) as url:
            yield url


# --- SDKMessage builders -----------------------------------------------------


def init(**fields: Any) -> dict[str, Any]:
    """A ``system/init`` message."""
    return {"type": "system", "subtype": "init", "cwd": "/work", "tools": ["Read", "Edit"], "model": "m",
            "permissionMode": "acceptEdits", "mcp_servers": [], **fields}


def assistant(*blocks: dict[str, Any], id: str = "msg_1", input_tokens: int = 10, output_tokens: int = 5) -> dict[str, Any]:
    """An ``assistant`` message with ``blocks`` and usage."""
    usage = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    message = {"id": id, "type": "message", "role": "assistant", "content": list(blocks), "usage": usage}
    return {"type": "assistant", "message": message, "parent_tool_use_id": None}


def text(value: str) -> dict[str, Any]:
    """A text block."""
    return {"type": "text", "text": value}


def tool_use(name: str, tool_input: dict[str, Any], id: str = "toolu_1") -> dict[str, Any]:
    """A tool_use block."""
    return {"type": "tool_use", "id": id, "name": name, "input": tool_input}


def tool_result(content: str, id: str = "toolu_1", is_error: bool = False) -> dict[str, Any]:
    """A ``user`` message carrying one tool_result block."""
    block = {"type": "tool_result", "tool_use_id": id, "content": content, "is_error": is_error}
    return {"type": "user", "message": {"role": "user", "content": [block]}, "parent_tool_use_id": None}


def result(value: str, *, cost: float = 0.0123, input_tokens: int = 30, output_tokens: int = 12) -> dict[str, Any]:
    """A successful ``result``."""
    return {"type": "result", "subtype": "success", "is_error": False, "result": value, "num_turns": 2,
            "duration_ms": 1200, "duration_api_ms": 900, "total_cost_usd": cost, "permission_denials": [],
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}}


def error_result(subtype: str, *errors: str) -> dict[str, Any]:
    """A failed ``result``."""
    return {"type": "result", "subtype": subtype, "is_error": True, "errors": list(errors), "num_turns": 1,
            "duration_ms": 10, "duration_api_ms": 5, "total_cost_usd": 0.001, "usage": {}}


@pytest.fixture(autouse=True)
def fresh_server_memory():
    """Each test starts with no server remembered by an earlier one (its turns, dead agents; ports get reused).

    Autouse in every module that imports it.
    """
    forget_servers()
    yield
    forget_servers()
