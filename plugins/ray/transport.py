"""The ``ray`` transport: each task runs its inner transport on a Ray worker; events stream back in batches.

Guarantees (tests in ``tests/plugins/ray/``; the choices in ADR 0027):

* **Where.** ``address`` (else ``RAY_ADDRESS``) names a cluster; without one a
  local cluster starts on this machine (no dashboard) and lives until the
  process exits. A process already connected (``ray.init`` called) is used as it is.
* **Workers.** ``actors`` async actors (default one per CPU of the cluster),
  spread over its nodes; each task goes to the one with the fewest running.
  An actor runs its tasks' inner transport (``stream``, or a confined
  ``agent``) on its own event loop. When a run ends, its pool is kept for the
  next run of the process with the same settings (starting one takes seconds).
* **Events.** A worker gathers a task's events for ``batch_interval`` s and
  sends them as one object; the driver emits them in order, so reporters and
  policies work unchanged (they see an event at most ``batch_interval`` late).
  The first event of every task is an ``info`` naming the worker's process
  and host.
* **Interrupt.** The stops of one loop iteration go to each worker in one
  ``stop`` call carrying all their task keys, which cancels the tasks'
  coroutines there at once (closing the stream or interrupting the agent; a
  task not yet begun there never starts). The driver does not wait for it:
  the task ends ``interrupted`` at once.
* **A dead worker** fails the tasks it was running (``error_type``
  ``worker_lost``), with an error naming the worker's process and host; they are not retried (their events already
  reached the policies; ``mac run`` re-runs failed tasks when resumed). The
  actor is restarted for later tasks (up to 3 times).
* **Secrets.** The API key reaches each worker once, sealed, in its
  constructor's arguments: never in a ``runtime_env`` (shown by the
  dashboard), a log line, or a repr.
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio

from mac_core import Event, Transport, TransportError
from mac_core.anthropic_api import MESSAGES_TASK_OPTIONS

from .cluster import connect_lasting, give_back, import_ray, take_pool
from .options import AGENT_TASK_OPTIONS, RayOptions
from .worker import DONE, EVENTS, SealedKey, completion_of, error_of, settings_spec, task_spec


class RayTransport(Transport):
    """Runs each task on a worker of a Ray cluster (local by default); see the module docstring."""

    name = "ray"
    streams = True
    needs_api_key = True
    bills_tokens = True
    task_options = MESSAGES_TASK_OPTIONS | AGENT_TASK_OPTIONS
    options_type = RayOptions

    async def open(self) -> None:
        options: RayOptions = self.settings.options
        try:
            import sniffio

            library = sniffio.current_async_library()
        except Exception:  # pragma: no cover - sniffio comes with anyio
            library = "asyncio"
        if library != "asyncio":
            raise TransportError(f"the ray transport runs on asyncio, not {library}", error_type="error")
        self.ray = import_ray()
        await connect_lasting(options)
        key = SealedKey(self.settings.api_key.reveal()) if self.settings.api_key else None
        self.pool = await take_pool(self.ray, options, settings_spec(self.settings), key)

    async def aclose(self) -> None:
        pool = getattr(self, "pool", None)
        if pool is not None:
            with anyio.CancelScope(shield=True):
                await give_back(pool)

    def _check(self, task) -> None:
        """Prompt fields of the other inner are refused before the task is sent."""
        inner = self.settings.options.inner
        foreign = set(task.options) & (MESSAGES_TASK_OPTIONS if inner == "agent" else AGENT_TASK_OPTIONS)
        if foreign:
            raise TransportError(
                f"task {task.name}: {', '.join(sorted(foreign))} is not an option of the ray transport's "
                f"inner={inner!r} (set transport option inner)",
                error_type="invalid_request_error",
            )

    async def run_task(self, task, emit):
        self._check(task)
        pool = self.pool
        index = pool.least_busy()
        key = uuid.uuid4().hex
        pool.running[index] += 1
        generator = pool.actors[index].run.options(num_returns="streaming").remote(key, task_spec(task))
        outcome: tuple[str, Any] | None = None
        try:
            async for ref in generator:
                kind, payload = await ref
                if kind == EVENTS:
                    for event_type, text, data in payload:
                        emit(Event(event_type, text, data))
                else:
                    outcome = kind, payload
        except self.ray.exceptions.RayError as exc:
            raise self._lost(index, exc) from None
        except BaseException:  # interrupted (or a hook failed): stop the remote work, do not wait for it
            pool.stop_later(index, key)
            raise
        finally:
            pool.running[index] -= 1
        if outcome is None:
            raise TransportError(f"the Ray worker {self._worker(index)} ended the task without an outcome")
        kind, payload = outcome
        if kind == DONE:
            return completion_of(payload)
        raise error_of(payload)

    def _worker(self, index: int) -> str:
        where = self.pool.workers[index] if index < len(self.pool.workers) else {}
        return f"pid {where.get('pid')} on {where.get('host')}"

    def _lost(self, index: int, exc: BaseException) -> TransportError:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return TransportError(
            f"the Ray worker running this task ({self._worker(index)}) died or became unreachable: "
            f"{type(exc).__name__}: {first_line[:200]}",
            error_type="worker_lost",
        )
