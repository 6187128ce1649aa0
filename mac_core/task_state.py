"""A task's lifecycle as a state machine: :class:`TaskTracker`, :class:`TaskState`, :class:`TaskInfo`.

::

    UNCLAIMED -> CLAIMED -> RUNNING -> COMPLETED
                                    -> FAILED -> RETRY_QUEUED -> CLAIMED
    (any non-terminal state) -> CANCELLED

Thread-safe: the managed functions of :mod:`mac_core.orchestration` move
tasks from worker threads. (The engine's own results say where a run ended;
this tracks a caller's work items across retries and runs.)
"""

from __future__ import annotations

import enum
import threading
import time
from typing import Any


class TaskState(enum.Enum):
    """Where a tracked task is in its lifecycle."""

    UNCLAIMED = "unclaimed"
    CLAIMED = "claimed"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    RETRY_QUEUED = "retry_queued"
    CANCELLED = "cancelled"


_NEXT: dict[TaskState, frozenset[TaskState]] = {
    TaskState.UNCLAIMED: frozenset({TaskState.CLAIMED, TaskState.CANCELLED}),
    TaskState.CLAIMED: frozenset({TaskState.RUNNING, TaskState.CANCELLED}),
    TaskState.RUNNING: frozenset({TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED}),
    TaskState.FAILED: frozenset({TaskState.RETRY_QUEUED, TaskState.CANCELLED}),
    TaskState.RETRY_QUEUED: frozenset({TaskState.CLAIMED, TaskState.CANCELLED}),
    TaskState.COMPLETED: frozenset(),
    TaskState.CANCELLED: frozenset(),
}

#: States a task never leaves.
TERMINAL_STATES = frozenset({TaskState.COMPLETED, TaskState.CANCELLED})


class InvalidTransitionError(Exception):
    """A move the lifecycle does not allow (claiming a completed task, completing an unclaimed one…)."""

    def __init__(self, task_id: str, current: TaskState, target: TaskState) -> None:
        self.task_id = task_id
        self.current = current
        self.target = target
        super().__init__(f"Task '{task_id}': invalid transition {current.value} → {target.value}")


class TaskInfo:
    """A snapshot of one task: ``task_id``, ``state``, ``attempt`` (times started), times, ``category``, ``metadata``."""

    __slots__ = ("task_id", "state", "attempt", "created_at", "updated_at", "category", "metadata")

    def __init__(self, task_id: str, state: TaskState, attempt: int, created_at: float, updated_at: float,
                 category: str | None, metadata: dict[str, Any] | None) -> None:
        self.task_id = task_id
        self.state = state
        self.attempt = attempt
        self.created_at = created_at
        self.updated_at = updated_at
        self.category = category
        self.metadata = metadata

    def __repr__(self) -> str:
        return f"TaskInfo(id={self.task_id!r}, state={self.state.value}, attempt={self.attempt}, category={self.category!r})"


class _Record:
    __slots__ = ("task_id", "state", "attempt", "created_at", "updated_at", "category", "metadata")

    def __init__(self, task_id: str, category: str | None, metadata: dict[str, Any] | None) -> None:
        self.task_id = task_id
        self.state = TaskState.UNCLAIMED
        self.attempt = 0
        self.created_at = self.updated_at = time.monotonic()
        self.category = category
        self.metadata = dict(metadata or {})

    def snapshot(self) -> TaskInfo:
        return TaskInfo(self.task_id, self.state, self.attempt, self.created_at, self.updated_at,
                        self.category, dict(self.metadata))


