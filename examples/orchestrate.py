"""An orchestrator and its workers: a lead model decides the fan-out, this engine runs it.

The lead gets one tool, ``spawn_agents``; each call runs a wave of workers at
once and hands their answers back to it, until it answers the goal. A budget
on the coordinator counts the lead and every worker together and stops them
all when it is reached.

Runs offline: it starts the embedded simulator, whose goal scripts the lead's
calls (``[[tool: spawn_agents {...}]]``) and each worker's answer, and points
the Coordinator at it. With ``ANTHROPIC_API_KEY`` set and ``--live`` it asks
the real API instead, without the script.

    python examples/orchestrate.py [--live]
"""

from __future__ import annotations

import json
import os
import sys

from mac_plugins.policies import TokenBudget
from mac_plugins.reporters.live import status_word

from mac_core import Coordinator
from mac_core.orchestrator import Orchestration

GOAL = "Review the checkout service of our shop for security and speed, then say what to fix first."


def spawn(*workers: tuple[str, str]) -> str:
    """The simulator's script for one ``spawn_agents`` call: ``(name, prompt)`` per worker."""
    tasks = [{"name": name, "prompt": prompt} for name, prompt in workers]
    return f" [[tool: spawn_agents {json.dumps({'tasks': tasks})}]]"


#: What the simulator's lead does (ignored with --live): two waves, then an answer quoting the workers.
SCRIPT = (
    spawn(
        ("security", "Audit the login and payment code. [[reply: Login builds SQL from user input.]]"),
        ("performance", "Profile the cart. [[reply: The cart runs one query per item.]]"),
    )
    + spawn(("fix-plan", "Plan the fix for SQL built from user input. [[reply: Use bound parameters.]]"))
    + " [[reply: Fix the login first. What the workers found: {{tool_results}}]]"
)


def show(outcome: Orchestration) -> None:
    """The lead's answer, then the tree: each worker under the lead, with its status and answer."""
    print(f"lead: {outcome.status}: {outcome.text[:200]}")
    for wave in outcome.waves:
        print(f"  wave {wave.number} of {wave.agent}:")
        for name in wave.names:
            worker = outcome.workers[name]
            print(f"    {name}: {status_word(worker.status)}: {worker.text[:80]!r}")
    print(f"  {outcome.usage.total_tokens} tokens in all, ${outcome.cost_usd or 0:.5f}")
    if outcome.interrupt_reason:
        print(f"  stopped: {outcome.interrupt_reason}")


def run(coordinator: Coordinator, *, scripted: bool) -> list[Orchestration]:
    """The review, then the same review under a budget too small for it."""
    goal = GOAL + (SCRIPT if scripted else "")
    full = coordinator.orchestrate(goal, max_workers=3, max_waves=2, max_tokens=1024)
    show(full)
    budget = TokenBudget(70)  # the lead and every worker together: stops them all mid-wave
    cut = coordinator.orchestrate(goal, max_workers=3, max_waves=2, max_tokens=1024, plugins=[budget])
    show(cut)
    return [full, cut]


def main() -> None:
    """Against the simulator, unless ``--live`` (and a key) asks for the real API."""
    if "--live" in sys.argv[1:] and os.environ.get("ANTHROPIC_API_KEY"):
        run(Coordinator(), scripted=False)
        return
    from mac_plugins.simulator import Simulator

    with Simulator(token_delay=0.0) as simulator:
        run(Coordinator(api_key="sk-simulated", base_url=simulator.url), scripted=True)


if __name__ == "__main__":
    main()
