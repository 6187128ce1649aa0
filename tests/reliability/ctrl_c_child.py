"""A child process for the Ctrl-C tests: starts a call in MODE, says READY mid-call, reports how it ended.

Usage: ``python -X dev ctrl_c_child.py MODE`` with MODE one of :data:`MODES`. Prints
``READY`` once the call is in the state under test, then (after SIGINT)
``INTERRUPTED <time.monotonic()>`` and ``LEFTOVER_THREADS [names]``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(TESTS), str(TESTS / "core")]

from hanging_server import HangingSSEServer  # noqa: E402
from mac_plugins.simulator import Simulator  # noqa: E402

from mac_core import Coordinator, invoke_claude_streaming  # noqa: E402

KEY = "sk-ant-ctrl-c-test"


class SilentServer:
    """Accepts connections and never answers: a call stuck while connecting/awaiting the first byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True, name="silent-server").start()

    def _accept(self) -> None:
        while True:
            connection, _ = self.sock.accept()
            self.held.append(connection)


def announce_when(condition) -> None:
    def wait() -> None:
        deadline = time.monotonic() + 20
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        print("READY", flush=True)

    threading.Thread(target=wait, daemon=True, name="announcer").start()


def main(mode: str) -> None:
    # A parent started in the background (CI, a job runner) may pass SIGINT on as ignored; a terminal does not.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    prompts = ["a", "b", "c"] if "parallel" in mode else ["a"]
    if mode.endswith("connect"):
        server = SilentServer()
        announce_when(lambda: len(server.held) >= len(prompts))
        url = server.url
    elif mode.endswith("streaming"):
        server = HangingSSEServer(["some text"]).__enter__()
        announce_when(lambda: server.streams_open >= len(prompts))
        url = server.url
    else:  # delegation: the simulator's scripted agent, slowly
        server = Simulator(token_delay=0.3).start()
        url = server.url
    os.environ.update(ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=url)  # for the classic functions
    coordinator = Coordinator(api_key=KEY, base_url=url)
    before = set(threading.enumerate())
    try:
        if mode == "sync-single-connect":
            coordinator.run(prompts)
        elif mode == "sync-parallel-connect":
            coordinator.run(prompts, max_concurrency=3)
        elif mode == "sync-single-streaming":
            invoke_claude_streaming("a", callback=lambda chunk: None)
        elif mode in ("async-single-connect", "async-parallel-connect", "async-parallel-streaming"):
            asyncio.run(coordinator.arun(prompts, max_concurrency=3))
        elif mode == "sync-delegation":
            ready = threading.Event()

            def on_event(event) -> None:
                if event.type == "text" and not ready.is_set():
                    ready.set()
                    print("READY", flush=True)

            coordinator.delegate("[[reply: " + "word " * 40 + "]]", url=url, on_event=on_event, includePartialMessages=True)
        elif mode == "async-delegation":
            ready = threading.Event()

            def on_event(event) -> None:
                if event.type == "text" and not ready.is_set():
                    ready.set()
                    print("READY", flush=True)

            asyncio.run(coordinator.adelegate("[[reply: " + "word " * 40 + "]]", url=url, on_event=on_event, includePartialMessages=True))
        else:
            raise SystemExit(f"unknown mode {mode}")
        print("FINISHED WITHOUT INTERRUPT", flush=True)
    except KeyboardInterrupt:
        print("INTERRUPTED", time.monotonic(), flush=True)  # CLOCK_MONOTONIC: comparable with the parent's
    deadline = time.monotonic() + 1
    leftover = [t for t in threading.enumerate() if t not in before]
    while any(t.is_alive() for t in leftover) and time.monotonic() < deadline:
        time.sleep(0.01)
    print("LEFTOVER_THREADS", sorted(t.name for t in leftover if t.is_alive()), flush=True)
    if isinstance(server, Simulator):
        server.stop()
    elif isinstance(server, HangingSSEServer):
        server.__exit__(None, None, None)


MODES = (
    "sync-single-connect",
    "sync-parallel-connect",
    "sync-single-streaming",
    "async-single-connect",
    "async-parallel-connect",
    "async-parallel-streaming",
    "sync-delegation",
    "async-delegation",
)

if __name__ == "__main__":
    main(sys.argv[1])
