"""One agent turn: :class:`AgentTurn` carries it out on a server, :class:`TurnReader` reads its frames.

:class:`TurnReader`: server frames in, :class:`~mac_core.Event` objects out, a ``result`` at the end.

How SDKMessages become events (``agent-ws-protocol.md`` lists the kinds):

======================================  ==========================================================
frame / SDKMessage                      event(s)
======================================  ==========================================================
``assistant`` text / thinking blocks    ``text`` / ``thinking`` (skipped if already streamed)
``assistant`` tool_use blocks           ``tool_use`` with ``{"id", "name", "input"}``
``assistant`` usage                     ``usage``: the turn's running total over its messages
``user`` tool_result blocks             ``tool_result`` with the block
``stream_event`` text/thinking deltas   ``text`` / ``thinking``
``tool_progress``                       ``tool_progress`` with the message
``result``                              ends the turn (no event)
anything else (``system``, sub-agents)  ``agent_message`` with the message
``info`` frame                          ``info`` with the line (and a debug log line); never an error
``error`` frame                         :class:`~mac_core.TransportError`
======================================  ==========================================================
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import anyio
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from mac_core import Completion, Event, TransportError, Usage

from .options import AgentServerAddress
from .servers import ServerGone, comparable, dead_agents, differences, query_configs, unfinished_turns

if TYPE_CHECKING:
    from .transport import AgentWSTransport

log = logging.getLogger("mac_plugins.agent_ws")

MAX_RESUMES = 3  #: reconnects per turn, so a server that keeps dropping cannot loop forever


class _SilentAfterReconnect(Exception):
    """Nothing came within ``resume_timeout`` of a reconnect to a server that does not keep frames."""


class ServerError(TransportError):
    """An ``error`` frame from the server; :attr:`error` is its text."""

    def __init__(self, error: str) -> None:
        super().__init__(f"the agent server reported an error: {error}", error_type="agent_error")
        self.error = error


class TurnReader:
    """Feeds one turn's frames to ``emit``; :attr:`result` holds the ``result`` message once it came.

    :ivar agent_up: an SDKMessage of this turn arrived, so the agent is running
        and will honour an interrupt.
    :ivar acted: the agent asked for a tool (a ``tool_use`` arrived), so it may have changed things.
    :param earlier_usage: what an earlier attempt at the task on a server that died
        used; it counts in this turn's usage events and completion.
    """

    def __init__(self, emit, earlier_usage: Usage | None = None) -> None:
        self.emit = emit
        self.agent_up = False
        self.acted = False
        self.result: dict[str, Any] | None = None
        self.session_id: str | None = None
        self._earlier = earlier_usage or Usage()
        self._usage: dict[str, Usage] = {}
        self._streamed = False  # text deltas arrived for the message now being generated
        self._block_started = False  # the current text block has emitted text already
        self._wrote_text = False

    def feed(self, raw: str | bytes) -> bool:
        """Handle one frame; return True once the turn's ``result`` arrived."""
        try:
            frame = json.loads(raw)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            preview = raw[:80] if isinstance(raw, str) else f"{len(raw)} bytes of binary"
            raise TransportError(
                f"the agent server sent a frame that is not a JSON object ({preview!r}): is this an agent server?",
                error_type="protocol_error",
            )
        kind = frame.get("type")
        if kind == "sdk_message" and isinstance(frame.get("data"), dict):
            return self._message(frame["data"])
        if kind == "info":
            line = str(frame.get("data", ""))
            log.debug("agent: %s", line)
            self.emit(Event("info", text=line))
        elif kind == "error":
            raise ServerError(str(frame.get("error")))
        else:  # ``connected`` after a reconnect, or a kind from a newer server
            log.debug("agent-ws: ignoring a %r frame", kind)
        return False

    def completion(self) -> Completion:
        """The task's :class:`~mac_core.Completion` from the ``result``; an error result raises."""
        result = self.result or {}
        subtype = result.get("subtype")
        if subtype != "success" or result.get("is_error"):
            errors = [str(e) for e in result.get("errors") or () if e] or [
                str(result.get("result") or "no details")
            ]
            raise TransportError(
                f"the agent's turn ended in {subtype}: {'; '.join(errors)}", error_type=subtype
            )
        usage = result.get("usage")
        cost = result.get("total_cost_usd")
        return Completion(
            text=str(result["result"]) if result.get("result") else None,  # None: the streamed text
            usage=self._earlier + Usage.from_api(usage) if isinstance(usage, dict) else None,
            stop_reason=result.get("stop_reason"),
            cost_usd=float(cost) if isinstance(cost, (int, float)) else None,
        )

    @property
    def usage(self) -> Usage:
        """The usage reported so far: the turn's assistant messages, plus an earlier attempt's."""
        return sum(self._usage.values(), self._earlier)

    def _message(self, message: dict[str, Any]) -> bool:
        self.agent_up = True
        kind = message.get("type")
        if kind == "result":
            self.result = message
            log.debug("agent turn ended: %s (session %s)", message.get("subtype"), message.get("session_id"))
            return True
        if kind == "system" and message.get("subtype") == "init":
            self.session_id = message.get("session_id")
            log.debug("agent up: model %s in %s", message.get("model"), message.get("cwd"))
        body = message.get("message")
        if message.get("parent_tool_use_id"):  # a sub-agent's inner steps: reported, not the answer
            handled = False
        elif kind == "assistant" and isinstance(body, dict):
            handled = self._assistant(body)
        elif kind == "user" and isinstance(body, dict):
            handled = self._tool_results(body)
        elif kind == "stream_event":
            handled = self._delta(message.get("event"))
        elif kind == "tool_progress":
            self.emit(Event("tool_progress", data=message))
            handled = True
        else:
            handled = False
        if not handled:
            self.emit(Event("agent_message", data=message))
        return False

    def _text(self, kind: str, text: str) -> None:
        if kind == "text":
            if not self._block_started and self._wrote_text:
                text = "\n\n" + text  # separate the agent's successive messages
            self._block_started = self._wrote_text = True
        self.emit(Event(kind, text=text))

    def _assistant(self, body: dict[str, Any]) -> bool:
        for block in body.get("content") or ():
            if not isinstance(block, dict):
                continue
            if block.get("type") in ("text", "thinking") and not self._streamed:
                kind = block["type"]
                self._block_started = False
                self._text(kind, str(block.get(kind, "")))
            elif block.get("type") == "tool_use":
                self.acted = True
                self.emit(Event("tool_use", data={k: block.get(k) for k in ("id", "name", "input")}))
        self._streamed = self._block_started = False
        usage = body.get("usage")
        if isinstance(usage, dict):
            before = self.usage
            self._usage[str(body.get("id"))] = Usage.from_api(usage)  # one API call may span several messages
            total = self.usage
            if total != before:
                self.emit(Event("usage", data=total))
        return True

    def _tool_results(self, body: dict[str, Any]) -> bool:
        content = body.get("content")
        blocks = (
            [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
            if isinstance(content, list)
            else []
        )
        for block in blocks:
            self.emit(Event("tool_result", data=block))
        return bool(blocks)

    def _delta(self, event: Any) -> bool:
        if not isinstance(event, dict):
            return False
        if event.get("type") == "content_block_start":
            self._block_started = False
        delta = event.get("delta")
        if event.get("type") != "content_block_delta" or not isinstance(delta, dict):
            return False
        for kind in ("text", "thinking"):
            if delta.get("type") == f"{kind}_delta":
                self._streamed = True
                self._text(kind, str(delta.get(kind, "")))
                return True
        return False


def user_message(prompt: str) -> str:
    """The ``user_message`` frame that sends ``prompt``."""
    message = {"role": "user", "content": prompt}
    data = {"type": "user", "message": message, "parent_tool_use_id": None, "session_id": ""}
    return json.dumps({"type": "user_message", "data": data})


def _is_result(raw: str | bytes) -> bool:
    try:
        frame = json.loads(raw)
    except ValueError:
        return False
    data = frame.get("data") if isinstance(frame, dict) else None
    return isinstance(data, dict) and data.get("type") == "result"


def _wrong_query(message: str) -> TransportError:
    return TransportError(message, error_type="invalid_request_error")


class AgentTurn:
    """One task's conversation with one agent server: configure, connect, send, read, interrupt, resume.

    :param earlier_usage: usage of an earlier attempt at the task (on a server that died).
    """

    def __init__(
        self,
        transport: AgentWSTransport,
        server: AgentServerAddress,
        emit,
        earlier_usage: Usage | None = None,
    ) -> None:
        self.transport = transport
        self.server = server
        self.options = transport.options
        self.reader = TurnReader(emit, earlier_usage)
        self.ws: ClientConnection | None = None
        self.sent = False
        self.resumes = 0
        self.keeps_frames = False  # the server keeps frames for an absent client (it says so in GET /query)
        self.reports_query = True  # it answers GET /query, as mac agent-server does and the reference not
        self._resumed_at_most: float | None = None  # after a reconnect: how long the next frame may take

    async def run(self, prompt: str, config: dict[str, Any]):
        """Carry one turn out with ``config`` and return its :class:`~mac_core.Completion`."""
        try:
            await self._open(config)
            await self._skip_leftovers()
            self.sent = True  # from here the server may have a turn running for us
            await self.ws.send(user_message(prompt))  # type: ignore[union-attr]
            while True:
                try:
                    frame = await self._recv()
                except ConnectionClosed as closed:
                    await self._resume(closed)
                    continue
                except _SilentAfterReconnect as silent:
                    return await self._settle_silent_turn(*silent.args)
                if self.reader.feed(frame):
                    return self.reader.completion()
        except ServerError as error:
            raise self._agent_died(error.error) from None
        except ConnectionClosed as closed:
            raise TransportError(
                f"the agent server closed the connection ({closed})", error_type="connection_error"
            ) from None
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._interrupt()
            raise
        finally:
            url = self.server.ws_url
            if self.sent and self.reader.result is None:
                unfinished_turns[url] = unfinished_turns.get(url, 0) + 1
            if self.ws is not None:
                with anyio.move_on_after(2, shield=True):
                    await self.ws.close()

    async def _open(self, config: dict[str, Any]) -> None:
        """Post ``config`` and connect to a query that runs with it, or raise before anything is sent."""
        transport, server = self.transport, self.server
        wanted = comparable(config)
        await transport.post_config(server, config)
        state = await transport.query_state(server)
        known = query_configs.get(server.ws_url)
        if state is not None:
            self.keeps_frames = bool(state.get("keeps_frames"))
            started = state.get("config") if state.get("running") else None
            if isinstance(started, dict) and comparable(started) != wanted:
                log.info(
                    "agent-ws: %s runs a query with %s; starting a fresh one",
                    server.name,
                    differences(comparable(started), config),
                )
                await transport.end_query(server)
                unfinished_turns.pop(server.ws_url, None)  # the old query's frames went with it
        elif known is not None and known != wanted and server.ws_url not in dead_agents:
            raise _wrong_query(
                f"the agent server at {server.name} runs a query started with other options: "
                f"{differences(known, config)}. It applies /config only to the query its first connection "
                "starts and cannot start another (it does not answer GET /query): restart it, or send tasks "
                "with these options to another server"
            )
        self.ws, started_here = await transport.connect(server)
        if state is None:
            self.reports_query = False
            # The reference server's 'info' before 'connected': our connection spawned its agent.
            if started_here:
                query_configs[server.ws_url] = wanted
                unfinished_turns.pop(server.ws_url, None)
                dead_agents.pop(server.ws_url, None)  # restarted: a new agent process
            elif server.ws_url in dead_agents:
                raise ServerGone(
                    f"the agent server at {server.name} is dead until restarted: its agent process exited "
                    f"earlier in this process ({dead_agents[server.ws_url]}), and it never starts another "
                    "(later connections get 'connected', then nothing); the prompt was not sent",
                    error_type="agent_error",
                )
            elif known is None:
                raise _wrong_query(
                    f"the agent server at {server.name} runs a query this process did not start, with options "
                    "it does not report (it does not answer GET /query), so the task's model and tools cannot be "
                    "guaranteed: restart the server so that the task's connection starts its query, or use "
                    "mac agent-server, which reports its query"
                )

    async def _recv(self) -> str | bytes:
        assert self.ws is not None
        resumed, self._resumed_at_most = self._resumed_at_most, None
        timeout = resumed if resumed is not None else self.options.idle_timeout
        try:
            with anyio.fail_after(timeout):
                return await self.ws.recv()
        except TimeoutError:
            if resumed is not None:
                raise _SilentAfterReconnect(timeout) from None
            raise TransportError(
                f"no message from the agent for {timeout:g} s", error_type="timeout"
            ) from None

    async def _settle_silent_turn(self, waited: float):
        """Stop a turn that went silent after a reconnect, or learn that it had ended; never leave it running.

        The reference server keeps nothing for an absent client and cannot say whether the turn still runs
        (a model call without ``includePartialMessages`` sends nothing until it ends). Left running, it would
        act unseen and its ``result`` would answer the next task, so it is interrupted: a ``result`` within
        ``interrupt_timeout`` means it was still running; none means it had ended while we were away.
        """
        assert self.ws is not None
        try:
            with anyio.move_on_after(self.options.interrupt_timeout):
                await self.ws.send(json.dumps({"type": "interrupt"}))
                while not self.reader.feed(await self.ws.recv()):
                    pass
        except ConnectionClosed:
            pass
        result = self.reader.result
        if result is None:
            raise self._lost(f"nothing came within {waited:g} s of the reconnect")
        if result.get("subtype") == "success" and not result.get("is_error"):
            return self.reader.completion()  # it ended just as it was asked to stop
        raise TransportError(
            f"the connection to the agent dropped mid-turn and nothing came within {waited:g} s of the "
            f"reconnect: {self.server.name} does not keep frames for an absent client, so the turn, still "
            "running, was stopped rather than left to act unseen (raise resume_timeout, or set "
            "includePartialMessages so that a long model call sends frames)",
            error_type="connection_error",
        )

    def _agent_died(self, error: str) -> TransportError:
        """The server's ``error`` frame mid-turn; on the reference server its agent process is gone for good."""
        if self.reports_query:
            return TransportError(
                f"the agent server at {self.server.name} reported an error: {error}", error_type="agent_error"
            )
        dead_agents[self.server.ws_url] = error  # later tasks fail at once, not after idle_timeout
        return ServerGone(
            f"the agent server at {self.server.name} reported an error: {error}; it does not start another "
            "agent process, so it takes no more tasks until restarted",
            error_type="agent_error",
        )

    def _lost(self, what: str) -> TransportError:
        return TransportError(
            f"the connection to the agent dropped mid-turn and {what}: {self.server.name} does not keep "
            "frames for an absent client, so the turn's end was lost (it may have finished on the server)",
            error_type="connection_error",
        )

    async def _skip_leftovers(self) -> None:
        """Read past the frames of turns an earlier task left without their result."""
        url = self.server.ws_url
        pending = unfinished_turns.pop(url, 0)
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
            raise TransportError(
                f"{what}, for the {self.resumes}th time; giving up", error_type="connection_error"
            )
        log.info("agent-ws: %s; reconnecting for up to %g s", what, timeout)
        self.ws = None
        with anyio.move_on_after(timeout):
            while True:
                try:
                    self.ws, restarted = await self.transport.connect(self.server)
                except TransportError as exc:
                    if exc.error_type == "authentication_error":
                        raise
                    await anyio.sleep(0.2)
                    continue
                log.info("agent-ws: reconnected to %s; reading on", self.server.ws_url)
                if self.keeps_frames:
                    return
                if restarted:  # a new agent process: the one running our turn is gone
                    raise self._lost("the server had restarted")
                self._resumed_at_most = self.options.resume_timeout
                return
        raise ServerGone(f"{what} and did not come back within {timeout:g} s", error_type="connection_error")

    async def _interrupt(self) -> None:
        """Ask the agent to stop and wait (bounded) for the turn's ``result``; runs shielded."""
        if not self.sent or self.reader.result is not None:
            return
        timeout = self.options.interrupt_timeout
        if self.ws is None:
            log.warning("agent-ws: interrupt not delivered: no connection to %s", self.server.ws_url)
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
            self.server.ws_url,
        )
