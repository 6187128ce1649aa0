"""Loading plugins (entry points of group ``mac``) and calling their hooks safely."""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .transport import Transport

log = logging.getLogger("mac_core.plugins")

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT_NAME)
ENTRY_POINT_GROUP = "mac"

#: (name, plugin, its distribution: a name, or the ``Distribution`` whose name is read when asked).
_entry_point_plugins: list[tuple[str, object, Any]] | None = None


def _load_entry_points() -> list[tuple[str, object, Any]]:
    """Import every plugin of the ``mac`` entry-point group once per process: (name, plugin, distribution)."""
    global _entry_point_plugins
    if _entry_point_plugins is None:
        loaded = []
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            try:
                # The distribution's name costs a read of its metadata: only `mac plugins` asks for it.
                loaded.append((ep.name, ep.load(), ep.dist))
            except Exception:
                log.exception("mac plugin %r (%s) failed to load and is skipped", ep.name, ep.value)
        _entry_point_plugins = loaded
    return _entry_point_plugins


def _distribution_name(dist: Any) -> str | None:
    return dist if dist is None or isinstance(dist, str) else dist.name


class SyncHooksPluginManager(pluggy.PluginManager):
    """A ``PluginManager`` that refuses ``async def`` hook implementations when a plugin is registered.

    Hooks are called synchronously on the event loop: an async implementation
    would only return an unawaited coroutine (which a policy's caller would
    even read as "stop"), so it is a ``TypeError`` naming the plugin and hook.
    """

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin`` as pluggy does; raise ``TypeError`` (registering nothing) if a hook is async."""
        registered = super().register(plugin, name)
        for caller in self.get_hookcallers(plugin) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and _is_async(impl.function):
                    self.unregister(plugin)
                    raise TypeError(
                        f"plugin {impl.plugin_name}: {caller.name} is async; mac hooks are called synchronously "
                        "on the event loop, so a hook must be a plain def (hand slow work to a thread or task yourself)"
                    )
        return registered


def _is_async(function: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


def plugin_manager(extra: Iterable[object] = ()) -> pluggy.PluginManager:
    """A plugin manager with the installed plugins, then ``extra`` ones (called first).

    An ``extra`` plugin with an ``async def`` hook raises ``TypeError``; an
    installed one is logged and skipped, like one that fails to import.
    """
    pm = SyncHooksPluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name, plugin, _dist in _load_entry_points():
        try:
            pm.register(plugin, name=name)
        except TypeError:
            log.exception("mac plugin %r is skipped", name)
    for plugin in extra:
        name = getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{id(plugin):x}"
        if pm.is_registered(plugin):
            continue
        pm.register(plugin, name=name)
    return pm


@dataclass
class TransportEntry:
    """A registered transport and the plugin that registered it."""

    name: str
    transport: type[Transport]
    plugin: str


def collect_transports(pm: pluggy.PluginManager) -> dict[str, TransportEntry]:
    """Call ``mac_register_transports`` on every plugin; first registration of a name wins."""
    found: dict[str, TransportEntry] = {}
    for impl in reversed(pm.hook.mac_register_transports.get_hookimpls()):

        def register(name: str, transport: type[Transport], _plugin: str = impl.plugin_name) -> None:
            if not isinstance(name, str) or not name:
                raise ValueError(f"plugin {_plugin} registered a transport with a bad name {name!r}")
            if not (isinstance(transport, type) and issubclass(transport, Transport)):
                raise TypeError(f"plugin {_plugin} registered {name!r} as {transport!r}, not a Transport subclass")
            if name in found:
                log.warning("transport %r from plugin %s is shadowed by plugin %s", name, _plugin, found[name].plugin)
                return
            found[name] = TransportEntry(name, transport, _plugin)

        try:
            impl.function(register=register)
        except Exception:
            log.exception("plugin %s failed in mac_register_transports", impl.plugin_name)
    return found


def rate_limit_scheduler(pm: pluggy.PluginManager, settings: Any) -> Any:
    """The first scheduler a plugin's ``mac_rate_limit_scheduler`` provides, else the built-in one.

    A plugin that raises, or answers with something that is not a
    ``RequestScheduler``, is logged and skipped (as for every hook).
    """
    from .rate_limits import RequestScheduler, built_in_scheduler

    # pluggy's firstresult order (last registered first), each call contained like every other hook's
    for impl in reversed(pm.hook.mac_rate_limit_scheduler.get_hookimpls()):
        try:
            scheduler = impl.function(settings=settings)
        except BaseException as exc:
            contain(exc, f"plugin {impl.plugin_name} raised in mac_rate_limit_scheduler")
            continue
        if scheduler is None:
            continue
        if isinstance(scheduler, RequestScheduler):
            return scheduler
        log.error("plugin %s: mac_rate_limit_scheduler returned %s, not a RequestScheduler; ignored",
                  impl.plugin_name, type(scheduler).__name__)
    return built_in_scheduler(settings)


# --- calling hooks without letting a plugin break a task -------------------

_ARGS = {
    "mac_run_started": ("run",),
    "mac_task_started": ("task",),
    "mac_task_waiting": ("task", "seconds", "limit"),
    "mac_task_event": ("task", "event"),
    "mac_task_finished": ("task", "result"),
    "mac_run_finished": ("run", "results"),
    "mac_should_interrupt": ("task", "event", "run"),
}

#: A hook or callback holding the event loop this long (seconds) is named in a warning, while it holds it.
SLOW_HOOK_SECONDS = 1.0
#: How often the watch thread looks at what the event loop is running.
WATCH_INTERVAL = 0.25


def contain(exc: BaseException, what: str) -> None:
    """Log ``exc`` as ``what`` ("plugin x raised in mac_task_event") and return: it must not break the run.

    ``CancelledError`` and ``SystemExit`` are contained too: a sync call has no
    ``await``, so neither is the run's own cancellation, and either would
    otherwise tear the engine's task groups apart. ``KeyboardInterrupt`` on the
    main thread is re-raised: it is the user's Ctrl-C, landing while the hook ran.
    """
    if isinstance(exc, KeyboardInterrupt) and threading.current_thread() is threading.main_thread():
        raise exc
    log.error("%s (%s); ignored", what, type(exc).__name__, exc_info=exc)


class HookWatch:
    """Names the hook or callback that holds a run's event loop, while it still holds it.

    The loop thread sets :attr:`running` to a fresh ``(label,)`` tuple before each
    call and to ``None`` after the hooks of one dispatch; a watch thread that
    sees the very same tuple for over :data:`SLOW_HOOK_SECONDS` logs a warning
    with its label. Two stores per call: no clock is read on the event path.
    """

    __slots__ = ("running", "_stopped", "_thread")

    def __init__(self) -> None:
        self.running: tuple[str] | None = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start watching (once); the thread ends at :meth:`stop`."""
        if self._thread is None and not self._stopped.is_set():
            self._thread = threading.Thread(target=self._watch, name="mac-hook-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop watching; the thread ends at once."""
        self._stopped.set()

    def _watch(self) -> None:
        seen: tuple[str] | None = None
        since = 0.0
        warned = False
        while not self._stopped.wait(WATCH_INTERVAL):
            running = self.running
            now = time.monotonic()
            if running is None or running is not seen:
                seen, since, warned = running, now, False
            elif not warned and now - since >= SLOW_HOOK_SECONDS:
                warned = True
                log.warning(
                    "%s has held the event loop for over %.0f s: no task progresses, no timeout fires and "
                    "Ctrl-C waits until it returns (hooks and callbacks must not block)",
                    running[0], now - since,
                )


#: (plugin name, what the watch calls it, the function, where its arguments are in the hook's).
Implementation = tuple[str, str, Callable[..., Any], tuple[int, ...]]


def _implementations(pm: pluggy.PluginManager, hook: str) -> list[Implementation]:
    spec_args = _ARGS[hook]
    impls = []
    # pluggy calls the last-registered implementation first; keep that order.
    for impl in reversed(getattr(pm.hook, hook).get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            log.warning("plugin %s: wrappers are not supported on %s; ignored", impl.plugin_name, hook)
            continue
        if _is_async(impl.function):  # registered on a plain pluggy manager: never call it
            log.error("plugin %s: %s is async; hooks must be plain functions; ignored", impl.plugin_name, hook)
            continue
        label = f"plugin {impl.plugin_name} in {hook}"
        impls.append((impl.plugin_name, label, impl.function, tuple(spec_args.index(a) for a in impl.argnames)))
    return impls


def _isolated(hook: str, impls: list[Implementation], watch: HookWatch) -> Callable[..., None] | None:
    if not impls:
        return None

    def call(*args: Any) -> None:
        for plugin, label, fn, idx in impls:
            watch.running = (label,)  # a new tuple per call: the watch tells one long call from many short ones
            try:
                fn(*[args[i] for i in idx])
            except BaseException as exc:
                contain(exc, f"plugin {plugin} raised in {hook}")
        watch.running = None

    return call


def _every_policy(impls: list[Implementation], watch: HookWatch) -> Callable[..., Any] | None:
    """Ask every policy about the event; the first to ask for a stop wins (its plugin and decision)."""
    if not impls:
        return None

    def call(*args: Any) -> tuple[str, Any] | None:
        verdict = None
        for plugin, label, fn, idx in impls:
            watch.running = (label,)
            try:
                decision = fn(*[args[i] for i in idx])
            except BaseException as exc:
                contain(exc, f"plugin {plugin} raised in mac_should_interrupt")
                continue
            if decision and verdict is None:
                verdict = plugin, decision
        watch.running = None
        return verdict

    return call


def _watching(watch: HookWatch, watch_always: bool, started: Callable[..., None] | None) -> Callable[..., None]:
    def run_started(run: Any) -> None:
        # Nothing of the user's runs on the loop without a hook or a callback: no thread then.
        if watch_always or any(task.on_text is not None for task in run.tasks):
            watch.start()
        if started is not None:
            started(run)

    return run_started


def _unwatching(watch: HookWatch, finished: Callable[..., None] | None) -> Callable[..., None]:
    def run_finished(run: Any, results: Any) -> None:
        try:
            if finished is not None:
                finished(run, results)
        finally:
            watch.stop()

    return run_finished


@dataclass
class RunHooks:
    """The hooks of one run, resolved once so the per-event path does no lookups.

    Each per-task attribute is ``None`` when no plugin implements the hook;
    ``run_started`` and ``run_finished`` also start and stop :attr:`watch`.
    """

    run_started: Callable[..., None] | None = None
    task_started: Callable[..., None] | None = None
    task_waiting: Callable[..., None] | None = None
    task_event: Callable[..., None] | None = None
    task_finished: Callable[..., None] | None = None
    run_finished: Callable[..., None] | None = None
    should_interrupt: Callable[..., tuple[str, Any] | None] | None = None
    plugins: list[str] = field(default_factory=list)
    watch: HookWatch = field(default_factory=HookWatch)

    @classmethod
    def from_manager(cls, pm: pluggy.PluginManager) -> RunHooks:
        """Resolve the run hooks of ``pm``'s plugins, each call contained and watched."""
        watch = HookWatch()
        found = {hook: _implementations(pm, hook) for hook in _ARGS}
        return cls(
            run_started=_watching(watch, any(found.values()), _isolated("mac_run_started", found["mac_run_started"], watch)),
            task_started=_isolated("mac_task_started", found["mac_task_started"], watch),
            task_waiting=_isolated("mac_task_waiting", found["mac_task_waiting"], watch),
            task_event=_isolated("mac_task_event", found["mac_task_event"], watch),
            task_finished=_isolated("mac_task_finished", found["mac_task_finished"], watch),
            run_finished=_unwatching(watch, _isolated("mac_run_finished", found["mac_run_finished"], watch)),
            should_interrupt=_every_policy(found["mac_should_interrupt"], watch),
            watch=watch,
        )


def describe_plugins(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """What each registered plugin provides, for ``mac plugins``."""
    transports = collect_transports(pm)
    distributions = {name: _distribution_name(dist) for name, _plugin, dist in _load_entry_points()}
    rows = []
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        provides = []
        mine = sorted(t.name for t in transports.values() if t.plugin == name)
        if mine:
            provides.append("transports: " + ", ".join(mine))
        if "mac_should_interrupt" in hooks:
            provides.append("interrupt policy")
        if any(h in hooks for h in ("mac_task_event", "mac_task_started", "mac_task_waiting", "mac_task_finished",
                                    "mac_run_finished")):
            provides.append("progress reporter")
        if "mac_rate_limit_scheduler" in hooks:
            provides.append("rate-limit scheduler")
        if "mac_register_commands" in hooks:
            provides.append("commands")
        doc = (getattr(plugin, "__doc__", None) or "").strip().splitlines()
        summary = doc[0].strip() if doc else ""
        module = getattr(plugin, "__name__", type(plugin).__module__)
        rows.append(
            {
                "name": name,
                "module": module,
                "distribution": distributions.get(name),
                "summary": summary,
                "hooks": hooks,
                "provides": provides,
            }
        )
    return rows
