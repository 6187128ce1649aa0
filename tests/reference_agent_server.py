"""A conformance double of the public claude-agent-server (github.com/dzhng/claude-agent-server).

It reproduces what a client of that Bun server can observe, each behaviour
mirroring the reference source (``packages/server/index.ts`` and
``message-handler.ts`` at commit 7a8f641, cited as ``index.ts:LINE``), with the
Agent SDK's query replaced by a scripted one (the simulator's ``[[reply: ...]]``
and ``[[tool: ...]]`` directives):

* ``POST /config`` stores any JSON body as the configuration and echoes it,
  ``anthropicApiKey`` included; a body that is not JSON gets 400 ``Invalid
  JSON``. ``GET /config`` shows the last one posted. Nothing else is routed:
  any other path or method is a plain 404 ``Not Found`` (so no ``/query``).
* One connection at a time; a second gets the busy ``error`` frame and is closed.
* The query starts with the first connection, with the configuration of that
  moment, and is never replaced: later posts change nothing for it, and no
  client request can start another (only restarting the server:
  :meth:`ReferenceAgentServer.restart`).
* Starting the query sends an ``info`` frame ("Spawning Claude Code
  process…", the SDK's stderr line) before ``connected``; later connections
  get ``connected`` first.
* Frames are sent only to a live connection: what the query produces while
  no client is connected is lost.
* Client frames that are not JSON get an ``error`` frame; kinds other than
  ``user_message`` and ``interrupt`` are ignored without a word.
* ``interrupt`` ends the running turn with ``error_during_execution``, but is
  dropped (as by the SDK) when it arrives before the turn's ``system/init``.
* When the agent process exits (:meth:`ReferenceAgentServer.kill_agent`, or
  ``[[exit]]`` in a prompt), the connected client gets an ``error`` frame
  ("Claude Code process exited with code 1", index.ts:86) and the query is
  dead for good: it is never restarted, so every later connection gets
  ``connected`` and then nothing, until :meth:`~ReferenceAgentServer.restart`.

Test-only directives in a prompt: ``[[exit]]`` makes the agent process exit
right after the turn's ``system/init``; ``[[drop]]`` closes the connection from the
server's side (code 1011) right after ``system/init``, as a proxy would;
``[[pause: S]]`` waits S seconds before answering.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from mac_plugins.simulator.script import message_text, parse_script
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

BUSY = "Server already has an active connection"
# As the real server (Agent SDK 0.1.44, Claude Code 2.0.44) sent them when run against `mac sim`
SPAWN_LINE = (
    "Spawning Claude Code process: bun node_modules/@anthropic-ai/claude-agent-sdk/cli.js "
    "--output-format stream-json --verbose --input-format stream-json --permission-mode bypassPermissions"
)
CLI_TOOLS = (
    *("Task", "Bash", "Glob", "Grep", "ExitPlanMode", "Read", "Edit", "Write", "NotebookEdit", "WebFetch"),
    *("TodoWrite", "WebSearch", "BashOutput", "KillShell", "Skill", "SlashCommand"),
)
DEFAULT_MODEL = "claude-sonnet-4-5-20250929"
_PAUSE = re.compile(r"\[\[pause:\s*([0-9.]+)\]\]")


@dataclass
class Turn:
    """One turn the scripted query ran: which query, with what model, for which prompt, and how it ended."""

    query: int
    model: str
    prompt: str
    subtype: str = ""
    delivered_result: bool = False


@dataclass
class _Query:
    """The scripted stand-in for the SDK's ``query()`` stream (index.ts:70-73)."""

    number: int
    config: dict[str, Any]
    turn_scope: anyio.CancelScope | None = None
    up: bool = False  # the running turn's system/init was sent: an interrupt is honoured
    session_id: str = field(default="")
    exit_code: int | None = None  # the agent process exited: the query reads and answers nothing more


