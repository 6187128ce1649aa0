"""The ``ray`` transport on a local cluster against the in-process transports: wall time, driver CPU, interrupts.

``python -m bench.ray_scale '{"url": ..., "stats_url": ..., ...}'`` runs in a
process of its own (the Ray cluster it starts dies with it) and prints one
JSON line. Cluster start and each pool's first start are warm-up, not
measured: a run of the process reuses them (``mac_plugins.ray.cluster``).

* Paced streams: the same prompts through ``stream`` (in this process) and
  ``ray`` (``inner="stream"``); wall time, and this process's CPU per event
  its hooks received (the driver's cost: for ``ray`` the streams are parsed on
  the workers, the driver unpickles batches).
* Scripted delegations: a ``[[tool: Write ...]]`` prompt to a real Agent SDK
  session (the bundled CLI against the simulator), confined to a workspace,
  run in this process and on Ray workers (``inner="agent"``).
* Interrupt: ``n`` streams in flight, then ``InterruptToken.interrupt()``:
  time until every task is terminal (driver) and until the simulator has no
  stream open (the remote work cancelled). These streams come from a second
  simulator with long answers (400 tokens, 50 ms apart), so none ends before
  the interrupt in any mode.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from typing import Any

from mac_core import hookimpl

from .clients import (
    API_KEY,
    MODEL,
    cpu_seconds,
    peak_rss_mb,
    prompts,
    simulator_open_streams,
    wait_until_closed,
)

#: The interrupted streams' length: 20 s, so every one is mid-stream when the interrupt comes.
INTERRUPT_TOKENS, INTERRUPT_TOKEN_DELAY = 400, 0.05


class EventCounter:
    """Counts the events the driver's hooks receive."""

    def __init__(self) -> None:
        self.events = 0

    @hookimpl
    def mac_task_event(self, task, event) -> None:
        self.events += 1


def counter() -> EventCounter:
    return EventCounter()


async def paced_streams(coordinator, transport: str, count: int, options: dict[str, Any]) -> dict[str, Any]:
    """One fan-out of ``count`` streams; wall time and driver CPU per event."""
    seen = counter()
    cpu, wall = cpu_seconds(), time.perf_counter()
    results = await coordinator.arun(
        prompts(count), transport=transport, max_concurrency=count, transport_options=options, plugins=[seen]
    )
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    failed = [r.error for r in results if r.status != "completed"]
    if failed:
        raise RuntimeError(f"{transport}: {len(failed)} streams failed, e.g. {failed[0]}")
    return {
        "wall_s": wall,
        "driver_cpu_s": cpu,
        "events": seen.events,
        "driver_us_per_event": cpu / seen.events * 1e6,
    }


def local_agent_plugin(workspace: str):
    """A plugin registering ``agent-local``: the confined agent in this process, the Ray workers' inner transport."""
    from mac_plugins.ray.agent import ConfinedAgentTransport

    from mac_core import hookimpl

    class LocalAgent(ConfinedAgentTransport):
        name = "agent-local"
        needs_api_key = True  # so the run's key reaches it, as it reaches the ray transport's workers

        def __init__(self, settings):
            super().__init__(settings, workspace, False)

    class Plugin:
        @hookimpl
        def mac_register_transports(self, register):
            register("agent-local", LocalAgent)

    return Plugin()


def delegation_prompts(workspace: str, count: int, tag: str) -> list[dict[str, Any]]:
    """Prompts whose scripted agent writes one file each in ``workspace``."""
    out = []
    for i in range(count):
        write = {"file_path": os.path.join(workspace, f"{tag}_{i}.txt"), "content": f"note {i}\n"}
        out.append(
            {
                "prompt": f"Write the note. [[tool: Write {json.dumps(write)}]]",
                "allowedTools": ["Read", "Write"],
            }
        )
    return out


