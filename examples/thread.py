"""Threads: a conversation whose history is cached as it grows, forked into parallel continuations.

Runs offline: it starts the embedded simulator (whose prompt cache reads and
writes as the API's does) and points the Coordinator at it. With
``ANTHROPIC_API_KEY`` set and ``--live`` it asks the real API instead (whose
cache needs a prefix of 1024 tokens or more before it reads anything).

    python examples/thread.py [--live]
"""

from __future__ import annotations

import os
import sys

from mac_core import Coordinator, InterruptToken

SYSTEM = "You are a patient tutor on distributed systems. Answer in two or three sentences. " * 20


def converse(coordinator: Coordinator) -> None:
    """Three turns, three forks of the same history (one adopted), and a turn stopped halfway."""
    thread = coordinator.thread(system=SYSTEM, max_tokens=300)
    for question in ("What is a cache?", "Why does a prefix cache need exact prefixes?", "And a look-back?"):
        result = thread.send(question)  # streamed; the coordinator's reporters and policies see it
        print(f"> {question}\n  {result.text}")
        print(
            f"  {result.usage.cache_read_input_tokens} tokens read from the cache, "
            f"{result.usage.cache_creation_input_tokens} written"
        )

    # Three continuations of the same history at once; each reads the cached history. None joins it...
    forks = thread.fork(["Say it in one sentence.", "Give an example.", "What can go wrong?"])
    for result in forks:
        print(
            f"  {result.name}: {result.status}, {result.usage.cache_read_input_tokens} tokens read from the cache"
        )
    thread.adopt(forks[1])  # ... until one is adopted as the next turn
    print(f"adopted {forks[1].name}: the history has {len(thread.history)} messages")

    # A turn stopped halfway keeps what it received (keep_interrupted="partial", the default).
    token = InterruptToken()
    words: list[str] = []

    def stop_after_five_words(chunk: str) -> None:
        words.append(chunk)
        if len(words) == 5:
            token.interrupt("enough for now")

    stopped = thread.send(
        "Explain cache eviction at length.", on_text=stop_after_five_words, interrupt_token=token
    )
    print(f"{stopped.status} ({stopped.interrupt_reason}): kept {thread.history[-1]['content'][0]['text']!r}")
    after = thread.send("Thanks, go on briefly.")
    print(f"next turn {after.status}, {after.usage.cache_read_input_tokens} tokens read from the cache")


def main() -> None:
    """Against the simulator, unless ``--live`` (and a key) asks for the real API."""
    if "--live" in sys.argv[1:] and os.environ.get("ANTHROPIC_API_KEY"):
        converse(Coordinator())
        return
    from mac_plugins.simulator import Simulator

    with Simulator(token_delay=0.005, tokens=30) as simulator:
        converse(Coordinator(api_key="sk-simulated", base_url=simulator.url))


if __name__ == "__main__":
    main()
