"""Running at a rate limit, side by side: this project's scheduler, without it, the bare SDK, and 4 processes via Redis.

A simulator with per-minute limits (``rpm``, ``otpm``) serves each variant fresh
(its buckets full, as an organisation's are after a quiet minute); the clients
run in their own processes. For each: tasks failed, requests refused with 429
(the simulator's count), and the fraction of the limit achieved: the requests
admitted over what the limit allows in the run's wall time, one full bucket
plus its refill (``rpm + rpm * wall_s / 60``), so 1.0 is the most any client
could get. The full mode keeps the issue's 2,000 prompts and compresses time:
limits 10x the issue's 120 rpm and 40,000 otpm, same ratio (see docs/benchmarks.md).

``python -m bench.rate_limits --client ours|off|sdk --url URL --prompts N ...`` is one client process;
``python -m bench.rate_limits --section '{"prompts": 2000, ...}'`` runs the section alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

from mac_plugins.simulator import Simulator

MODEL = "claude-sonnet-4-6"
MAX_TOKENS = 1024
CLIENT_TIMEOUT = 900


def run_ours(
    url: str, key: str, prompts: list[str], concurrency: int, scheduler: bool, redis_url: str | None
) -> list:
    """This project's Coordinator, scheduler on (optionally shared through Redis) or off."""
    from mac_core import Coordinator

    coordinator = Coordinator(
        api_key=key, base_url=url, rate_limits=None if scheduler else False, redis_url=redis_url
    )
    results = coordinator.run(
        prompts, transport="stream", model=MODEL, max_tokens=MAX_TOKENS, max_concurrency=concurrency
    )
    return [r.status == "completed" for r in results]


def run_sdk(url: str, key: str, prompts: list[str]) -> list:
    """``AsyncAnthropic`` and ``asyncio.gather`` over every prompt, with the SDK's default retries."""
    import anthropic

    async def main() -> list:
        client = anthropic.AsyncAnthropic(api_key=key, base_url=url)

        async def one(prompt: str) -> bool:
            try:
                async with client.messages.stream(
                    model=MODEL, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": prompt}]
                ) as stream:
                    await stream.get_final_message()
                return True
            except anthropic.APIError:
                return False

        try:
            return await asyncio.gather(*(one(p) for p in prompts))
        finally:
            await client.close()

    return asyncio.run(main())


def client_main(argv: list[str]) -> None:
    """One client process: run the prompts, print ``{"completed", "failed", "wall_s"}``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", choices=["ours", "off", "sdk"], required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--prompts", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--redis-url")
    parser.add_argument("--name", default="p")
    args = parser.parse_args(argv)
    prompts = [f"Question {args.name}-{i}: say something short." for i in range(args.prompts)]
    started = time.perf_counter()
    if args.client == "sdk":
        done = run_sdk(args.url, args.key, prompts)
    else:
        done = run_ours(args.url, args.key, prompts, args.concurrency, args.client == "ours", args.redis_url)
    wall = time.perf_counter() - started
    print(json.dumps({"completed": sum(done), "failed": len(done) - sum(done), "wall_s": wall}))


def _clients(
    url: str, kind: str, prompts: int, processes: int, concurrency: int, redis_url: str | None
) -> list[dict]:
    key = f"sk-ant-bench-{kind}-{time.monotonic_ns()}"  # a budget of its own per variant
    command = [
        sys.executable,
        "-m",
        "bench.rate_limits",
        "--client",
        kind,
        "--url",
        url,
        "--key",
        key,
        "--prompts",
        str(prompts // processes),
        "--concurrency",
        str(concurrency),
    ]
    if redis_url:
        command += ["--redis-url", redis_url]
    children = [
        subprocess.Popen([*command, "--name", str(i)], stdout=subprocess.PIPE, text=True)
        for i in range(processes)
    ]
    return [
        json.loads(child.communicate(timeout=CLIENT_TIMEOUT)[0].strip().splitlines()[-1])
        for child in children
    ]


def _variant(
    size: dict[str, Any], kind: str, processes: int = 1, redis_url: str | None = None
) -> dict[str, Any]:
    limits = {"rpm": size["rpm"], "otpm": size["otpm"]}
    with Simulator(tokens=size["tokens"], token_delay=size["token_delay"], **limits) as sim:
        runs = _clients(
            sim.url, kind, size["prompts"], processes, size["concurrency"] // processes, redis_url
        )
        refused, admitted = sim.stats.rate_limited, sum(sim.stats.admitted.values())
    wall = max(run["wall_s"] for run in runs)
    allowed = size["rpm"] + size["rpm"] * wall / 60
    return {
        "processes": processes,
        "completed": sum(run["completed"] for run in runs),
        "failed": sum(run["failed"] for run in runs),
        "requests": admitted + refused,
        "refused": refused,
        "refused_pct": 100 * refused / max(1, admitted + refused),
        "wall_s": wall,
        "limit_fraction": min(admitted, size["prompts"]) / allowed,
    }


def _redis_server() -> tuple[subprocess.Popen, str, tempfile.TemporaryDirectory] | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tempfile.TemporaryDirectory(prefix="mac-bench-redis-")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            folder.name,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"redis://127.0.0.1:{port}/0", folder
        except OSError:
            time.sleep(0.05)
    process.kill()
    return None


def rate_limits(size: dict[str, Any]) -> dict[str, Any]:
    """Every variant at ``size`` (``prompts``, ``rpm``, ``otpm``, ``concurrency``, ``tokens``, ``token_delay``)."""
    clients = {kind: _variant(size, kind) for kind in ("ours", "off", "sdk")}
    server = _redis_server()
    if server is not None:
        process, url, folder = server
        try:
            clients["ours_4_processes_redis"] = _variant(size, "ours", processes=4, redis_url=url)
        finally:
            process.kill()
            process.wait()
            folder.cleanup()
    return {
        **size,
        "clients": clients,
        "targets": {"limit_fraction_min": 0.9, "failed_max": 0, "refused_pct_max": 2.0},
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--section"]:  # the whole section at the sizes given as JSON, by hand
        print(json.dumps(rate_limits(json.loads(sys.argv[2])), indent=1))
    else:
        client_main(sys.argv[1:])
