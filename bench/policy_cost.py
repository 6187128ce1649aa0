"""Policy text cost: CPU per event of a run whose policy reads ``task.text[-200:]`` on every text event.

The policy is the README's ``StopOnCritical`` (it never triggers here); the
transport emits canned text events without I/O, so what is measured is the
engine, the hooks and the policy. Every run streams the same number of events
in all (``total_events``): many short tasks or few long ones, so the fixed
cost of a run is the same at every size and a per-event cost that grows with
the task's length shows as a ratio above 1 between the sizes.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from mac_core import Completion, Coordinator, Event, Interrupt, Transport, hookimpl

#: The chunks a canned answer cycles through: a few characters each, like a model's text deltas.
WORDS = (" the", " analysis", " shows", " that", " this", " module", " handles", " input", " carefully.")


@dataclass(frozen=True)
class CannedTextOptions:
    """``transport_options`` of :class:`CannedTextTransport`: how many text events each task emits."""

    events: int = 1000


class CannedTextTransport(Transport):
    """Emits ``events`` canned text events per task (``transport_options={"events": N}``), with no I/O."""

    name = "canned_text"
    streams = True
    needs_api_key = False
    options_type = CannedTextOptions

    async def run_task(self, task, emit):
        """Emit the canned chunks as ``text`` events, one ``Event`` each as a real transport builds them."""
        for index in range(self.settings.options.events):
            emit(Event("text", WORDS[index % len(WORDS)]))
        return Completion()


class CannedTextPlugin:
    """Registers :class:`CannedTextTransport` as ``canned_text``."""

    @hookimpl
    def mac_register_transports(self, register):
        """Register the canned transport."""
        register(CannedTextTransport.name, CannedTextTransport)


class StopOnCritical:
    """The README's policy: stop the run when the last 200 characters of a task's text say CRITICAL."""

    @hookimpl
    def mac_should_interrupt(self, task, event, run):
        """Read ``task.text[-200:]`` on every text event (it never says CRITICAL here)."""
        if event.type == "text" and "CRITICAL" in task.text[-200:]:
            return Interrupt(reason=f"{task.name} found something critical", scope="run")
        return None


def run_cpu_seconds(coordinator: Coordinator, events: int, tasks: int) -> float:
    """CPU seconds of this process (every thread) for one run of ``tasks`` tasks of ``events`` events each."""
    prompts = [f"canned {i}" for i in range(tasks)]
    started = time.process_time()
    results = coordinator.run(prompts, transport="canned_text", transport_options={"events": events},
                              max_concurrency=tasks)
    spent = time.process_time() - started
    if any(r.status != "completed" or len(r.text) < events for r in results):
        raise RuntimeError(f"a canned run did not complete: {[r.status for r in results]}")
    return spent


def policy_cost_main(spec: dict[str, Any]) -> dict[str, Any]:
    """µs per event with and without the policy at each of ``events`` per task; median of ``repeats`` runs."""
    with_policy = Coordinator(plugins=[CannedTextPlugin(), StopOnCritical()])
    without = Coordinator(plugins=[CannedTextPlugin()])
    runs: dict[str, Any] = {}
    for coordinator in (with_policy, without):
        run_cpu_seconds(coordinator, 100, 1)  # first-run set-up (lazy imports, hook caches) stays out
    for events in spec["events"]:
        tasks = max(1, spec["total_events"] // events)
        samples: dict[str, list[float]] = {"with_policy": [], "without_policy": []}
        for _ in range(spec["repeats"]):
            for name, coordinator in (("with_policy", with_policy), ("without_policy", without)):
                samples[name].append(run_cpu_seconds(coordinator, events, tasks) / (events * tasks) * 1e6)
        runs[str(events)] = {"events_per_task": events, "tasks": tasks,
                             **{f"{name}_us_per_event": statistics.median(values) for name, values in samples.items()},
                             **{f"all_{name}_us_per_event": values for name, values in samples.items()}}
    return {"runs": runs}
