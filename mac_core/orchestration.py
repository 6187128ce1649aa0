"""Retries with backoff, reconciliation before dispatch, and concurrency limits by category.

The skill lineage's ``orchestration`` module, on this project's engine: every
request is a :class:`~mac_core.Coordinator` run (streamed, so each chunk is a
heartbeat for stall detection); this module adds the task lifecycle
(:class:`~mac_core.TaskTracker`), the retry loop and the limits around it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .attempts import Attempt, run_attempts, with_retry_count
from .coordinator import default_model
from .invocation_errors import ClaudeInvocationError
from .invoke import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, plan_for
from .prompts import check_positive_int
from .skill_credentials import require_skill_api_key
from .stall import StallDetector
from .task_state import TaskTracker

#: Seconds a managed task waits for a concurrency slot before it is cancelled.
SLOT_TIMEOUT = 120.0

_TASK_KEYS = ("task_id", "category")


def compute_backoff_delay(attempt: int, *, is_continuation: bool = False, base_ms: float = 1000.0,
                          max_ms: float = 10000.0) -> float:
    """Seconds before retry ``attempt`` (1-based): ``base_ms * 2**(attempt-1)`` capped at ``max_ms``; 1 s for a continuation."""
    if is_continuation:
        return 1.0
    return min(base_ms * (2 ** (attempt - 1)), max_ms) / 1000.0


def _client_error(error: ClaudeInvocationError) -> bool:
    """A 4xx other than 429: the request itself is wrong, so trying again cannot help."""
    return error.status_code is not None and 400 <= error.status_code < 500 and error.status_code != 429


def invoke_with_retry(
    prompt: str | list[dict[str, Any]],
    *,
    max_retries: int = 3,
    base_delay_ms: float = 1000.0,
    max_delay_ms: float = 10000.0,
    is_continuation: bool = False,
    model: str | None = None,
    system: str | list[dict[str, Any]] | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    temperature: float = DEFAULT_TEMPERATURE,
    **kwargs: Any,
) -> str:
    """Ask once, retrying any failure but a client error (4xx other than 429) up to ``max_retries`` times.

    Waits :func:`compute_backoff_delay` between attempts (1 s, 2 s, 4 s… up
    to ``max_delay_ms`` by default). ``kwargs`` are :func:`invoke_claude`'s.

    :raises ClaudeInvocationError: the last failure once retries are used up.
    """
    plan = plan_for({"prompt": prompt, "model": model, "system": system, "max_tokens": max_tokens,
                     "temperature": temperature, "max_retries": max_retries, **kwargs}, "invoke_with_retry")
    plan.should_retry = lambda error: not _client_error(error)
    plan.delay = lambda attempt: compute_backoff_delay(
        attempt + 1, is_continuation=is_continuation, base_ms=base_delay_ms, max_ms=max_delay_ms)
    plan.sdk_retries = False  # the caller chose the backoff
    (outcome,) = run_attempts([plan], api_key=require_skill_api_key(), transport="messages",
                              model=default_model(), max_tokens=DEFAULT_MAX_TOKENS, max_concurrency=1)
    if outcome.error is not None:
        raise outcome.error
    return outcome.result.text


class ConcurrencyLimiter:
    """At most ``global_limit`` tasks at once, and at most ``category_limits[c]`` of category ``c``.

    A category not listed is bounded by ``global_limit`` alone.
    """

    def __init__(self, global_limit: int = 10, category_limits: dict[str, int] | None = None) -> None:
        check_positive_int(global_limit, "global_limit")
        for category, limit in (category_limits or {}).items():
            check_positive_int(limit, f"category_limits[{category!r}]")
        self.global_limit = global_limit
        self.category_limits = dict(category_limits or {})
        self._global = threading.Semaphore(global_limit)
        self._categories = {c: threading.Semaphore(n) for c, n in self.category_limits.items()}
        self._lock = threading.Lock()

    def _category(self, category: str | None) -> threading.Semaphore | None:
        if not category:
            return None
        with self._lock:
            if category not in self._categories:
                self._categories[category] = threading.Semaphore(self.global_limit)
            return self._categories[category]

    def acquire(self, category: str | None = None, timeout: float | None = None) -> bool:
        """Take a slot (waiting up to ``timeout`` seconds, ``None``: forever); False if none came."""
        if not self._global.acquire(timeout=timeout):
            return False
        own = self._category(category)
        if own is not None and not own.acquire(timeout=timeout):
            self._global.release()
            return False
        return True

    def release(self, category: str | None = None) -> None:
        """Give back a slot taken with :meth:`acquire`."""
        own = self._category(category)
        if own is not None:
            own.release()
        self._global.release()


def _run_task(index: int, task_id: str, category: str | None, plan: Attempt, *, tracker: TaskTracker,
              limiter: ConcurrencyLimiter | None, detector: StallDetector | None, run_options: dict[str, Any]) -> str | None:
    """One managed task to its end: its slot, its attempts and their lifecycle; the answer or ``None``."""
    if limiter is not None and not limiter.acquire(category, timeout=SLOT_TIMEOUT):
        tracker.cancel(task_id)
        return None
    heartbeat = (lambda chunk: detector.heartbeat(task_id)) if detector is not None else None
    try:
        tracker.claim(task_id)
        while True:
            attempt = tracker.start(task_id).attempt
            if detector is not None:
                detector.register(task_id)
            try:
                # One request per attempt: the tracker counts the retries, and the server sees which this is.
                this_try = Attempt(with_retry_count(plan.spec, attempt - 1), max_retries=0)
                (outcome,) = run_attempts([this_try], callbacks=[heartbeat], transport="stream", **run_options)
            finally:
                if detector is not None:
                    detector.unregister(task_id)
            if outcome.error is None:
                tracker.complete(task_id)
                return outcome.result.text
            tracker.fail(task_id, error=str(outcome.error))
            if _client_error(outcome.error):
                return None
            try:
                info = tracker.retry(task_id)
            except RuntimeError:  # retries used up
                return None
            time.sleep(compute_backoff_delay(info.attempt))
            tracker.claim(task_id)
    finally:
        if limiter is not None:
            limiter.release(category)


def _managed(prompts: Sequence[Mapping[str, Any]], *, where: str, model: str | None, max_tokens: int, max_workers: int,
             shared_system: Any, cache_shared_system: bool, max_retries: int, reconcile: Callable | None,
             limiter: ConcurrencyLimiter | None, stall_timeout: float | None, on_stall: Callable | None) -> list[str | None]:
    if not prompts:
        return []
    check_positive_int(max_workers, "max_workers")
    tracker = TaskTracker(max_retries=max_retries)
    tasks = []
    for i, item in enumerate(prompts):
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: prompts[{i}] must be a dict with 'prompt', not {type(item).__name__}")
        task_id, category = item.get("task_id", f"task-{i}"), item.get("category")
        plan = plan_for({k: v for k, v in item.items() if k not in _TASK_KEYS}, f"prompts[{i}]")
        tracker.add(task_id, category=category)
        tasks.append((i, task_id, category, plan))
    run_options = {
        "api_key": require_skill_api_key(), "model": model or default_model(), "max_tokens": max_tokens,
        "temperature": DEFAULT_TEMPERATURE, "system": shared_system, "cache_shared_system": cache_shared_system,
    }
    if reconcile is not None:
        kept = reconcile(list(prompts), tracker)
        kept_ids = {id(p) for p in kept}
        for i, task_id, _, _ in tasks:
            if id(prompts[i]) not in kept_ids:
                tracker.cancel(task_id)
        tasks = [task for task in tasks if id(prompts[task[0]]) in kept_ids]
    detector = StallDetector(timeout=stall_timeout, on_stall=on_stall) if stall_timeout else None
    if detector is not None:
        detector.start_monitoring(poll_interval=min(5.0, stall_timeout / 2))
    results: list[str | None] = [None] * len(prompts)
    try:
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="mac-managed") as pool:
            futures = {pool.submit(_run_task, i, task_id, category, plan, tracker=tracker, limiter=limiter,
                                   detector=detector, run_options=run_options): i
                       for i, task_id, category, plan in tasks}
            for future, i in futures.items():
                results[i] = future.result()
    finally:
        if detector is not None:
            detector.stop_monitoring()
    return results


def invoke_parallel_with_reconciliation(
    prompts: Sequence[Mapping[str, Any]],
    *,
    reconcile: Callable[[list[dict[str, Any]], TaskTracker], list[dict[str, Any]]] | None = None,
    model: str | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    max_workers: int = 5,
    shared_system: str | list[dict[str, Any]] | None = None,
    cache_shared_system: bool = False,
    max_retries: int = 3,
    stall_timeout: float | None = None,
    on_stall: Callable[[str, float], Any] | None = None,
) -> list[str | None]:
    """:func:`invoke_parallel_managed` without a concurrency limiter."""
    return _managed(prompts, where="invoke_parallel_with_reconciliation", model=model, max_tokens=max_tokens,
                    max_workers=max_workers, shared_system=shared_system, cache_shared_system=cache_shared_system,
                    max_retries=max_retries, reconcile=reconcile, limiter=None, stall_timeout=stall_timeout,
                    on_stall=on_stall)


def invoke_parallel_managed(
    prompts: Sequence[Mapping[str, Any]],
    *,
    model: str | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    max_workers: int = 5,
    shared_system: str | list[dict[str, Any]] | None = None,
    cache_shared_system: bool = False,
    max_retries: int = 3,
    reconcile: Callable[[list[dict[str, Any]], TaskTracker], list[dict[str, Any]]] | None = None,
    concurrency_limiter: ConcurrencyLimiter | None = None,
    stall_timeout: float | None = None,
    on_stall: Callable[[str, float], Any] | None = None,
) -> list[str | None]:
    """Run prompts in parallel with a lifecycle per task, retries, reconciliation, limits and stall detection.

    :param prompts: dicts with ``prompt``, optional ``task_id`` (default
        ``task-<i>``) and ``category``, and any :func:`invoke_claude` keyword.
    :param max_workers: tasks in flight at once (no upper bound).
    :param max_retries: retries per task after a failure that is not a client
        error (4xx other than 429), with :func:`compute_backoff_delay`.
    :param reconcile: ``reconcile(prompts, tracker)`` returns the prompts to
        run (the same dict objects); the others are cancelled.
    :param concurrency_limiter: a :class:`ConcurrencyLimiter` (per category).
    :param stall_timeout: seconds without a streamed chunk before
        ``on_stall(task_id, idle_seconds)`` is called (``None``: off).
    :return: each prompt's answer, ``None`` for a task that failed or was cancelled.
    """
    return _managed(prompts, where="invoke_parallel_managed", model=model, max_tokens=max_tokens,
                    max_workers=max_workers, shared_system=shared_system, cache_shared_system=cache_shared_system,
                    max_retries=max_retries, reconcile=reconcile, limiter=concurrency_limiter,
                    stall_timeout=stall_timeout, on_stall=on_stall)
