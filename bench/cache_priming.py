"""Cache priming: ``invoke_parallel(..., cache_shared_system=True)`` against the same call without caching.

With caching on, the first request goes alone (streamed, though
``invoke_parallel`` itself does not stream) and the others start at its
``message_start``, so they read the prompt cache it writes. This client runs
one of the two variants in its own process: it points the classic functions
at the simulator through ``ANTHROPIC_BASE_URL`` and ``ANTHROPIC_API_KEY``
(set in its environment by the harness), warms up with one ``invoke_claude``,
then times one ``invoke_parallel`` and reads the simulator's prompt-cache
counters around it.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from typing import Any

#: Paragraphs of a long shared system prompt (about 1,650 words, 2,260 simulated tokens: above the API minimum of 1,024).
SYSTEM_PARAGRAPHS = 24
PARAGRAPH = ("You review code for a team that values small, readable changes. Read the file you are given, "
             "name the three most important problems in order of impact, and for each one say where it is, "
             "why it matters to a user of the code, and the smallest change that would fix it. Prefer concrete "
             "line references over general advice, say when something is fine, and keep each point short. ")


def long_system(nonce: str) -> str:
    """A long shared system prompt, unique to ``nonce`` so this run's first request writes the cache afresh."""
    return f"Session {nonce}. " + PARAGRAPH * SYSTEM_PARAGRAPHS


def cache_counters(stats_url: str) -> dict[str, int]:
    """The simulator's prompt-cache counters so far (see :mod:`bench.simproc`)."""
    with urllib.request.urlopen(stats_url, timeout=5) as response:
        stats = json.load(response)
    return {key: value for key, value in stats.items() if key.startswith("cache_")}


def cache_priming_main(spec: dict[str, Any]) -> dict[str, Any]:
    """Time one ``invoke_parallel`` of ``requests`` prompts with ``cache`` on or off; report the cache use it caused."""
    from mac_core import invoke_claude, invoke_parallel

    invoke_claude("warm up")  # imports and first-use set-up stay out of the timed call
    prompts = [{"prompt": f"Review file number {i}."} for i in range(spec["requests"])]
    system = long_system(uuid.uuid4().hex)
    before = cache_counters(spec["stats_url"])
    started = time.perf_counter()
    answers = invoke_parallel(prompts, shared_system=system, cache_shared_system=spec["cache"],
                              max_workers=spec["workers"])
    wall = time.perf_counter() - started
    after = cache_counters(spec["stats_url"])
    used = {key: after[key] - before.get(key, 0) for key in after}
    return {"wall_s": wall, "answers": len(answers), **used}
