"""Running the server: in a background thread (:class:`AgentServer`) or in the foreground (:func:`serve`)."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from mac_core.serving import AnnouncingServer, ThreadedServer

from .app import ServerSettings, create_app

log = logging.getLogger("mac_plugins.agent_server")

DEFAULT_MAX_FRAME_BYTES = 4 << 20
"""The largest WebSocket message a client may send (a prompt with a file or two in it)."""

START_TIMEOUT = 10.0
STOP_TIMEOUT = 30.0


class RedactAuthorization(logging.Filter):
    """Blanks ``Authorization`` header values in log records (uvicorn logs WebSocket handshakes at DEBUG)."""

    pattern = re.compile(r"(authorization:\s*)\S.*", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "uthorization" in message:
            record.msg, record.args = self.pattern.sub(r"\1[redacted]", message), None
        return True


def _redact_uvicorn_logs() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, RedactAuthorization) for f in logger.filters):
        logger.addFilter(RedactAuthorization())


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def uvicorn_config(app: Any, *, host: str, port: int, max_frame_bytes: int) -> uvicorn.Config:
    """The uvicorn settings shared by both ways of running: frame limit, bounded shutdown, our logging."""
    _redact_uvicorn_logs()
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ws="websockets-sansio",
        ws_max_size=max_frame_bytes,
        # A client that vanished without closing frees the one connection slot within ~20 s.
        ws_ping_interval=10,
        ws_ping_timeout=10,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )


class AgentServer:
    """``mac agent-server`` in a background thread, for tests and the demo.

    ::

        with AgentServer(workspace=tmp, env={"ANTHROPIC_BASE_URL": sim.url}) as server:
            httpx2.post(server.url + "/config", json={...})
            websockets.connect(server.ws_url)

    It listens on a free loopback port. Leaving the ``with`` block closes the
    connection, stops the agent and its CLI child, and joins the thread
    (bounded by :data:`STOP_TIMEOUT`).

    :param workspace: the directory the agent works in and may not leave.
    :param token: a bearer token clients must present, or ``None``.
    :param env: extra environment for the CLI child, over this process's.
    :param settings: further :class:`~mac_plugins.agent_server.app.ServerSettings` fields
        (``allow_shell``, ``buffer_bytes``, ``progress_interval``, ``client_factory``…).
    """

    def __init__(
        self,
        workspace: str | os.PathLike[str],
        *,
        token: str | None = None,
        env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        **settings: Any,
    ) -> None:
        workspace = Path(workspace)
        if not workspace.is_dir():
            raise ValueError(f"workspace {workspace} is not a directory")
        self.settings = ServerSettings(workspace=str(workspace), token=token, env=dict(env or {}), **settings)
        self.host = host
        self.max_frame_bytes = max_frame_bytes
        self._server = ThreadedServer(
            lambda port: uvicorn_config(
                create_app(self.settings), host=host, port=port, max_frame_bytes=max_frame_bytes
            ),
            host=host,
            name="agent server",
            start_timeout=START_TIMEOUT,
            stop_timeout=STOP_TIMEOUT,
        )

    @property
    def port(self) -> int | None:
        """The port it listens on, once started."""
        return self._server.port

    @property
    def url(self) -> str:
        """The HTTP base URL, ``http://127.0.0.1:PORT``."""
        return self._server.url

    @property
    def ws_url(self) -> str:
        """The WebSocket URL, ``ws://127.0.0.1:PORT/ws``."""
        return "ws" + self.url[len("http") :] + "/ws"

    def start(self) -> AgentServer:
        """Bind a free port and serve in a daemon thread; returns once the server accepts connections."""
        self._server.start()
        return self

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop serving, stop the agent and its CLI child, and join the thread (at most ``timeout`` s)."""
        self._server.stop(timeout)

    def __enter__(self) -> AgentServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self.port is not None else "not started"
        return f"AgentServer({where}, {self.settings!r})"


def serve(
    settings: ServerSettings,
    *,
    host: str,
    port: int,
    announce: Callable[[str], None] = print,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
) -> None:
    """Serve in the foreground until Ctrl-C; ``announce(url)`` once listening.

    uvicorn turns SIGINT/SIGTERM into a graceful shutdown: the connection is
    closed, the agent session cancelled and its CLI child stopped.
    """
    config = uvicorn_config(create_app(settings), host=host, port=port, max_frame_bytes=max_frame_bytes)
    AnnouncingServer(config, announce).run()
