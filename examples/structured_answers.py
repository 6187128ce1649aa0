"""Structured answers: every prompt's answer as a Pydantic model instance (or a dict for a JSON Schema).

Runs offline: it starts the embedded simulator and points the Coordinator at
it. With ``ANTHROPIC_API_KEY`` set and ``--live`` it asks the real API instead.

    python examples/structured_answers.py [--live]
"""

from __future__ import annotations

import os
import sys
from typing import Literal

from pydantic import BaseModel, Field

from mac_core import Coordinator


class Review(BaseModel):
    """What each reviewer answers with."""

    verdict: Literal["approve", "request_changes"]
    score: int = Field(ge=1, le=10, description="overall quality")
    findings: list[str]


#: A run-wide output= applies to every prompt; a prompt's own output= (here a JSON Schema dict) wins.
PROMPTS = [
    "Review the error handling of this function: def load(p): return open(p).read()",
    "Review the naming in: def f(x, y): return x * y",
    {
        "prompt": "How many lines should a function have at most? Answer with the number and why.",
        "output": {
            "type": "object",
            "properties": {"lines": {"type": "integer"}, "why": {"type": "string"}},
            "required": ["lines", "why"],
        },
    },
    'A reviewer that answers off-schema: [[reply: {"verdict": "maybe"}]]',  # scripted for the simulator
]


def run(coordinator: Coordinator) -> list:
    """Run the prompts with ``output=Review`` and print what each answered."""
    results = coordinator.run(PROMPTS, output=Review, max_tokens=1024)
    for result in results:
        if result.ok:
            print(f"{result.name}: {result.parsed!r}")
        else:  # an answer that is not JSON or does not conform: error_type "invalid_output", text kept
            print(f"{result.name}: {result.status} ({result.error_type}): {result.error}")
    return results


def main() -> None:
    """Against the simulator, unless ``--live`` (and a key) asks for the real API."""
    if "--live" in sys.argv[1:] and os.environ.get("ANTHROPIC_API_KEY"):
        run(Coordinator())
        return
    from mac_plugins.simulator import Simulator

    with Simulator(token_delay=0.0) as simulator:
        run(Coordinator(api_key="sk-simulated", base_url=simulator.url))


if __name__ == "__main__":
    main()
