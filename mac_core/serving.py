"""Serving an ASGI app on loopback with uvicorn, from a background thread or the foreground.

Shared by the servers the project ships (the simulator, the agent server) and
available to plugins that serve something too. Every server started here is
guarded against abusive clients (:class:`ConnectionLimits`): a request (line,
headers and body) must arrive within ``request_timeout`` seconds or the
connection is closed, and beyond ``max_connections`` open connections the
oldest one not being answered is closed. Query-string values are blanked in
uvicorn's logs (a token in ``?token=`` never reaches a log), and
:func:`load_json` parses untrusted JSON without a ``RecursionError``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("mac_core.serving")

MAX_JSON_DEPTH = 128
"""The deepest nesting :func:`load_json` accepts (a Messages request with tool schemas nests about 15)."""


class JSONTooDeepError(ValueError):
    """JSON nested deeper than :data:`MAX_JSON_DEPTH` levels; the message is safe to show a client."""


def load_json(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for untrusted input: every failure is a ``ValueError``, never a ``RecursionError``.

    Nesting deeper than ``max_depth`` raises :class:`JSONTooDeepError`, so a
    value that parsed cannot overflow the stack of the code that walks or
    re-encodes it later.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise JSONTooDeepError(f"JSON nested deeper than {max_depth} levels") from None
    # Counting brackets is cheap and bounds the depth, so ordinary bodies skip the walk.
    openers = text.count(b"[") + text.count(b"{") if isinstance(text, bytes) else text.count("[") + text.count("{")
    if openers > max_depth and _depth(value) > max_depth:
        raise JSONTooDeepError(f"JSON nested deeper than {max_depth} levels")
    return value


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a decoded JSON value, without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in item)
    return deepest


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a client may take to send a request, and how many connections may be open at once.

    An app declares its own as a ``connection_limits`` attribute; the servers
    in this module read it (see :func:`guard_connections`).

    :param request_timeout: seconds a request may take to arrive in full (line,
        headers, body), counted from the connection's opening for the first
        request and from its first byte for later ones. Answering may take longer.
    :param max_connections: open connections (WebSocket ones included) beyond
        which the oldest connection that is not being answered is closed.
    """

    request_timeout: float = 10.0
    max_connections: int = 256

    def __post_init__(self) -> None:
        if not self.request_timeout > 0:
            raise ValueError(f"request_timeout must be positive, not {self.request_timeout}")
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {self.max_connections}")


