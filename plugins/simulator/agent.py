"""The simulator's scripted agent: the agent-over-WebSocket protocol with real SDKMessage shapes.

Endpoints (``agent_routes``): ``POST /config``, ``GET /config`` and ``/ws``, as
``agent-ws-protocol.md`` describes. How the scripted agent behaves:

* **One query per server**, started by the first connection with the
  configuration posted before it (later posts are stored and shown by
  ``GET /config`` but do not change the running query, as in the reference
  server). ``anthropicApiKey`` is never echoed back. Like ``mac agent-server``
  (and unlike the reference server), ``GET /query`` reports the running query
  (``running``, ``config``, ``turn_in_progress``, ``connected``,
  ``keeps_frames``) and ``DELETE /query`` ends it (409 while a client is
  connected), so the next connection starts a fresh one with the configuration
  posted last.
* **One connection at a time**: a second one gets the ``error`` frame and is closed.
* **Each ``user_message`` is a turn**, run one after another: ``system/init``
  (after a short start-up), an ``info`` line, then the script of the message
  (:mod:`.script`): ``[[reply: TEXT]]`` answers TEXT; ``[[tool: NAME {json}]]``
  directives become ``assistant`` tool_use messages, ``tool_progress`` and
  ``user`` tool_result messages in order, then a closing text; otherwise
  deterministic words. A ``result`` (usage, cost, turns, durations) ends it.
  Text is paced at ``token_delay`` seconds a word; with ``includePartialMessages``
  in the config, it also streams as ``stream_event`` text deltas.
* **Tools**: with a ``workspace``, ``Write``, ``Edit`` and ``Read`` really act
  on files inside it (a path outside is an ``is_error`` tool_result); other
  tools, and every tool without a workspace, report a simulated success. A
  tool missing from a configured ``allowedTools`` is denied, as the SDK does.
* **Interrupt** ends the current turn at once with a ``result`` of subtype
  ``error_during_execution``. Like the real SDK, an interrupt that arrives
  before the turn's ``system/init`` is dropped (an ``info`` line says so): a
  client must re-send it once the agent is up.
* **Dropped connection**: the query outlives it. The turn in progress (and any
  queued one) runs to its end; every frame produced while no one is connected
  is kept (the last ``KEPT_FRAMES``) and delivered, in order, to the next
  connection right after its ``connected`` frame.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import time
import uuid
from collections import deque
from typing import Any

import anyio
from anyio.abc import TaskGroup
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from mac_core.serving import JSONTooDeepError, load_json

from .script import ToolCall, count_tokens, generated_words, message_text, parse_script, words
from .wire import ApiError, read_body

DEFAULT_MODEL = "claude-sonnet-4-6"
DEFAULT_TOOLS = ("Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write", "WebFetch", "TodoWrite")
ANSWER_WORDS = 30  #: length of an unscripted answer
STARTUP_WORDS = 4  #: the agent's start-up before ``system/init``, in token delays
KEPT_FRAMES = 10_000  #: frames kept for the next connection while no one is connected
CONFIG_BODY_LIMIT = 1 << 20  #: the largest ``/config`` body, as the agent server's
BUSY = "Server already has an active connection"
INTERRUPTED = "Interrupted by user"
_PRICE_PER_TOKEN = (3e-6, 15e-6)  # input, output (USD), Sonnet list prices


class Outbox:
    """Frames waiting for a connection: a frame leaves only once it was sent."""

    def __init__(self) -> None:
        self._frames: deque[dict[str, Any]] = deque(maxlen=KEPT_FRAMES)
        self._wake = anyio.Event()

    def put(self, frame: dict[str, Any]) -> None:
        """Queue ``frame`` for the current or the next connection."""
        self._frames.append(frame)
        self._wake.set()

    async def peek(self) -> dict[str, Any]:
        """The oldest unsent frame, waiting for one."""
        while not self._frames:
            self._wake = anyio.Event()
            await self._wake.wait()
        return self._frames[0]

    def pop(self) -> None:
        """Drop the oldest frame (it was sent)."""
        self._frames.popleft()


class _Turn:
    """What one turn has done so far, for its ``result``."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.api_seconds = 0.0
        self.calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.text = ""
        self.denials: list[dict[str, Any]] = []


