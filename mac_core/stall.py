"""Noticing work that went quiet: :class:`StallDetector`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class StallDetector:
    """Tracks when each task was last active and reports those idle for ``timeout`` seconds.

    Call :meth:`register` when a task starts, :meth:`heartbeat` whenever it
    makes progress (each streamed chunk), :meth:`unregister` when it ends.
    :meth:`check_stalled` lists the stalled ones; :meth:`start_monitoring`
    checks in a background thread and calls ``on_stall(task_id, idle_seconds)``.

    :param timeout: seconds without activity that make a task stalled.
    :param on_stall: called (from the monitoring thread) for each stalled task at each check.
    """

    def __init__(self, timeout: float = 60.0, on_stall: Callable[[str, float], Any] | None = None) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if on_stall is not None and not callable(on_stall):
            raise TypeError(f"on_stall must be callable, not {type(on_stall).__name__}")
        self.timeout = float(timeout)
        self.on_stall = on_stall
        self._lock = threading.Lock()
        self._last_active: dict[str, float] = {}
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None

    def register(self, task_id: str) -> None:
        """Start tracking ``task_id`` (active now)."""
        with self._lock:
            self._last_active[task_id] = time.monotonic()

    def heartbeat(self, task_id: str) -> None:
        """``task_id`` made progress: reset its idle time (ignored if not registered)."""
        with self._lock:
            if task_id in self._last_active:
                self._last_active[task_id] = time.monotonic()

    def unregister(self, task_id: str) -> None:
        """Stop tracking ``task_id``."""
        with self._lock:
            self._last_active.pop(task_id, None)

    def check_stalled(self) -> list[tuple[str, float]]:
        """``(task_id, idle_seconds)`` for each tracked task idle for at least ``timeout``."""
        now = time.monotonic()
        with self._lock:
            return [(tid, now - last) for tid, last in self._last_active.items() if now - last >= self.timeout]

    def start_monitoring(self, poll_interval: float = 5.0) -> None:
        """Check every ``poll_interval`` seconds in a daemon thread until :meth:`stop_monitoring`."""
        if self._monitor is not None and self._monitor.is_alive():
            return
        self._stop.clear()

        def watch() -> None:
            while not self._stop.wait(poll_interval):
                for task_id, idle in self.check_stalled():
                    if self.on_stall is not None:
                        self.on_stall(task_id, idle)

        self._monitor = threading.Thread(target=watch, daemon=True, name="stall-detector")
        self._monitor.start()

    def stop_monitoring(self) -> None:
        """Stop the monitoring thread (waits up to 2 s for it)."""
        self._stop.set()
        if self._monitor is not None:
            self._monitor.join(timeout=2.0)
            self._monitor = None
