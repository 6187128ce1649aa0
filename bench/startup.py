"""Start-up: whole-process wall time of importing, ``mac --help`` and a first request, each in a fresh process.

Every command runs as a user would run it: this interpreter, the ``mac``
script next to it, the harness's environment, and the bytecode cache on.
``PYTHONDONTWRITEBYTECODE`` is dropped for these processes (a development
setting; a user's installs write their caches), and the cache goes to a
private ``PYTHONPYCACHEPREFIX`` so nothing is written into the checkout. Each
command runs once unmeasured to warm that cache, then ``runs`` times measured;
the commands take turns, and each one's median is reported.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

COMMAND_TIMEOUT = 120
MODEL = "claude-sonnet-4-6"  # invoke_claude's default, so both first requests ask for the same
FIRST_INVOKE = "from mac_core import invoke_claude; invoke_claude('hi')"
BARE_SDK = ("import anthropic; anthropic.Anthropic().messages.create("
            f"model={MODEL!r}, max_tokens=4096, messages=[{{'role': 'user', 'content': 'hi'}}])")


def commands() -> dict[str, list[str]]:
    """What is timed, by name: the bare interpreter, imports, the CLI's help, a first request by ours and the SDK."""
    python = sys.executable
    return {
        "python_only": [python, "-c", "pass"],
        "import_mac_core": [python, "-c", "import mac_core"],
        "mac_help": [str(Path(python).with_name("mac")), "--help"],
        "import_anthropic": [python, "-c", "import anthropic"],
        "first_invoke_claude": [python, "-c", FIRST_INVOKE],
        "bare_sdk_create": [python, "-c", BARE_SDK],
    }


def user_environment(sim_url: str, api_key: str, pycache: Path) -> dict[str, str]:
    """The harness's environment with the bytecode cache on (in ``pycache``) and the simulator as the API."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPYCACHEPREFIX=str(pycache), ANTHROPIC_BASE_URL=sim_url, ANTHROPIC_API_KEY=api_key)
    return env


def process_wall_seconds(argv: list[str], env: dict[str, str]) -> float:
    """Wall time from starting ``argv`` to its exit; raises if it fails."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} failed:\n{done.stderr[-2000:]}")
    return elapsed


def measure_startup(sim_url: str, api_key: str, runs: int) -> dict[str, Any]:
    """Median wall seconds of every command over ``runs`` alternated runs, after one warming run each."""
    timed = commands()
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as pycache:
        env = user_environment(sim_url, api_key, Path(pycache))
        for argv in timed.values():
            process_wall_seconds(argv, env)  # writes the bytecode cache
        seconds: dict[str, list[float]] = {name: [] for name in timed}
        for _ in range(runs):
            for name, argv in timed.items():
                seconds[name].append(process_wall_seconds(argv, env))
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    return {
        "bytecode_cache": True,
        "harness_dont_write_bytecode": bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
        "commands": {name: {"wall_s": medians[name], "all_wall_s": values} for name, values in seconds.items()},
        "ratio_first_invoke_to_bare_sdk": medians["first_invoke_claude"] / medians["bare_sdk_create"],
        "ratio_import_mac_core_to_anthropic": medians["import_mac_core"] / medians["import_anthropic"],
    }