REQUEST_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\ncontent-length: 16\r\n"
    b"connection: close\r\n\r\nRequest Timeout\n"
)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request's arrival and a cap on open connections.

    uvicorn has neither: a client that sends half a request line and stalls
    holds its socket forever. Subclasses made by :func:`guarded_protocol` carry
    the limits and the server's open connections, oldest first.
    """

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    opened: ClassVar[dict[GuardedH11Protocol, None]] = {}

    _deadline: asyncio.TimerHandle | None = None
    _upgraded = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.opened[self] = None
        self._arm()
        if len(self.connections) > self.limits.max_connections:
            # Connections already closing still count until their connection_lost; they must not cost another.
            live = sum(1 for c in self.connections if not c.transport.is_closing())
            for victim in [c for c in self.opened if c._evictable()][: live - self.limits.max_connections]:
                victim._close("the server is at its connection limit")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.opened.pop(self, None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._track_request()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._track_request()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        # From here the WebSocket protocol owns the connection; its upgrade request arrived in full.
        self._upgraded = True
        self._disarm()
        self.opened.pop(self, None)
        super().handle_websocket_upgrade(event)

    def _awaiting_request(self) -> bool:
        """Whether a request has started (or the connection is new) but has not fully arrived."""
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            return True
        return state is h11.IDLE and (self.scope is None or bool(self.conn.trailing_data[0]))

    def _evictable(self) -> bool:
        """Whether closing this connection cuts no answer: it awaits a request or sits idle."""
        if self._upgraded or self.transport.is_closing():
            return False
        return self._awaiting_request() or self.cycle is None or self.cycle.response_complete

    def _track_request(self) -> None:
        if self._upgraded or self.transport is None or self.transport.is_closing() or not self._awaiting_request():
            self._disarm()
        elif self._deadline is None:
            self._arm()

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.limits.request_timeout, self._request_timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _request_timed_out(self) -> None:
        self._deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.write(REQUEST_TIMEOUT_RESPONSE)  # its headers never came: no response has started
        self._close(f"its request did not arrive within {self.limits.request_timeout:g} s")

    def _close(self, why: str) -> None:
        self._disarm()
        self.opened.pop(self, None)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("closing a connection from %s: %s", _peer(self.client), why)
        self.transport.close()


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "an unknown peer"


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` class for one server: its limits, its own register of connections."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits, "opened": {}})


class RedactQueryValues(logging.Filter):
    """Blanks every query-string value in a log record (``/ws?token=abc`` becomes ``/ws?token=[redacted]``).

    The record's arguments keep their shape, so uvicorn's access formatter still works.
    """

    pattern = re.compile(r"([?&][^=&\s\"'#?]+=)[^&\s\"'#]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self.redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self.redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True

    def redact(self, text: str) -> str:
        """``text`` with query-string values blanked."""
        return self.pattern.sub(r"\1[redacted]", text) if "=" in text else text


def guard_connections(config: uvicorn.Config) -> uvicorn.Config:
    """Serve ``config`` with :class:`GuardedH11Protocol` and redacted uvicorn logs; returns ``config``.

    The limits are the app's ``connection_limits`` attribute, else the
    defaults of :class:`ConnectionLimits`. A config that names another HTTP
    implementation than h11 (or its own protocol class) is left as it is.
    """
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQueryValues) for f in logger.filters):
            logger.addFilter(RedactQueryValues())
    if config.http in ("auto", "h11") and not config.loaded:
        limits = getattr(config.app, "connection_limits", None) or ConnectionLimits()
        config.http = guarded_protocol(limits)
    return config


def bound_socket(host: str, port: int = 0) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port)."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so (else +40 ms per small write)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((host, port))
    return sock


class ThreadedServer:
    """A uvicorn server on a free port of ``host``, served from a daemon thread, guarded by :func:`guard_connections`.

    :param config: ``config(port) -> uvicorn.Config`` for the app.
    :param name: the thread's name, and the server's in messages.
    """

    def __init__(self, config: Callable[[int], uvicorn.Config], *, host: str, name: str,
                 start_timeout: float = 10.0, stop_timeout: float = 10.0) -> None:
        self._config = config
        self.host = host
        self.name = name
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT``; raises if not started."""
        if self.port is None:
            raise RuntimeError(f"the {self.name} is not started")
        return f"http://{f'[{self.host}]' if ':' in self.host else self.host}:{self.port}"

    def start(self) -> None:
        """Bind a free port and serve; returns once the server accepts connections."""
        sock = bound_socket(self.host)
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(guard_connections(self._config(self.port)))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise RuntimeError(f"the {self.name} did not start")
            time.sleep(0.005)

    def stop(self, timeout: float | None = None) -> None:
        """Stop serving and join the thread (at most ``timeout`` s, default ``stop_timeout``)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(self.stop_timeout if timeout is None else timeout)
            if self._thread.is_alive():
                log.warning("the %s thread did not stop within %g s", self.name, timeout or self.stop_timeout)
        self._server = None
        self._thread = None


class AnnouncingServer(uvicorn.Server):
    """A uvicorn server that calls ``announce(url)`` once it really listens (for the foreground commands).

    It is guarded by :func:`guard_connections`, as :class:`ThreadedServer` is.
    """

    def __init__(self, config: uvicorn.Config, announce: Callable[[str], None]) -> None:
        super().__init__(guard_connections(config))
        self._announce = announce

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.servers and self.servers[0].sockets:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self._announce(f"http://{f'[{host}]' if ':' in host else host}:{port}")