class ReferenceAgentServer:
    """The double; :meth:`running` serves it on a loopback port.

    :ivar posted: every ``/config`` body, in order.
    :ivar queries: the configuration each query started with (one per server start).
    :ivar turns: every turn the query ran (:class:`Turn`).
    :ivar lost_frames: frames produced while no client was connected, which nobody got.
    """

    def __init__(self, *, token_delay: float = 0.0) -> None:
        self.token_delay = token_delay
        self.posted: list[Any] = []
        self.queries: list[dict[str, Any]] = []
        self.turns: list[Turn] = []
        self.lost_frames = 0
        self.restart()
        self.app = Starlette(
            routes=[
                WebSocketRoute("/ws", self._ws),
                Route("/{path:path}", self._fetch, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
            ],
            lifespan=self._lifespan,
        )

    def kill_agent(self, code: int = 1) -> None:
        """Make the agent process exit with ``code`` between turns (thread-safe; noticed within 10 ms)."""
        self._kill = code

    def restart(self) -> None:
        """Forget the query, the configuration and the connection, as a restarted server process would."""
        self.active: WebSocket | None = None  # index.ts:17
        self.message_queue: list[dict[str, Any]] = []  # index.ts:20
        self.stream: _Query | None = None  # index.ts:23
        self.query_config: Any = {}  # index.ts:26
        self._kill: int | None = None

    # --- HTTP (index.ts:99-126) -----------------------------------------------------

    async def _fetch(self, request: Request) -> Response:
        if request.url.path == "/config" and request.method == "POST":
            try:
                config = await request.json()
            except ValueError:
                return JSONResponse({"error": "Invalid JSON"}, status_code=400)  # index.ts:110-112
            self.posted.append(config)
            self.query_config = config  # index.ts:107: stored as is, echoed key and all
            return JSONResponse({"success": True, "config": self.query_config})
        if request.url.path == "/config" and request.method == "GET":
            return JSONResponse({"config": self.query_config})  # index.ts:116-118
        return PlainTextResponse("Not Found", status_code=404)  # index.ts:125

    # --- WebSocket (index.ts:128-163) -----------------------------------------------

    async def _ws(self, websocket: WebSocket) -> None:
        await websocket.accept()
        if self.active is not None:  # index.ts:130-138
            await websocket.send_text(json.dumps({"type": "error", "error": BUSY}))
            await websocket.close()
            return
        self.active = websocket  # index.ts:140
        try:
            if self.stream is None:  # index.ts:143-145: the query starts with the first connection
                await self._start_query()
            await self._send({"type": "connected"})  # index.ts:147-148
            await self._receive(websocket)
        finally:
            if self.active is websocket:  # index.ts:158-162
                self.active = None

    async def _receive(self, websocket: WebSocket) -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:  # message-handler.ts:16-32
                frame = json.loads(message.get("text") or message.get("bytes") or b"")
                kind = frame["type"]
            except (ValueError, TypeError, KeyError) as exc:
                await self._send({"type": "error", "error": f"Invalid message format: {exc}"})
                continue
            if kind == "user_message":
                self.message_queue.append(frame.get("data") or {})
            elif kind == "interrupt":
                self._interrupt()
            # any other kind: ignored, no error frame (message-handler.ts:20-24 has no else)

    async def _send(self, frame: dict[str, Any]) -> None:
        """Send to the live connection, or lose the frame (index.ts:51, 76, 86: ``if (activeConnection)``)."""
        websocket = self.active
        if websocket is None:
            self.lost_frames += 1
            return
        try:
            await websocket.send_text(json.dumps(frame))
        except Exception:  # the client left mid-send: the frame is lost like any other
            self.lost_frames += 1

    # --- the scripted query (index.ts:29-94) ----------------------------------------

    async def _start_query(self) -> None:
        config = dict(self.query_config) if isinstance(self.query_config, dict) else {}
        self.stream = _Query(
            number=len(self.queries), config=config, session_id=f"session-{len(self.queries)}"
        )
        self.queries.append(config)
        await self._send({"type": "info", "data": SPAWN_LINE})  # the SDK's stderr callback, index.ts:50-57
        self._tasks.start_soon(self._process_messages, self.stream)

    async def _process_messages(self, query: _Query) -> None:
        while self.stream is query and query.exit_code is None:  # generateMessages, index.ts:29-40
            if self._kill is not None:
                await self._exit(query, self._kill)
                return
            if not self.message_queue:
                await anyio.sleep(0.01)
                continue
            data = self.message_queue.pop(0)
            content = (data.get("message") or {}).get("content") if isinstance(data, dict) else None
            await self._turn(query, message_text(content or ""))

    async def _exit(self, query: _Query, code: int) -> None:
        """The agent process exited: the stream's loop throws, its catch reports it (index.ts:86)."""
        self._kill, query.exit_code = None, code
        # self.stream stays set (index.ts:23): no later connection starts another query
        await self._send({"type": "error", "error": f"Claude Code process exited with code {code}"})

    async def _sdk(self, query: _Query, message: dict[str, Any]) -> None:
        message.setdefault("session_id", query.session_id)
        await self._send({"type": "sdk_message", "data": message})

    async def _turn(self, query: _Query, prompt: str) -> None:
        model = query.config.get("model") or DEFAULT_MODEL
        turn = Turn(query=query.number, model=model, prompt=prompt)
        self.turns.append(turn)
        text = ""
        with anyio.CancelScope() as scope:
            query.turn_scope, query.up = scope, False
            await self._pace()
            await self._sdk(query, self._init(query, model))
            query.up = True
            if "[[exit]]" in prompt:  # the turn ends without a result: its process is gone
                query.turn_scope, query.up, turn.subtype = None, False, "exited"
                await self._exit(query, 1)
                return
            if "[[drop]]" in prompt and self.active is not None:
                dropped, self.active = self.active, None
                self._tasks.start_soon(dropped.close, 1011)
            pause = _PAUSE.search(prompt)
            if pause:
                await anyio.sleep(float(pause.group(1)))
            text = await self._answer(query, model, prompt)
        query.turn_scope, query.up = None, False
        interrupted = scope.cancel_called  # the real result then says error_during_execution with errors []
        turn.subtype = "error_during_execution" if interrupted else "success"
        turn.delivered_result = self.active is not None
        result = {
            "type": "result",
            "subtype": turn.subtype,
            "is_error": interrupted,
            "num_turns": 1,
            "duration_ms": 1,
            "duration_api_ms": 1,
            "total_cost_usd": 0.001,
            "usage": {"input_tokens": 10, "output_tokens": 5},
            "permission_denials": [],
        }
        if interrupted:
            result["errors"] = []
        else:
            result["result"] = text
        await self._sdk(query, result)

    async def _pace(self) -> None:
        if self.token_delay:  # no pause at all otherwise: a dropped turn ends before any reconnect
            await anyio.sleep(self.token_delay)

    def _init(self, query: _Query, model: str) -> dict[str, Any]:
        extra = [t for t in query.config.get("allowedTools") or () if t not in CLI_TOOLS]
        return {
            "type": "system",
            "subtype": "init",
            "cwd": "/home/user/agent-workspace",
            "tools": [*CLI_TOOLS, *extra],
            "model": model,
            "permissionMode": "bypassPermissions",
            "mcp_servers": [],
            "apiKeySource": "none",
        }

    async def _answer(self, query: _Query, model: str, prompt: str) -> str:
        script = parse_script(prompt)
        for number, call in enumerate(script.tools):
            tool_id = f"toolu_ref_{number}"
            await self._pace()
            block = {"type": "tool_use", "id": tool_id, "name": call.name, "input": call.input}
            await self._sdk(query, self._assistant(model, block, number))
            # bypassPermissions: allowedTools pre-approves, it does not confine; every tool runs
            result = {"type": "tool_result", "tool_use_id": tool_id, "content": f"{call.name} done"}
            await self._sdk(
                query,
                {
                    "type": "user",
                    "message": {"role": "user", "content": [result]},
                    "parent_tool_use_id": None,
                },
            )
        text = script.reply if script.reply is not None else f"({model}) {prompt[:60]}"
        await self._pace()
        await self._sdk(query, self._assistant(model, {"type": "text", "text": text}, len(script.tools)))
        return text

    def _assistant(self, model: str, block: dict[str, Any], number: int) -> dict[str, Any]:
        message = {
            "id": f"msg_ref_{number}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [block],
            "usage": {"input_tokens": 10, "output_tokens": 5},
        }
        return {"type": "assistant", "message": message, "parent_tool_use_id": None}

    def _interrupt(self) -> None:
        query = self.stream  # message-handler.ts:22-24: getActiveStream()?.interrupt()
        if query is not None and query.turn_scope is not None and query.up:
            query.turn_scope.cancel()
        # before system/init the SDK drops it; with no turn running it does nothing

    # --- serving ----------------------------------------------------------------------

    @contextmanager
    def running(self) -> Iterator[str]:
        """Serve on a free loopback port; yield ``http://127.0.0.1:PORT``. Leaving stops the server."""
        server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host="127.0.0.1",
                port=0,
                log_config=None,  # leave the logging setup (levels included) to the test run
                lifespan="on",
                timeout_graceful_shutdown=1,
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the reference double did not start"
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(10)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:  # the query runs here, as in the Bun process
            self._tasks = tasks
            yield
            tasks.cancel_scope.cancel()
