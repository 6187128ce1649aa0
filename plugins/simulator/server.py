"""Running the simulator: in a background thread (:class:`Simulator`) or in the foreground (:func:`serve`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import uvicorn

from mac_core.serving import AnnouncingServer, ThreadedServer

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
    ``faults``, ``slow_seconds``, ``agent_workspace``, the rate limits ``rpm``,
    ``itpm``, ``otpm`` and ``model_limits``…). Leaving the ``with``
    block stops it: answers in flight get :data:`GRACE_SECONDS`, then the
    thread is joined (at most :data:`STOP_TIMEOUT`).
    """

    def __init__(self, *, host: str = "127.0.0.1", **settings: Any) -> None:
        self.settings = SimulatorSettings(**settings)
        self.host = host
        self.app = create_app(self.settings)
        self._server = ThreadedServer(
            lambda port: uvicorn_config(self.app, host=host, port=port),
            host=host, name="simulator", start_timeout=START_TIMEOUT, stop_timeout=STOP_TIMEOUT,
        )

    @property
    def port(self) -> int | None:
        """The port it listens on, once started."""
        return self._server.port

    @property
    def stats(self) -> SimulatorStats:
        """Live counters: requests, streams, client disconnects, faults by kind, batches."""
        return self.app.state.simulator.stats

    @property
    def url(self) -> str:
        """The HTTP base URL (for ``ANTHROPIC_BASE_URL``), ``http://127.0.0.1:PORT``."""
        return self._server.url

    @property
    def ws_url(self) -> str:
        """The scripted agent's WebSocket URL, ``ws://127.0.0.1:PORT/ws``."""
        return "ws" + self.url[len("http") :] + "/ws"

    def start(self) -> Simulator:
        """Bind a free port and serve in a daemon thread; returns once it accepts connections."""
        self._server.start()
        return self

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop serving and join the thread (at most ``timeout`` seconds)."""
        self._server.stop(timeout)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self.port is not None else "not started"
        return f"Simulator({where}, {self.settings!r})"


def serve(settings: SimulatorSettings, *, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Serve in the foreground until Ctrl-C; ``announce(url)`` once listening."""
    AnnouncingServer(uvicorn_config(create_app(settings), host=host, port=port), announce).run()
