"""The clients under test, one per process: ``python -m bench.clients '{"kind": ..., ...}'`` prints one JSON line.

Every client streams the same requests from the same simulator; what it
reports is measured around the work only (imports and set-up excluded):
``cpu_s`` is this process's user+system CPU time (all threads), ``wall_s``
the elapsed time, ``maxrss_mb`` the process's peak resident memory.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import resource
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import httpx2

API_KEY = "sk-ant-bench"
MODEL = "claude-sonnet-4-6"
MAX_TOKENS = 4096


def cpu_seconds() -> float:
    """User plus system CPU time of this process so far (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """Peak resident set size of this process, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prompts(count: int) -> list[str]:
    """Distinct unscripted prompts: the simulator answers each with ``--tokens`` words."""
    return [f"Benchmark prompt number {i}: say something." for i in range(count)]


def body(prompt: str) -> dict[str, Any]:
    """The Messages request every client sends."""
    return {"model": MODEL, "max_tokens": MAX_TOKENS, "messages": [{"role": "user", "content": prompt}]}


async def measured(work: Callable[[], Any]) -> dict[str, Any]:
    """Run the coroutine function ``work`` and report its CPU, wall time and what it returned."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    extra = await work()
    return {"cpu_s": cpu_seconds() - cpu, "wall_s": time.perf_counter() - wall, **(extra or {})}


def one_client() -> None:
    """The transport as it was before ADR 0011: one SDK client (one connection pool) for every request."""
    import mac_core.anthropic_api

    mac_core.anthropic_api.REQUESTS_PER_CLIENT = 1_000_000


async def ours(spec: dict[str, Any]) -> dict[str, Any]:
    """The project: ``Coordinator.arun(..., transport="stream")``."""
    from mac_core import Coordinator

    if spec.get("one_client"):
        one_client()
    coordinator = Coordinator(api_key=API_KEY, base_url=spec["url"], max_tokens=MAX_TOKENS, model=MODEL,
                              http_client=spec.get("http_client", "httpx"))
    batch = prompts(spec["requests"])

    async def work():
        results = await coordinator.arun(batch, transport="stream", max_concurrency=spec["concurrency"])
        failed = [r for r in results if r.status != "completed"]
        return {"failed": len(failed), "error": failed[0].error if failed else None}

    return await measured(work)


async def gathered(spec: dict[str, Any], one: Callable[[Any, str], Any], client: Any) -> dict[str, Any]:
    """Run ``one(client, prompt)`` for every prompt with ``gather`` under a semaphore of ``concurrency``."""
    gate = asyncio.Semaphore(spec["concurrency"])
    failures: list[str] = []

    async def guarded(prompt: str) -> None:
        async with gate:
            try:
                await one(client, prompt)
            except Exception as exc:  # a benchmark counts failures rather than stopping
                failures.append(f"{type(exc).__name__}: {exc}")

    async def work():
        await asyncio.gather(*(guarded(p) for p in prompts(spec["requests"])))
        await (client.aclose() if isinstance(client, httpx2.AsyncClient) else client.close())  # SDK or aiohttp
        return {"failed": len(failures), "error": failures[0] if failures else None}

    return await measured(work)


async def sdk_stream_one(client: anthropic.AsyncAnthropic, prompt: str) -> None:
    async with client.messages.stream(**body(prompt)) as stream:
        async for _event in stream:
            pass
        await stream.get_final_message()


async def sdk_raw_one(client: anthropic.AsyncAnthropic, prompt: str) -> None:
    stream = await client.messages.create(**body(prompt), stream=True)
    async for _event in stream:
        pass


HEADERS = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}


def parse_sse(pending: bytes, chunk: bytes) -> bytes:
    """The floor's parser: split on blank lines, one ``json.loads`` per data field; returns what is left over."""
    blocks = (pending + chunk).split(b"\n\n")
    pending = blocks.pop()
    for block in blocks:
        start = block.find(b"data:")
        if start >= 0:
            json.loads(block[start + 5 :])
    return pending


def floor_one(url: str) -> Callable[[httpx2.AsyncClient, str], Any]:
    async def one(client: httpx2.AsyncClient, prompt: str) -> None:
        async with client.stream("POST", url + "/v1/messages", json={**body(prompt), "stream": True},
                                 headers=HEADERS) as response:
            response.raise_for_status()
            pending = b""
            async for chunk in response.aiter_bytes():
                pending = parse_sse(pending, chunk)

    return one


def floor_aiohttp_one(url: str) -> Callable[[Any, str], Any]:
    async def one(session: Any, prompt: str) -> None:
        async with session.post(url + "/v1/messages", json={**body(prompt), "stream": True},
                                headers=HEADERS) as response:
            response.raise_for_status()
            pending = b""
            async for chunk in response.content.iter_any():
                pending = parse_sse(pending, chunk)

    return one


def sdk_client(spec: dict[str, Any]) -> anthropic.AsyncAnthropic:
    http_client = anthropic.DefaultAioHttpClient() if spec.get("http_client") == "aiohttp" else None
    return anthropic.AsyncAnthropic(api_key=API_KEY, base_url=spec["url"], max_retries=0, http_client=http_client)


async def sdk_stream(spec):
    """The SDK's ``messages.stream()`` helper (pydantic events, accumulated message)."""
    return await gathered(spec, sdk_stream_one, sdk_client(spec))


async def sdk_raw(spec):
    """The SDK's ``messages.create(stream=True)``: raw typed events, ``gather`` + semaphore."""
    return await gathered(spec, sdk_raw_one, sdk_client(spec))


async def floor(spec):
    """Bare httpx2: split the SSE bytes, ``json.loads`` each event (the floor)."""
    client = httpx2.AsyncClient(timeout=60, limits=httpx2.Limits(max_connections=None))
    return await gathered(spec, floor_one(spec["url"]), client)


