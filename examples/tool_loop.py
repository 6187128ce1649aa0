"""Tool loops: prompts carry Python functions as tools; each task runs them until the model has its answer.

Runs offline: it starts the embedded simulator (whose prompts script the tool
calls with ``[[tool: ...]]`` and ``[[tools: A {...} | B {...}]]``) and points
the Coordinator at it. With ``ANTHROPIC_API_KEY`` set and ``--live`` it asks
the real API instead, without the script.

    python examples/tool_loop.py [--live]
"""

from __future__ import annotations

import os
import sys
from typing import Literal

import anyio

from mac_core import Coordinator, tool

TEMPERATURES = {"Paris": 18, "Oslo": 4, "Lima": 22}


@tool
def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
    """The current temperature in a city.

    :param city: the city's name, e.g. "Paris".
    :param unit: Celsius or Fahrenheit.
    """
    celsius = TEMPERATURES[city]  # an unknown city raises: the model reads the error and carries on
    return f"{celsius if unit == 'C' else round(celsius * 9 / 5 + 32)} degrees {unit} in {city}"


@tool
async def get_forecast(city: str, days: int = 3) -> list[str]:
    """The forecast for the next days, one line a day.

    :param city: the city's name.
    :param days: how many days, 1 to 7.
    """
    await anyio.sleep(0.1)  # an async tool: the model's calls in one response run at the same time
    return [f"day {day}: clear over {city}" for day in range(1, days + 1)]


QUESTIONS = [
    "Is it warmer in Paris or in Oslo right now?",
    "What will the weather be in Lima this week?",
    "How warm is it in Atlantis?",
]
#: What the simulator's model does for each question (ignored with --live).
SCRIPTS = [
    ' [[tools: get_weather {"city": "Paris"} | get_weather {"city": "Oslo"}]]',
    ' [[tool: get_forecast {"city": "Lima", "days": 2}]] [[reply: Clear skies in Lima.]]',
    ' [[tool: get_weather {"city": "Atlantis"}]]',
]


def run(coordinator: Coordinator, *, scripted: bool) -> list:
    """Ask every question with both tools and print each answer and the calls behind it."""
    prompts = [question + (script if scripted else "") for question, script in zip(QUESTIONS, SCRIPTS, strict=True)]
    results = coordinator.run(prompts, tools=[get_weather, get_forecast], max_tool_rounds=5, max_tokens=1024)
    for question, result in zip(QUESTIONS, results, strict=True):
        print(f"{question}\n  {result.status}: {result.text or result.error}")
        for call in result.tool_calls:  # each call: name, input, output or error, started_at, duration
            outcome = f"-> {call['output']!r}" if "output" in call else f"error {call.get('error')!r}"
            print(f"    {call['name']}({call['input']}) {outcome} in {call.get('duration', 0):.2f} s")
        print(f"  {result.usage.total_tokens} tokens over the rounds, ${result.cost_usd or 0:.5f}")
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