class TaskTracker:
    """Moves tasks through :class:`TaskState` and refuses any move the lifecycle does not allow.

    :param max_retries: retries a failed task may have (:meth:`retry` raises
        ``RuntimeError`` after that many), so a task runs at most
        ``max_retries + 1`` times.
    """

    def __init__(self, max_retries: int = 3) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries!r}")
        self.max_retries = max_retries
        self._lock = threading.Lock()
        self._tasks: dict[str, _Record] = {}

    def add(self, task_id: str, category: str | None = None, metadata: dict[str, Any] | None = None) -> TaskInfo:
        """Track a new task, UNCLAIMED. :raises ValueError: if ``task_id`` is already tracked."""
        with self._lock:
            if task_id in self._tasks:
                raise ValueError(f"Task '{task_id}' already exists")
            record = self._tasks[task_id] = _Record(task_id, category, metadata)
            return record.snapshot()

    def _move(self, record: _Record, target: TaskState) -> TaskInfo:
        if target not in _NEXT[record.state]:
            raise InvalidTransitionError(record.task_id, record.state, target)
        record.state = target
        record.updated_at = time.monotonic()
        if target is TaskState.RUNNING:
            record.attempt += 1
        return record.snapshot()

    def transition(self, task_id: str, target: TaskState) -> TaskInfo:
        """Move ``task_id`` to ``target``. :raises KeyError: unknown task. :raises InvalidTransitionError: not allowed."""
        with self._lock:
            return self._move(self._tasks[task_id], target)

    def claim(self, task_id: str) -> TaskInfo:
        """UNCLAIMED or RETRY_QUEUED → CLAIMED."""
        return self.transition(task_id, TaskState.CLAIMED)

    def start(self, task_id: str) -> TaskInfo:
        """CLAIMED → RUNNING; counts an attempt."""
        return self.transition(task_id, TaskState.RUNNING)

    def complete(self, task_id: str) -> TaskInfo:
        """RUNNING → COMPLETED."""
        return self.transition(task_id, TaskState.COMPLETED)

    def fail(self, task_id: str, error: str | None = None) -> TaskInfo:
        """RUNNING → FAILED, keeping ``error`` as ``metadata["last_error"]``."""
        with self._lock:
            record = self._tasks[task_id]
            info = self._move(record, TaskState.FAILED)
            if error:
                record.metadata["last_error"] = error
                info.metadata = dict(record.metadata)
            return info

    def retry(self, task_id: str) -> TaskInfo:
        """FAILED → RETRY_QUEUED. :raises RuntimeError: when its ``max_retries`` retries are used up."""
        with self._lock:
            record = self._tasks[task_id]
            if record.state is not TaskState.FAILED:
                raise InvalidTransitionError(task_id, record.state, TaskState.RETRY_QUEUED)
            if record.attempt > self.max_retries:
                raise RuntimeError(f"Task '{task_id}' exceeded max retries ({self.max_retries})")
            return self._move(record, TaskState.RETRY_QUEUED)

    def cancel(self, task_id: str) -> TaskInfo:
        """Any non-terminal state → CANCELLED."""
        return self.transition(task_id, TaskState.CANCELLED)

    def get(self, task_id: str) -> TaskInfo:
        """A snapshot of ``task_id``. :raises KeyError: unknown task."""
        with self._lock:
            return self._tasks[task_id].snapshot()

    def get_by_state(self, state: TaskState) -> list[TaskInfo]:
        """Snapshots of the tasks in ``state``."""
        with self._lock:
            return [r.snapshot() for r in self._tasks.values() if r.state is state]

    def get_by_category(self, category: str) -> list[TaskInfo]:
        """Snapshots of the tasks in ``category``."""
        with self._lock:
            return [r.snapshot() for r in self._tasks.values() if r.category == category]

    def active_count(self, category: str | None = None) -> int:
        """Tasks not yet terminal (in ``category``, if given)."""
        with self._lock:
            return sum(1 for r in self._tasks.values()
                       if r.state not in TERMINAL_STATES and (category is None or r.category == category))

    def is_all_terminal(self) -> bool:
        """True when every task is COMPLETED or CANCELLED."""
        with self._lock:
            return all(r.state in TERMINAL_STATES for r in self._tasks.values())

    def summary(self) -> dict[str, int]:
        """How many tasks are in each state, by the state's value (``{"completed": 2, …}``)."""
        with self._lock:
            counts: dict[str, int] = {}
            for record in self._tasks.values():
                counts[record.state.value] = counts.get(record.state.value, 0) + 1
            return counts

    def __len__(self) -> int:
        return len(self._tasks)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._tasks