async def floor_aiohttp(spec):
    """Bare aiohttp: the same parsing on aiohttp's stack (the floor under ``http_client="aiohttp"``)."""
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(60))
    return await gathered(spec, floor_aiohttp_one(spec["url"]), session)


def seed_stream_one(client: anthropic.Anthropic, prompt: str, started: Callable[[], None] | None = None) -> None:
    with client.messages.stream(**body(prompt)) as stream:
        for _text in stream.text_stream:
            if started is not None:
                started()
                started = None


async def seed_threads(spec):
    """The seed's design: a ``ThreadPoolExecutor`` of ``workers`` threads, each streaming with the sync SDK."""
    client = anthropic.Anthropic(api_key=API_KEY, base_url=spec["url"], max_retries=0)

    async def work():
        with ThreadPoolExecutor(spec["workers"]) as pool:
            futures = [pool.submit(seed_stream_one, client, p) for p in prompts(spec["requests"])]
            failed = [f.exception() for f in futures if f.exception() is not None]
        return {"failed": len(failed), "error": repr(failed[0]) if failed else None}

    return await measured(work)


def simulator_open_streams(stats_url: str) -> int:
    with urllib.request.urlopen(stats_url, timeout=5) as response:
        return json.load(response)["streams_open"]


def wait_until_closed(stats_url: str, since: float, limit: float = 30.0) -> float:
    """Seconds from ``since`` until the simulator has no stream open (polled every millisecond)."""
    while simulator_open_streams(stats_url) > 0:
        if time.perf_counter() - since > limit:
            return float("nan")
        time.sleep(0.001)
    return time.perf_counter() - since


async def ours_interrupt(spec):
    """``n`` streams in flight, then ``InterruptToken.interrupt()``: time to every task terminal, then to closed."""
    from mac_core import Coordinator, InterruptToken

    if spec.get("one_client"):
        one_client()
    coordinator = Coordinator(api_key=API_KEY, base_url=spec["url"], max_tokens=MAX_TOKENS, model=MODEL,
                              http_client=spec.get("http_client", "httpx"))
    n = spec["streams"]
    terminal, closed, statuses = [], [], []
    for _ in range(spec["repeats"]):
        token = InterruptToken()
        streaming: set[int] = set()
        all_streaming = asyncio.Event()

        def first_text(i: int, streaming: set[int] = streaming, ready: asyncio.Event = all_streaming):
            def callback(_chunk: str) -> None:
                if i not in streaming:
                    streaming.add(i)
                    if len(streaming) == n:
                        ready.set()
            return callback

        run = asyncio.create_task(coordinator.arun(
            prompts(n), transport="stream", max_concurrency=n, interrupt_token=token,
            callbacks=[first_text(i) for i in range(n)]))
        await asyncio.wait_for(all_streaming.wait(), 60)
        await asyncio.sleep(0.05)  # mid-stream, not on a first-event edge
        since = time.perf_counter()
        token.interrupt("benchmark")
        results = await run
        terminal.append(time.perf_counter() - since)
        closed.append(wait_until_closed(spec["stats_url"], since))
        statuses.append(sorted({r.status for r in results}))
        while simulator_open_streams(spec["stats_url"]) > 0:  # a clean slate for the next repetition
            await asyncio.sleep(0.01)
    return {"terminal_s": terminal, "closed_s": closed, "statuses": statuses, "maxrss_mb": peak_rss_mb()}


async def seed_interrupt(spec):
    """The seed's design, ``n`` threads streaming: a stop only prevents new requests, so time until they end."""
    client = anthropic.Anthropic(api_key=API_KEY, base_url=spec["url"], max_retries=0)
    n = spec["streams"]
    done = []
    for _ in range(spec["repeats"]):
        started = threading.Semaphore(0)
        with ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(seed_stream_one, client, p, started.release) for p in prompts(n)]
            for _i in range(n):
                started.acquire(timeout=60)
            time.sleep(0.05)
            since = time.perf_counter()
            for future in futures:
                future.cancel()  # what the seed's stop did: nothing in flight is affected
        done.append(time.perf_counter() - since)
    return {"terminal_s": done, "closed_s": done}


KINDS = {
    "ours": ours,
    "ours_one_client": ours,
    "ours_aiohttp": ours,
    "sdk_stream": sdk_stream,
    "sdk_raw": sdk_raw,
    "sdk_raw_aiohttp": sdk_raw,
    "floor": floor,
    "floor_aiohttp": floor_aiohttp,
    "seed_threads": seed_threads,
    "ours_interrupt": ours_interrupt,
    "seed_interrupt": seed_interrupt,
}

#: Clients that are plain functions in their own module, imported only when chosen: kind -> (module, function).
SYNC_KINDS = {
    "delegate": ("delegation", "delegate_main"),
    "cache_priming": ("cache_priming", "cache_priming_main"),
    "policy_text_cost": ("policy_cost", "policy_cost_main"),
}


def main() -> None:
    """Run the client named by the JSON spec's ``kind`` and print its measurements as one JSON line."""
    spec = json.loads(sys.argv[1])
    if spec["kind"] == "ours_one_client":
        spec["one_client"] = True
    if spec["kind"].endswith("_aiohttp"):
        spec["http_client"] = "aiohttp"
    if spec["kind"] in SYNC_KINDS:
        module, function = SYNC_KINDS[spec["kind"]]
        result = getattr(importlib.import_module(f"bench.{module}"), function)(spec)
    else:
        result = asyncio.run(KINDS[spec["kind"]](spec))
    result.setdefault("maxrss_mb", peak_rss_mb())
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
