"""Running the simulator: in a background thread (:class:`Simulator`) or in the foreground (:func:`serve`)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from .app import create_app
from .settings import SimulatorSettings, SimulatorStats

log = logging.getLogger("mac_plugins.simulator")

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
GRACE_SECONDS = 1.0  # answers still streaming at shutdown get this long before they are cut


def uvicorn_config(app: Any, *, host: str, port: int) -> uvicorn.Config:
    """The uvicorn settings for both ways of running: our logging, bounded shutdown, many connections."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ws="websockets-sansio",
        lifespan="on",
        log_config=None,
        access_log=False,
        backlog=4096,  # benchmarks open a couple of thousand connections at once
        timeout_keep_alive=30,
        timeout_graceful_shutdown=GRACE_SECONDS,
    )


class Simulator:
    """The simulator on a free loopback port, served from a background thread.

    ::

        with Simulator(tokens=20, token_delay=0) as sim:
            client = anthropic.Anthropic(base_url=sim.url, api_key="sk-simulated")
            ...
            assert sim.stats.streams_finished == 1

    Keyword arguments are :class:`~.settings.SimulatorSettings` fields
    (``tokens``, ``token_delay``, ``ttft``, ``seed``, ``fault_rate``,
    ``faults``, ``slow_seconds``, ``agent_workspace``…). Leaving the ``with``
    block stops it: answers in flight get :data:`GRACE_SECONDS`, then the
    thread is joined (at most :data:`STOP_TIMEOUT`).
    """

    def __init__(self, *, host: str = "127.0.0.1", **settings: Any) -> None:
        self.settings = SimulatorSettings(**settings)
        self.host = host
        self.app = create_app(self.settings)
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def stats(self) -> SimulatorStats:
        """Live counters: requests, streams, client disconnects, faults by kind, batches."""
        return self.app.state.simulator.stats

    @property
    def url(self) -> str:
        """The HTTP base URL (for ``ANTHROPIC_BASE_URL``), ``http://127.0.0.1:PORT``."""
        if self.port is None:
            raise RuntimeError("the simulator is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The scripted agent's WebSocket URL, ``ws://127.0.0.1:PORT/ws``."""
        return "ws" + self.url[len("http") :] + "/ws"

    def start(self) -> Simulator:
        """Bind a free port and serve in a daemon thread; returns once it accepts connections."""
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so (else +40 ms per keep-alive request)
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn_config(self.app, host=self.host, port=self.port))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="mac-simulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise RuntimeError("the simulator did not start")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop serving and join the thread (at most ``timeout`` seconds)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the simulator thread did not stop within %g s", timeout)
        self._server = None
        self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self.port is not None else "not started"
        return f"Simulator({where}, {self.settings!r})"


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that says where it listens once it really does."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[str], None]) -> None:
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.servers and self.servers[0].sockets:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self._announce(f"http://{f'[{host}]' if ':' in host else host}:{port}")


def serve(settings: SimulatorSettings, *, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Serve in the foreground until Ctrl-C; ``announce(url)`` once listening."""
    _AnnouncingServer(uvicorn_config(create_app(settings), host=host, port=port), announce).run()
