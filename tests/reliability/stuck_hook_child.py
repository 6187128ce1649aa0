"""A child process for the second-Ctrl-C tests: a run whose hook holds the event loop forever.

Usage: ``python stuck_hook_child.py MODE [WORKDIR]``. Prints ``READY`` once the
hook is stuck (or, for ``clean-stop``, once the task is waiting on its stream).

* ``library``: a sync ``Coordinator.run`` whose policy never returns.
* ``mac-run``: ``mac run`` on the simulator, two jobs one at a time; the result
  writer blocks forever right after writing the first line.
* ``clean-stop``: a run stopped by one Ctrl-C; prints ``HANDLER default`` if
  Python's SIGINT handler is back in place afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(TESTS), str(TESTS / "core")]

from fake_transport import FakePlugin, FakeTransport  # noqa: E402

from mac_core import Coordinator, hookimpl  # noqa: E402


class StuckPolicy:
    """Holds the event loop from the first event on."""

    @hookimpl
    def mac_should_interrupt(self, task, event):
        print("READY", flush=True)
        threading.Event().wait()


class AnnounceStart:
    """Says READY when the task starts."""

    @hookimpl
    def mac_task_started(self, task):
        print("READY", flush=True)


def library() -> None:
    FakeTransport.reset({"a": ["x"]})
    Coordinator(plugins=[FakePlugin(), StuckPolicy()]).run(["a"], transport="fake")


def mac_run(workdir: Path) -> None:
    from mac_plugins.run_file import output
    from mac_plugins.simulator import Simulator

    from mac_core.cli import main

    write = output.ResultWriter.mac_task_finished

    @hookimpl
    def write_then_hang(self, task, result):
        write(self, task, result)
        if self.written == 1:
            print("READY", flush=True)
            threading.Event().wait()

    output.ResultWriter.mac_task_finished = write_then_hang
    sim = Simulator(tokens=3, token_delay=0.0).start()
    os.environ.update(ANTHROPIC_API_KEY="sk-ant-stuck-hook-test", ANTHROPIC_BASE_URL=sim.url)
    jobs = workdir / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"id": i, "prompt": f"say {i}"}) + "\n" for i in ("one", "two")))
    main(["run", str(jobs), "-o", str(workdir / "out.jsonl"), "--concurrency", "1"])


def clean_stop() -> None:
    FakeTransport.reset({"a": ["WAIT"]})
    try:
        Coordinator(plugins=[FakePlugin(), AnnounceStart()]).run(["a"], transport="fake")
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
    restored = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    print("HANDLER", "default" if restored else repr(signal.getsignal(signal.SIGINT)), flush=True)


if __name__ == "__main__":
    # A parent started in the background may pass SIGINT on as ignored; a terminal does not.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    mode = sys.argv[1]
    if mode == "library":
        library()
    elif mode == "mac-run":
        mac_run(Path(sys.argv[2]))
    elif mode == "clean-stop":
        clean_stop()
    else:
        raise SystemExit(f"unknown mode {mode}")
    print("RETURNED", flush=True)
