"""What runs on a Ray worker: :class:`TaskWorker`, an async actor carrying many tasks at once.

Each task is one call of :meth:`TaskWorker.run`, a streaming generator: the
inner transport runs on the actor's event loop, its events gather in a list,
and every ``batch_interval`` the list (if not empty) is yielded to the driver
as one object, so the driver pays Ray's per-object cost once per batch rather
than per event. The last item is the task's outcome. This module imports no
Ray: the transport wraps the class with ``ray.remote`` when it starts workers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

from mac_core import ClientSettings, Completion, Event, Secret, Transport, TransportError
from mac_core.run import Task
from mac_core.transport import NoOptions

#: Items a worker yields: ``(EVENTS, [(type, text, data), ...])``, then one ``(DONE, completion fields)``
#: or ``(FAILED, transport error fields)``.
EVENTS, DONE, FAILED = "events", "done", "failed"

#: The Task fields a task travels to its worker with (callbacks and live state stay on the driver).
TASK_FIELDS = ("index", "prompt", "model", "max_tokens", "name", "id", "system", "temperature", "options")

#: Seconds a stop that overtook its task's call is remembered (the call arrives within milliseconds, or never).
EARLY_STOP_KEEP_S = 600.0

#: The ClientSettings fields sent to workers; the key travels apart, sealed (:class:`SealedKey`).
SETTINGS_FIELDS = (
    "base_url",
    "max_retries",
    "connect_timeout",
    "idle_timeout",
    "request_timeout",
    "http_client",
)


class SealedKey:
    """The API key on its way to the workers: pickles (unlike :class:`~mac_core.Secret`), never shows itself.

    It travels once per worker, as an actor constructor argument: Ray keeps
    those serialized, and shows neither their value nor their repr in the
    dashboard, the state API or logs (a ``runtime_env`` ``env_vars`` entry
    would be shown in all three; ADR 0027).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def secret(self) -> Secret:
        """The key, as the Secret the worker's clients are given."""
        return Secret(self._value)

    def __reduce__(self):
        return (SealedKey, (self._value,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SealedKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "SealedKey('********')"

    __str__ = __repr__


def task_spec(task: Task) -> dict[str, Any]:
    """What a worker needs of ``task`` to run it (:data:`TASK_FIELDS`)."""
    return {name: getattr(task, name) for name in TASK_FIELDS}


def settings_spec(settings: ClientSettings) -> dict[str, Any]:
    """The run's client settings a worker needs, without the key (:data:`SETTINGS_FIELDS`)."""
    return {name: getattr(settings, name) for name in SETTINGS_FIELDS}


def error_fields(exc: BaseException) -> dict[str, Any]:
    """A task's failure as plain fields: the :class:`TransportError` it raised, or any exception named."""
    if isinstance(exc, TransportError):
        return {
            "message": str(exc),
            "status_code": exc.status_code,
            "error_type": exc.error_type,
            "request_id": exc.request_id,
            "retries": exc.retries,
        }
    return {"message": f"{type(exc).__name__}: {exc}", "error_type": "error"}


class TaskWorker:
    """A Ray actor that runs tasks on an inner transport and streams their events back in batches.

    :param settings: :func:`settings_spec` of the run.
    :param key: the API key, sealed, or ``None``.
    :param inner: ``"stream"`` or ``"agent"``.
    :param workspace: the agents' workspace (``inner="agent"``).
    :param allow_shell: give agents shell tools (``inner="agent"``).
    :param batch_interval: seconds between two batches of one task's events.
    """

    def __init__(
        self,
        settings: dict[str, Any],
        key: SealedKey | None,
        inner: str,
        workspace: str | None,
        allow_shell: bool,
        batch_interval: float,
    ) -> None:
        secret = key.secret() if key is not None else None
        self.settings = ClientSettings(api_key=secret, options=NoOptions(), **settings)
        self.inner = inner
        self.workspace = workspace
        self.allow_shell = allow_shell
        self.batch_interval = batch_interval
        self._transport: Transport | None = None
        self._running: dict[str, asyncio.Task] = {}  # task key -> its inner work, for stop()
        self._early_stops: dict[str, float] = {}  # keys stopped before their run() began -> when

    def where(self) -> dict[str, Any]:
        """The worker's process id and host, once it is up (the driver waits for this)."""
        return {"pid": os.getpid(), "host": socket.gethostname()}

    async def _opened(self) -> Transport:
        if self._transport is None:
            if self.inner == "agent":
                from .agent import ConfinedAgentTransport

                transport: Transport = ConfinedAgentTransport(self.settings, self.workspace, self.allow_shell)
            else:
                from mac_plugins.stream import StreamTransport

                transport = StreamTransport(self.settings)
            await transport.open()
            self._transport = transport
        return self._transport

    async def run(self, key: str, spec: dict[str, Any]) -> AsyncIterator[tuple[str, Any]]:
        """Run one task; yield its events in batches, then its outcome. :meth:`stop` (or ``ray.cancel``) ends it."""
        transport = await self._opened()
        # No await from this check to registering the work: a stop() finds the key in one or the other.
        if self._early_stops.pop(key, None) is not None:
            return
        batch: list[tuple[str, str, Any]] = []
        append = batch.append

        def emit(event: Event) -> None:
            append((event.type, event.text, event.data))

        where = self.where()
        emit(Event("info", text=f"ray worker pid {where['pid']} on {where['host']}"))
        work = asyncio.ensure_future(transport.run_task(Task(**spec), emit))
        self._running[key] = work
        try:
            while True:
                done, _ = await asyncio.wait((work,), timeout=self.batch_interval)
                if batch:
                    sent = batch.copy()
                    batch.clear()
                    yield EVENTS, sent
                if done:
                    break
            if work.cancelled():  # stopped by the driver's stop(): it no longer waits for an outcome
                return
            exc = work.exception()
            if exc is not None:
                yield FAILED, error_fields(exc)
            else:
                completion = work.result()
                yield DONE, {f.name: getattr(completion, f.name) for f in dataclasses.fields(completion)}
        finally:
            self._running.pop(key, None)
            if not work.done():  # the generator was cancelled (ray.cancel) or closed: stop the work with it
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)

    def stop(self, keys: list[str]) -> None:
        """Cancel the work of these tasks at once (an interrupt: one call per worker, for all its tasks).

        Each task's inner transport is cancelled (its HTTP stream closed, or its
        agent interrupted); its :meth:`run` then ends without an outcome. A key
        whose ``run`` has not begun is remembered, and that ``run`` does nothing.
        """
        now = time.monotonic()
        for key in keys:
            work = self._running.get(key)
            if work is not None:
                work.cancel()
            else:
                self._early_stops[key] = now
        stale = [key for key, when in self._early_stops.items() if now - when > EARLY_STOP_KEEP_S]
        for key in stale:  # their run() finished before the stop came: nothing will claim them
            del self._early_stops[key]

    async def close(self) -> None:
        """Close the inner transport's clients (before the actor is killed)."""
        if self._transport is not None:
            transport, self._transport = self._transport, None
            await transport.aclose()


def completion_of(fields: dict[str, Any]) -> Completion:
    """The :class:`Completion` a worker sent as fields."""
    return Completion(**fields)


def error_of(fields: dict[str, Any]) -> TransportError:
    """The :class:`TransportError` a worker sent as fields."""
    message = fields.pop("message")
    return TransportError(message, **fields)
