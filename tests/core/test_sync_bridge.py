"""The sync API works from a script, a worker thread and a running loop; Ctrl-C stops it promptly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fake_transport import FakePlugin, FakeTransport

from mac_core import Coordinator


def test_sync_run_works_from_a_worker_thread():
    FakeTransport.reset({"a": ["x"]})
    with ThreadPoolExecutor(1) as pool:
        results = pool.submit(Coordinator(plugins=[FakePlugin()]).run, ["a"], transport="fake").result(10)
    assert results[0].text == "x"


def test_sync_run_works_inside_a_running_event_loop():
    """As in a Jupyter cell, where the loop is already running in this thread."""
    FakeTransport.reset({"a": ["x"]})

    async def notebook_cell():
        return Coordinator(plugins=[FakePlugin()]).run(["a"], transport="fake")

    assert asyncio.run(notebook_cell())[0].text == "x"


CTRL_C_SCRIPT = textwrap.dedent(
    """
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a background parent may have left SIGINT ignored
    sys.path[:0] = [{tests!r}, {tests_root!r}]
    from hanging_server import HangingSSEServer
    from mac_core import Coordinator
    with HangingSSEServer(["some text"]) as server:
        import threading
        def announce():
            deadline = time.monotonic() + 10
            while server.streams_open < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            print("STREAMING", flush=True)
        threading.Thread(target=announce, daemon=True).start()
        try:
            Coordinator(api_key="sk-test", base_url=server.url).run(["a", "b", "c"], max_concurrency=3)
        except KeyboardInterrupt:
            deadline = time.monotonic() + 2
            while server.closed_by_client < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            print("KEYBOARDINTERRUPT closed=%d" % server.closed_by_client, flush=True)
            raise
    """
)


def test_ctrl_c_during_a_sync_run_cancels_everything_within_a_second(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(CTRL_C_SCRIPT.format(tests=str(Path(__file__).parent), tests_root=str(Path(__file__).parent.parent)))
    env = {**os.environ, "PYTHONWARNINGS": "always"}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "STREAMING"
        pressed = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - pressed
    finally:
        proc.kill()
    assert "KEYBOARDINTERRUPT closed=3" in out  # every connection in flight was closed
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert elapsed < 3  # within a second of cleanup, plus interpreter shutdown
    assert "Task was destroyed" not in err and "Unclosed" not in err and "ResourceWarning" not in err
