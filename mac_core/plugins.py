"""Loading plugins (entry points of group ``mac``) and calling their hooks safely."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .transport import Transport

log = logging.getLogger("mac_core.plugins")

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT_NAME)
ENTRY_POINT_GROUP = "mac"

_entry_point_plugins: list[tuple[str, object, str | None]] | None = None


def _load_entry_points() -> list[tuple[str, object, str | None]]:
    """Import every plugin of the ``mac`` entry-point group once per process: (name, plugin, distribution)."""
    global _entry_point_plugins
    if _entry_point_plugins is None:
        loaded = []
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            try:
                loaded.append((ep.name, ep.load(), ep.dist.name if ep.dist else None))
            except Exception:
                log.exception("mac plugin %r (%s) failed to load and is skipped", ep.name, ep.value)
        _entry_point_plugins = loaded
    return _entry_point_plugins


def plugin_manager(extra: Iterable[object] = ()) -> pluggy.PluginManager:
    """A plugin manager with the installed plugins, then ``extra`` ones (called first)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name, plugin, _dist in _load_entry_points():
        pm.register(plugin, name=name)
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


# --- calling hooks without letting a plugin break a task -------------------

_ARGS = {
    "mac_run_started": ("run",),
    "mac_task_started": ("task",),
    "mac_task_event": ("task", "event"),
    "mac_task_finished": ("task", "result"),
    "mac_run_finished": ("run", "results"),
    "mac_should_interrupt": ("task", "event", "run"),
}


def _implementations(pm: pluggy.PluginManager, hook: str) -> list[tuple[str, Callable[..., Any], tuple[int, ...]]]:
    spec_args = _ARGS[hook]
    impls = []
    # pluggy calls the last-registered implementation first; keep that order.
    for impl in reversed(getattr(pm.hook, hook).get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            log.warning("plugin %s: wrappers are not supported on %s; ignored", impl.plugin_name, hook)
            continue
        impls.append((impl.plugin_name, impl.function, tuple(spec_args.index(a) for a in impl.argnames)))
    return impls


def _isolated(hook: str, impls: list[tuple[str, Callable[..., Any], tuple[int, ...]]]) -> Callable[..., None] | None:
    if not impls:
        return None

    def call(*args: Any) -> None:
        for plugin, fn, idx in impls:
            try:
                fn(*[args[i] for i in idx])
            except Exception:
                log.exception("plugin %s raised in %s; ignored", plugin, hook)

    return call


def _first_decision(impls: list[tuple[str, Callable[..., Any], tuple[int, ...]]]) -> Callable[..., Any] | None:
    if not impls:
        return None

    def call(*args: Any) -> tuple[str, Any] | None:
        for plugin, fn, idx in impls:
            try:
                decision = fn(*[args[i] for i in idx])
            except Exception:
                log.exception("plugin %s raised in mac_should_interrupt; ignored", plugin)
                continue
            if decision:
                return plugin, decision
        return None

    return call


@dataclass
class RunHooks:
    """The hooks of one run, resolved once so the per-event path does no lookups.

    Each attribute is ``None`` when no plugin implements the hook.
    """

    run_started: Callable[..., None] | None = None
    task_started: Callable[..., None] | None = None
    task_event: Callable[..., None] | None = None
    task_finished: Callable[..., None] | None = None
    run_finished: Callable[..., None] | None = None
    should_interrupt: Callable[..., tuple[str, Any] | None] | None = None
    plugins: list[str] = field(default_factory=list)

    @classmethod
    def from_manager(cls, pm: pluggy.PluginManager) -> RunHooks:
        return cls(
            run_started=_isolated("mac_run_started", _implementations(pm, "mac_run_started")),
            task_started=_isolated("mac_task_started", _implementations(pm, "mac_task_started")),
            task_event=_isolated("mac_task_event", _implementations(pm, "mac_task_event")),
            task_finished=_isolated("mac_task_finished", _implementations(pm, "mac_task_finished")),
            run_finished=_isolated("mac_run_finished", _implementations(pm, "mac_run_finished")),
            should_interrupt=_first_decision(_implementations(pm, "mac_should_interrupt")),
        )


def describe_plugins(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """What each registered plugin provides, for ``mac plugins``."""
    transports = collect_transports(pm)
    distributions = {name: dist for name, _plugin, dist in _load_entry_points()}
    rows = []
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        provides = []
        mine = sorted(t.name for t in transports.values() if t.plugin == name)
        if mine:
            provides.append("transports: " + ", ".join(mine))
        if "mac_should_interrupt" in hooks:
            provides.append("interrupt policy")
        if any(h in hooks for h in ("mac_task_event", "mac_task_started", "mac_task_finished", "mac_run_finished")):
            provides.append("progress reporter")
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
