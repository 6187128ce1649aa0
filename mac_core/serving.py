"""Serving an ASGI app on loopback with uvicorn, from a background thread or the foreground.

Shared by the servers the project ships (the simulator, the agent server) and
available to plugins that serve something too.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

log = logging.getLogger("mac_core.serving")


def bound_socket(host: str, port: int = 0) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port)."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so (else +40 ms per small write)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((host, port))
    return sock


class ThreadedServer:
    """A uvicorn server on a free port of ``host``, served from a daemon thread.

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
        self._server = uvicorn.Server(self._config(self.port))
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
    """A uvicorn server that calls ``announce(url)`` once it really listens (for the foreground commands)."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[str], None]) -> None:
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.servers and self.servers[0].sockets:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self._announce(f"http://{f'[{host}]' if ':' in host else host}:{port}")