async def delegations(
    coordinator,
    transport: str,
    workspace: str,
    count: int,
    concurrency: int,
    options: dict[str, Any],
    tag: str,
) -> dict[str, Any]:
    cpu, wall = cpu_seconds(), time.perf_counter()
    results = await coordinator.arun(
        delegation_prompts(workspace, count, tag),
        transport=transport,
        max_concurrency=concurrency,
        transport_options=options,
    )
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    failed = [r.error for r in results if r.status != "completed"]
    if failed:
        raise RuntimeError(f"{transport}: {len(failed)} delegations failed, e.g. {failed[0]}")
    written = sum(os.path.exists(os.path.join(workspace, f"{tag}_{i}.txt")) for i in range(count))
    return {"wall_s": wall, "driver_cpu_s": cpu, "files_written": written}


async def interrupt_once(coordinator, count: int, stats_url: str) -> dict[str, Any]:
    from mac_core import InterruptToken

    token = InterruptToken()
    streaming: set[int] = set()
    ready = asyncio.Event()

    def first_text(i: int):
        def callback(_chunk: str) -> None:
            if i not in streaming:
                streaming.add(i)
                if len(streaming) == count:
                    ready.set()

        return callback

    run = asyncio.create_task(
        coordinator.arun(
            prompts(count),
            transport="ray",
            max_concurrency=count,
            interrupt_token=token,
            callbacks=[first_text(i) for i in range(count)],
        )
    )
    await asyncio.wait_for(ready.wait(), 120)
    await asyncio.sleep(0.1)  # mid-stream
    since = time.perf_counter()
    token.interrupt("benchmark")
    results = await run
    terminal = time.perf_counter() - since
    closed = await asyncio.to_thread(wait_until_closed, stats_url, since)
    while simulator_open_streams(stats_url) > 0:
        await asyncio.sleep(0.01)
    return {"terminal_s": terminal, "closed_s": closed, "statuses": sorted({r.status for r in results})}


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    from mac_core import Coordinator

    # The CLIs of the delegations keep their state out of the user's home; Ray's workers inherit it.
    os.environ["CLAUDE_CONFIG_DIR"] = tempfile.mkdtemp(prefix="bench-claude-")
    workspace = tempfile.mkdtemp(prefix="bench-ray-ws-")
    coordinator = Coordinator(api_key=API_KEY, base_url=spec["url"], model=MODEL)
    stream_options = {"batch_interval": spec["batch_interval"]}
    started = time.perf_counter()
    await coordinator.arun(
        prompts(2), transport="ray", transport_options=stream_options
    )  # cluster and pool start
    cluster_start_s = time.perf_counter() - started
    out: dict[str, Any] = {
        "cluster_start_s": cluster_start_s,
        "streams": {},
        "delegations": {},
        "interrupt": [],
    }
    for _ in range(spec["repeats"]):
        for transport, options in (("stream", {}), ("ray", stream_options)):
            out["streams"].setdefault(transport, []).append(
                await paced_streams(coordinator, transport, spec["streams"], options)
            )
    agent_options = {"inner": "agent", "workspace": workspace}
    local = Coordinator(
        plugins=[local_agent_plugin(workspace)], api_key=API_KEY, base_url=spec["url"], model=MODEL
    )
    await coordinator.arun(
        delegation_prompts(workspace, 1, "warm"), transport="ray", transport_options=agent_options
    )
    count, concurrency = spec["delegations"], spec["delegation_concurrency"]
    out["delegations"]["in_process"] = await delegations(
        local, "agent-local", workspace, count, concurrency, {}, "local"
    )
    out["delegations"]["ray"] = await delegations(
        coordinator, "ray", workspace, count, concurrency, agent_options, "ray"
    )
    long_answers = Coordinator(api_key=API_KEY, base_url=spec["interrupt_url"], model=MODEL)
    for _ in range(spec["interrupt_repeats"]):
        out["interrupt"].append(
            await interrupt_once(long_answers, spec["interrupt_streams"], spec["interrupt_stats_url"])
        )
    out["maxrss_mb"] = peak_rss_mb()
    return out


