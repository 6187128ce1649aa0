"""The driver's side of the cluster: reaching it (:func:`connect`) and the pool of worker actors (:class:`WorkerPool`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mac_core import TransportError

from .options import RayOptions
from .worker import SealedKey, TaskWorker

INSTALL_HINT = "pip install 'multi-agent-coordination[ray]'"

#: Object store of a local cluster this transport starts: events are small, Ray's default (30% of RAM) is not.
LOCAL_OBJECT_STORE_BYTES = 256 * 2**20
#: How many tasks one worker actor runs at once (each is a coroutine on its event loop).
ACTOR_CONCURRENCY = 10_000
#: Restarts of a worker actor that died; the tasks it was running fail, later ones run on the restarted actor.
ACTOR_RESTARTS = 3


class MissingRayError(ImportError):
    """Ray (the optional extra ``ray``) is not installed."""


def import_ray() -> Any:
    """The ``ray`` module, or :class:`MissingRayError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise MissingRayError(f"the ray transport needs Ray: {INSTALL_HINT}") from None
    return ray


#: The thread local clusters are started from. Ray's processes die with the thread that started them
#: (PR_SET_PDEATHSIG), so it must outlive every run: this one is never shut down before the process exits.
_starter: ThreadPoolExecutor | None = None


async def connect_lasting(options: RayOptions) -> bool:
    """:func:`connect` from a thread that lives as long as the process, awaited without blocking the loop."""
    global _starter
    if _starter is None:
        _starter = ThreadPoolExecutor(1, thread_name_prefix="mac-ray-start")
    return await asyncio.wrap_future(_starter.submit(connect, options))


def connect(options: RayOptions) -> bool:
    """Join the cluster ``options`` names, or start a local one; ``True`` if this call started Ray.

    Blocking (starting a local cluster takes seconds): call :func:`connect_lasting`.
    A process already connected (``ray.init`` called by the caller) is used
    as it is. A local cluster gets ``num_cpus`` (default: this machine's), no
    dashboard, a small object store, Ray's token authentication, listens on loopback
    only (:func:`loopback_node`), and lives until the process exits.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    address = options.cluster_address
    settings: dict[str, Any] = {"address": address, "log_to_driver": False, "logging_level": logging.ERROR}
    if address == "local":
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no report to Ray's servers from a local run
        settings.update(
            num_cpus=options.num_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
        )
    try:
        with loopback_node(ray) if address == "local" or on_loopback(address) else contextlib.nullcontext():
            ray.init(**settings)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise TransportError(
            f"could not reach the Ray cluster at {address!r}: {exc}", error_type="connection_error"
        ) from None
    return True


def on_loopback(address: str) -> bool:
    """Whether a cluster ``address`` ("host:port", "ray://host:port") names this machine's loopback."""
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def loopback_node(ray: Any):
    """Within this block a new local node takes 127.0.0.1 as its address, so every Ray server binds loopback only.

    Ray's servers (GCS, raylet, workers, agents) bind the node's address. On
    Linux ``ray.init()`` picks the machine's routable address, and maps an
    explicit ``_node_ip_address="127.0.0.1"`` back to it; only its "clusters
    are off" setting (the macOS and Windows default) keeps loopback. A local
    cluster is one machine's, so it is off here for the start (ADR 0027); a
    driver joining it (``address="127.0.0.1:port"``) needs the same, or it
    waits for a node on the routable address that never comes.
    """
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if constants is None or not hasattr(constants, "ENABLE_RAY_CLUSTER"):  # a Ray without the setting
        yield
        return
    before = constants.ENABLE_RAY_CLUSTER
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = before


def pool_identity(options: RayOptions, settings: dict[str, Any], key: SealedKey | None) -> tuple:
    """What makes two pools interchangeable: the options (but the address), the client settings, the key."""
    return dataclasses.replace(options, address=None), tuple(sorted(settings.items())), key


class WorkerPool:
    """Worker actors spread over the cluster's nodes; each task goes to the one with the fewest running.

    The API key travels once per actor, sealed, as a constructor argument (ADR 0027).
    """

    def __init__(
        self, ray: Any, options: RayOptions, settings: dict[str, Any], key: SealedKey | None
    ) -> None:
        self.identity = pool_identity(options, settings, key)
        self.workers: list[dict[str, Any]] = []  # each actor's pid and host, once ready
        count = options.actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
        remote = ray.remote(TaskWorker).options(
            num_cpus=0,
            max_concurrency=ACTOR_CONCURRENCY,
            max_restarts=ACTOR_RESTARTS,
            max_task_retries=0,
            scheduling_strategy="SPREAD",
        )
        self.ray = ray
        self.actors = [
            remote.remote(
                settings, key, options.inner, options.workspace, options.allow_shell, options.batch_interval
            )
            for _ in range(count)
        ]
        self.running = [0] * count
        self._stops: dict[int, list[str]] = {}  # actor index -> keys of the tasks to stop there

    async def wait_ready(self, timeout: float) -> list[dict[str, Any]]:
        """Each actor's process id and host, once all are up; :class:`TransportError` after ``timeout`` s."""
        refs = [actor.where.remote() for actor in self.actors]
        try:
            return await asyncio.wait_for(asyncio.gather(*refs), timeout)
        except TimeoutError:
            ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
            raise TransportError(
                f"the Ray cluster did not start {len(refs)} worker(s) within {timeout:g} s "
                f"({len(ready)} up); is mac_plugins installed on every node?",
                error_type="connection_error",
            ) from None

    def least_busy(self) -> int:
        """The index of the actor running the fewest tasks."""
        running = self.running
        return running.index(min(running))

    def stop_later(self, index: int, key: str) -> None:
        """Stop task ``key`` on actor ``index``; the stops of one loop iteration go as one ``stop`` call per actor.

        No ``ray.cancel`` per task: 100 of them held the driver's loop for 25 ms
        and reached the actors after the stops (ADR 0027).
        """
        if not self._stops:
            asyncio.get_running_loop().call_soon(self._send_stops)
        self._stops.setdefault(index, []).append(key)

    def _send_stops(self) -> None:
        stops, self._stops = self._stops, {}
        for index, keys in stops.items():
            self.actors[index].stop.remote(keys)

    async def close(self, timeout: float = 5.0) -> None:
        """Close every actor's clients (for up to ``timeout`` s), then end the actors."""
        closing = [actor.close.remote() for actor in self.actors]
        try:
            await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), timeout)
        except TimeoutError:
            pass
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)
        self.actors = []


#: The pool the last run left, kept for the next run with the same settings: starting a pool's
#: worker processes costs seconds, and a script may call ``Coordinator.run`` many times.
_idle_pool: WorkerPool | None = None


async def take_pool(
    ray: Any, options: RayOptions, settings: dict[str, Any], key: SealedKey | None
) -> WorkerPool:
    """A pool for a run: the idle one if its settings (and key) are the same and its actors answer, else a new one."""
    global _idle_pool
    pool, _idle_pool = _idle_pool, None
    if pool is not None:
        if pool.identity == pool_identity(options, settings, key):
            try:
                pool.workers = await pool.wait_ready(options.start_timeout)
                return pool
            except Exception:  # an actor past its restarts, or a cluster shut down since: start afresh
                pass
        await pool.close()
    pool = WorkerPool(ray, options, settings, key)
    pool.workers = await pool.wait_ready(options.start_timeout)
    return pool


async def give_back(pool: WorkerPool) -> None:
    """A run is done with ``pool``: keep it idle for the next run, ending the one kept before."""
    global _idle_pool
    if any(pool.running):  # tasks still winding down (a cancelled run): do not hand it on
        await pool.close()
        return
    previous, _idle_pool = _idle_pool, pool
    if previous is not None:
        await previous.close()