class AgentSession:
    """The scripted agent's one query: its turns, its outbox and its interrupt."""

    def __init__(self, *, token_delay: float, seed: int, workspace: pathlib.Path | None) -> None:
        self.token_delay = token_delay
        self.seed = seed
        self.workspace = workspace.resolve() if workspace is not None else None
        self.outbox = Outbox()
        self.config: dict[str, Any] | None = None
        self.connected = False
        self._rng = random.Random(seed)
        self.session_id = self._uuid()
        self._turn_lock = anyio.Lock()
        self._scope: anyio.CancelScope | None = None
        self._up = False
        self._queued = 0  # turns received but not started
        self._turns = 0
        self.closed = False

    @property
    def turn_in_progress(self) -> bool:
        """A turn is running or waiting to run."""
        return self._scope is not None or self._queued > 0

    def close(self) -> None:
        """End the query: the running turn stops and queued ones never start (``DELETE /query``)."""
        self.closed = True
        if self._scope is not None:
            self._scope.cancel()

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _sdk(self, message: dict[str, Any]) -> None:
        message.setdefault("session_id", self.session_id)
        message.setdefault("uuid", self._uuid())
        self.outbox.put({"type": "sdk_message", "data": message})

    def info(self, line: str) -> None:
        """An ``info`` frame, like a line the agent process writes to stderr."""
        self.outbox.put({"type": "info", "data": line})

    def interrupt(self) -> None:
        """Stop the current turn, unless the agent has not started it yet (then the interrupt is lost)."""
        if self._scope is not None and self._up:
            self._scope.cancel()
        elif self._scope is not None or self._queued:
            self.info("[sim-agent] interrupt arrived before the agent started; dropped")
        else:
            self.info("[sim-agent] interrupt: no turn in progress")

    def submit(self, content: Any, turns: TaskGroup) -> None:
        """Queue a turn for ``content`` in ``turns``; turns run one after another."""
        self._queued += 1
        turns.start_soon(self.run_turn, content)

    @property
    def model(self) -> str:
        """The model the query was configured with."""
        return (self.config or {}).get("model") or DEFAULT_MODEL

    def _allowed(self) -> list[str] | None:
        allowed = (self.config or {}).get("allowedTools")
        return [str(name) for name in allowed] if isinstance(allowed, list) else None

    async def run_turn(self, content: Any) -> None:
        """Answer one user message, after the turns before it; always ends with a ``result``."""
        async with self._turn_lock:
            self._queued -= 1
            if self.closed:
                return
            self._turns += 1
            turn = _Turn()
            errors: list[str] = []
            with anyio.CancelScope() as scope:
                self._scope, self._up = scope, False
                try:
                    await self._play(message_text(content), turn)
                except ValueError as exc:
                    errors.append(str(exc))
            self._scope = None
            if self.closed:
                return
            if scope.cancel_called:
                errors.append(INTERRUPTED)
            self._sdk(self._result(turn, errors))

    async def _play(self, prompt: str, turn: _Turn) -> None:
        await anyio.sleep(self.token_delay * STARTUP_WORDS)
        self._sdk(self._init())
        self._up = True
        self.info(f"[sim-agent] turn {self._turns} started ({len(prompt)} characters)")
        script = parse_script(prompt)
        if script.reply is not None:
            await self._say(script.reply, turn)
        elif script.tools:
            outcomes = [await self._use_tool(call, turn) for call in script.tools]
            await self._say("Done: " + "; ".join(outcomes) + ".", turn)
        else:
            await self._say("".join(generated_words(prompt, ANSWER_WORDS, self.seed)), turn)

    def _init(self) -> dict[str, Any]:
        tools = list(DEFAULT_TOOLS) + [t for t in self._allowed() or () if t not in DEFAULT_TOOLS]
        return {
            "type": "system",
            "subtype": "init",
            "cwd": str(self.workspace or pathlib.Path(os.getcwd())),
            "tools": tools,
            "mcp_servers": [{"name": name, "status": "connected"} for name in (self.config or {}).get("mcpServers") or {}],
            "model": self.model,
            "permissionMode": "acceptEdits" if self.workspace is not None else "default",
            "slash_commands": [],
            "apiKeySource": "none",
            "output_style": "default",
            "claude_code_version": "simulated",
        }

    def _usage(self, input_tokens: int, output_tokens: int) -> dict[str, int]:
        return {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }

    async def _generate(self, block: dict[str, Any], chunks: list[str], turn: _Turn, stop_reason: str) -> None:
        """One model call: pace ``chunks``, then send the assistant message holding ``block``."""
        began = time.monotonic()
        message_id = "msg_sim_" + self._uuid().replace("-", "")[:24]
        input_tokens = 20 + count_tokens(json.dumps(turn.text)) + 40 * turn.calls
        output_tokens = max(1, sum(count_tokens(c) for c in chunks))
        partial = bool((self.config or {}).get("includePartialMessages"))
        if partial:
            self._stream({"type": "message_start", "message": {"id": message_id, "model": self.model}})
        for chunk in chunks:
            await anyio.sleep(self.token_delay)
            if partial and block["type"] == "text":
                delta = {"type": "text_delta", "text": chunk}
                self._stream({"type": "content_block_delta", "index": 0, "delta": delta})
        if partial:
            self._stream({"type": "message_stop"})
        turn.calls += 1
        turn.input_tokens += input_tokens
        turn.output_tokens += output_tokens
        turn.api_seconds += time.monotonic() - began
        message = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [block],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": self._usage(input_tokens, output_tokens),
        }
        self._sdk({"type": "assistant", "message": message, "parent_tool_use_id": None})

    def _stream(self, event: dict[str, Any]) -> None:
        self._sdk({"type": "stream_event", "event": event, "parent_tool_use_id": None})

    async def _say(self, text: str, turn: _Turn) -> None:
        await self._generate({"type": "text", "text": text}, words(text), turn, "end_turn")
        turn.text = text

    async def _use_tool(self, call: ToolCall, turn: _Turn) -> str:
        """Call one tool as the model would; return a short outcome for the closing text."""
        tool_id = "toolu_sim_" + self._uuid().replace("-", "")[:20]
        block = {"type": "tool_use", "id": tool_id, "name": call.name, "input": call.input}
        await self._generate(block, words(json.dumps(call.input)), turn, "tool_use")
        allowed = self._allowed()
        if allowed is not None and call.name not in allowed:
            turn.denials.append({"tool_name": call.name, "tool_use_id": tool_id, "tool_input": call.input})
            text, is_error, detail = f"Permission to use {call.name} was denied.", True, None
        else:
            self.info(f"[sim-agent] running {call.name}")
            await anyio.sleep(self.token_delay)
            self._sdk({"type": "tool_progress", "tool_use_id": tool_id, "tool_name": call.name,
                       "parent_tool_use_id": None, "elapsed_time_seconds": self.token_delay})
            text, is_error, detail = self._perform(call)
        result_block = {"type": "tool_result", "tool_use_id": tool_id, "content": text, "is_error": is_error}
        message: dict[str, Any] = {"role": "user", "content": [result_block]}
        self._sdk({"type": "user", "message": message, "parent_tool_use_id": None,
                   "tool_use_result": detail if detail is not None else text})
        return f"{call.name} {'failed' if is_error else 'succeeded'}"

    def _perform(self, call: ToolCall) -> tuple[str, bool, dict[str, Any] | None]:
        """Run a tool: (tool_result text, is_error, tool_use_result detail)."""
        if self.workspace is None or call.name not in ("Write", "Edit", "Read"):
            return f"(simulated) {call.name} completed", False, {"simulated": True}
        try:
            path = self._inside_workspace(call.input.get("file_path"))
            if call.name == "Read":
                lines = path.read_text(encoding="utf-8").splitlines()
                return "\n".join(f"{n:6}\t{line}" for n, line in enumerate(lines, 1)), False, None
            if call.name == "Write":
                content = _string(call.input, "content")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content, encoding="utf-8")
                return f"File created successfully at: {path}", False, {"type": "create", "filePath": str(path)}
            old, new = _string(call.input, "old_string"), _string(call.input, "new_string")
            original = path.read_text(encoding="utf-8")
            found = original.count(old) if old else 0
            if found == 0:
                raise ValueError(f"String to replace not found in file: {old!r}")
            if found > 1 and not call.input.get("replace_all"):
                raise ValueError(f"Found {found} matches of the string to replace; set replace_all or add context")
            path.write_text(original.replace(old, new), encoding="utf-8")
            return f"The file {path} has been updated.", False, {"filePath": str(path), "oldString": old, "newString": new}
        except (ValueError, OSError) as exc:
            return f"<tool_use_error>{exc}</tool_use_error>", True, None

    def _inside_workspace(self, file_path: Any) -> pathlib.Path:
        if not isinstance(file_path, str) or not file_path:
            raise ValueError("file_path must be a non-empty string")
        assert self.workspace is not None
        path = pathlib.Path(file_path)
        resolved = (path if path.is_absolute() else self.workspace / path).resolve()
        if not resolved.is_relative_to(self.workspace):
            raise ValueError(f"{file_path} is outside the workspace {self.workspace}; refused")
        return resolved

    def _result(self, turn: _Turn, errors: list[str]) -> dict[str, Any]:
        cost = turn.input_tokens * _PRICE_PER_TOKEN[0] + turn.output_tokens * _PRICE_PER_TOKEN[1]
        result: dict[str, Any] = {
            "type": "result",
            "subtype": "error_during_execution" if errors else "success",
            "is_error": bool(errors),
            "num_turns": turn.calls,
            "duration_ms": round((time.monotonic() - turn.started) * 1000),
            "duration_api_ms": round(turn.api_seconds * 1000),
            "total_cost_usd": round(cost, 8),
            "usage": self._usage(turn.input_tokens, turn.output_tokens),
            "permission_denials": turn.denials,
        }
        if errors:
            result["errors"] = errors
        else:
            result["result"] = turn.text
        return result


