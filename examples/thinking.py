"""Extended thinking: each task's thinking comes back in ``TaskResult.thinking``, beside its answer.

The live view (``RichReporter``) shows a task's thinking dimmed while it
streams, then its answer. On a terminal you see it happen; piped, the view
draws its final state once.

Runs offline: it starts the embedded simulator, whose prompts script the
thinking (``[[thinking: ...]]``) and the answer (``[[reply: ...]]``), and
points the Coordinator at it. With ``ANTHROPIC_API_KEY`` set and ``--live`` it
asks the real API instead, without the script.

    python examples/thinking.py [--live]
"""

from __future__ import annotations

import os
import sys

from mac_plugins.reporters import RichReporter

from mac_core import Coordinator

QUESTIONS = [
    "Is 1,001 a prime number?",
    "A bat and a ball cost $1.10; the bat costs $1.00 more than the ball. What does the ball cost?",
]
#: What the simulator's model thinks and says for each question (ignored with --live).
SCRIPTS = [
    " [[thinking: 1001 = 7 x 11 x 13, so it has divisors besides 1 and itself.]] [[reply: No: 7 x 11 x 13.]]",
    " [[thinking: ball + (ball + 1.00) = 1.10, so 2 x ball = 0.10.]] [[reply: 5 cents.]]",
]
#: Thinking on: the budget is part of max_tokens, which must be larger.
THINKING = {"type": "enabled", "budget_tokens": 1024}


def run(coordinator: Coordinator, *, scripted: bool) -> list:
    """Ask every question with thinking on; print each one's thinking and answer."""
    prompts = [
        question + (script if scripted else "") for question, script in zip(QUESTIONS, SCRIPTS, strict=True)
    ]
    results = coordinator.run(prompts, thinking=THINKING, max_tokens=2048, plugins=[RichReporter()])
    for question, result in zip(QUESTIONS, results, strict=True):
        print(f"{question}\n  thinking: {result.thinking.strip()}\n  {result.status}: {result.text}")
    return results


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