def ray_scale(size: dict[str, Any]) -> dict[str, Any]:
    """The section of ``bench.runner``: one client process against one simulator process; medians and ratios."""
    import statistics
    import subprocess

    from .runner import CLIENT_TIMEOUT, simulator, summary

    with (
        simulator(tokens=size["tokens"], token_delay=size["token_delay"]) as sim,
        simulator(tokens=INTERRUPT_TOKENS, token_delay=INTERRUPT_TOKEN_DELAY) as long,
    ):
        spec = {**size, **sim, "interrupt_url": long["url"], "interrupt_stats_url": long["stats_url"]}
        done = subprocess.run(
            [sys.executable, "-m", "bench.ray_scale", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT * 2,
        )
    if done.returncode != 0:
        raise RuntimeError(f"bench.ray_scale failed:\n{done.stderr[-3000:]}")
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    streams = {}
    for transport, runs in raw["streams"].items():
        streams[transport] = {
            key: statistics.median(r[key] for r in runs)
            for key in ("wall_s", "driver_cpu_s", "events", "driver_us_per_event")
        }
    ideal = size["tokens"] * size["token_delay"]
    agents = raw["delegations"]
    return {
        **size,
        "streams_n": size["streams"],
        "delegations_n": size["delegations"],
        "cluster_start_s": raw["cluster_start_s"],
        "ideal_stream_s": ideal,
        "streams": streams,
        "stream_wall_ratio_ray_to_in_process": streams["ray"]["wall_s"] / streams["stream"]["wall_s"],
        "driver_cpu_per_event_ratio_ray_to_in_process": streams["ray"]["driver_us_per_event"]
        / streams["stream"]["driver_us_per_event"],
        "delegations": agents,
        "delegation_wall_ratio_ray_to_in_process": agents["ray"]["wall_s"] / agents["in_process"]["wall_s"],
        "interrupt": {
            "terminal": summary([r["terminal_s"] for r in raw["interrupt"]]),
            "closed": summary([r["closed_s"] for r in raw["interrupt"]]),
            "statuses": sorted({s for r in raw["interrupt"] for s in r["statuses"]}),
        },
        "driver_maxrss_mb": raw["maxrss_mb"],
        "targets": {"interrupt_closed_ms_at_100_max": 100},
    }


def markdown(result: dict[str, Any]) -> str:
    """The section's table, for ``docs/benchmarks.md``."""
    streams, agents, interrupt = result["streams"], result["delegations"], result["interrupt"]
    rows = [
        ("| | in process | ray (local cluster) | ratio ray / in process |", None),
        ("|---|---|---|---|", None),
        (
            f"| {result['streams_n']} paced streams, "
            f"wall s (ideal {result['ideal_stream_s']:.2f}) | {streams['stream']['wall_s']:.2f} | "
            f"{streams['ray']['wall_s']:.2f} | {result['stream_wall_ratio_ray_to_in_process']:.2f} |",
            None,
        ),
        (
            f"| driver CPU per event, µs | {streams['stream']['driver_us_per_event']:.0f} | "
            f"{streams['ray']['driver_us_per_event']:.0f} | "
            f"{result['driver_cpu_per_event_ratio_ray_to_in_process']:.2f} |",
            None,
        ),
        (
            f"| {result['delegations_n']} scripted Agent SDK delegations "
            f"({result['delegation_concurrency']} at once), wall s | {agents['in_process']['wall_s']:.2f} | "
            f"{agents['ray']['wall_s']:.2f} | {result['delegation_wall_ratio_ray_to_in_process']:.2f} |",
            None,
        ),
    ]
    lines = [row for row, _ in rows]
    lines.append("")
    lines.append(
        f"Interrupt at {result['interrupt_streams']} streams ({interrupt['terminal']['n']} runs): every task "
        f"terminal p50 {interrupt['terminal']['p50_ms']:.0f} ms (max {interrupt['terminal']['max_ms']:.0f}); "
        f"every remote stream closed p50 {interrupt['closed']['p50_ms']:.0f} ms "
        f"(max {interrupt['closed']['max_ms']:.0f}; target 100). Cluster start {result['cluster_start_s']:.1f} s "
        f"(once per process); driver peak RSS {result['driver_maxrss_mb']:.0f} MB."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