def _string(tool_input: dict[str, Any], key: str) -> str:
    value = tool_input.get(key)
    if not isinstance(value, str):
        raise ValueError(f"InputValidationError: {key} must be a string")
    return value


def _public(config: dict[str, Any]) -> dict[str, Any]:
    """The config as the endpoints show it: the API key masked."""
    return {k: ("********" if k == "anthropicApiKey" and v else v) for k, v in config.items()}


def agent_routes(*, token_delay: float, seed: int, workspace: pathlib.Path | None) -> list:
    """The scripted agent's routes: ``Route("/config")`` (POST, GET) and ``WebSocketRoute("/ws")``.

    :param token_delay: seconds per generated word (and per tool step).
    :param seed: makes ids and unscripted answers reproducible.
    :param workspace: the directory ``Write``/``Edit``/``Read`` act in, or
        ``None`` to only simulate tool results.
    """
    session = AgentSession(token_delay=token_delay, seed=seed, workspace=workspace)
    posted: dict[str, Any] = {}

    async def get_query(request: Request) -> JSONResponse:
        return JSONResponse({
            "running": session.config is not None,
            "config": _public(session.config) if session.config is not None else None,
            "turn_in_progress": session.turn_in_progress,
            "connected": session.connected,
            "keeps_frames": True,
        })

    async def end_query(request: Request) -> JSONResponse:
        nonlocal session
        if session.connected:
            return JSONResponse({"error": "a client is connected; its query cannot be ended"}, status_code=409)
        ended = session.config is not None
        session.close()
        session = AgentSession(token_delay=token_delay, seed=seed, workspace=workspace)
        return JSONResponse({"success": True, "ended": ended})

    async def post_config(request: Request) -> JSONResponse:
        try:
            body = load_json(await read_body(request, CONFIG_BODY_LIMIT))
        except ApiError:
            return JSONResponse({"error": f"Request body too large (limit {CONFIG_BODY_LIMIT} bytes)"}, 413)
        except JSONTooDeepError as exc:
            return JSONResponse({"error": f"Invalid JSON: {exc}"}, status_code=400)
        except ValueError:
            return JSONResponse({"error": "Invalid JSON"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "Invalid JSON: the config must be an object"}, status_code=400)
        posted.clear()
        posted.update(body)
        return JSONResponse({"success": True, "config": _public(posted)})

    async def get_config(request: Request) -> JSONResponse:
        return JSONResponse({"config": _public(posted)})

    async def pump(websocket: WebSocket, session: AgentSession) -> None:
        try:
            while True:
                frame = await session.outbox.peek()
                await websocket.send_text(json.dumps(frame))
                session.outbox.pop()
        except Exception:  # any send failure means the client left; the receive loop sees it too
            return

    async def receive(websocket: WebSocket, turns: TaskGroup, session: AgentSession) -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                frame = load_json(message.get("text") or "")
                kind = frame.get("type")
            except JSONTooDeepError as exc:
                session.outbox.put({"type": "error", "error": f"Invalid message format: {exc}"})
                continue
            except (ValueError, AttributeError):
                session.outbox.put({"type": "error", "error": "Invalid message format"})
                continue
            if kind == "user_message":
                data = frame.get("data")
                if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
                    session.outbox.put({"type": "error", "error": "Invalid user_message: data.message is missing"})
                    continue
                session.submit(data["message"].get("content"), turns)
            elif kind == "interrupt":
                session.interrupt()
            else:
                session.outbox.put({"type": "error", "error": f"Unknown message type: {kind}"})

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await serve_query(websocket, session)  # this connection's query, even if DELETE /query replaces it

    async def serve_query(websocket: WebSocket, session: AgentSession) -> None:
        if session.connected:
            await websocket.send_json({"type": "error", "error": BUSY})
            await websocket.close()
            return
        session.connected = True
        if session.config is None:
            session.config = dict(posted)  # the query starts with the first connection
        try:
            await websocket.send_json({"type": "connected"})
            async with anyio.create_task_group() as turns:  # turns outlive the connection
                try:
                    async with anyio.create_task_group() as io:
                        io.start_soon(pump, websocket, session)
                        await receive(websocket, turns, session)
                        io.cancel_scope.cancel()
                finally:
                    session.connected = False  # free for the next client while the turns finish
        finally:
            session.connected = False  # also when 'connected' could not be sent

    return [
        Route("/config", post_config, methods=["POST"]),
        Route("/config", get_config, methods=["GET"]),
        Route("/query", get_query, methods=["GET"]),
        Route("/query", end_query, methods=["DELETE"]),
        WebSocketRoute("/ws", ws),
    ]
