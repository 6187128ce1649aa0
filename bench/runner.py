"""Runs every comparison in one go: simulators and clients each in their own process."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx2

from .rate_limits import rate_limits
from .startup import measure_startup

CLIENT_TIMEOUT = 600
API_KEY = "sk-ant-bench"  # what the simulator is sent; it accepts any key

#: Sizes per mode: ``full`` is the documented run, ``quick`` < 60 s, ``tiny`` a few seconds (the test).
MODES: dict[str, dict[str, Any]] = {
    "full": {
        "cost": {"requests": 500, "concurrency": 50, "tokens": 200, "repeats": 3,
                 "kinds": ["floor", "ours", "sdk_raw", "sdk_stream", "floor_aiohttp", "ours_aiohttp", "sdk_raw_aiohttp"]},
        "fanout": {"requests": 500, "concurrency": 64, "tokens": 10, "token_delay": 0.02, "ttft": 0.2,
                   "seed_requests": 500, "seed_workers": [64, 5], "repeats": 3, "kinds": ["ours", "sdk_raw", "ours_aiohttp"]},
        "scale": {"streams": [1000, 2000], "tokens": 50, "token_delay": 0.1, "repeats": 3,
                  "variants": ["ours", "ours_aiohttp", "ours_one_client", "floor", "floor_aiohttp"]},
        "interrupt": {"tokens": 100, "streams": {10: 30, 100: 30, 1000: 5}, "seed_streams": {10: 2, 100: 2},
                      "aiohttp_streams": {100: 30, 1000: 5}, "one_client_streams": {1000: 5}},
        "delegation": {"turns": 3},
        "cache_priming": {"requests": 40, "workers": 5, "ttft": 0.3, "tokens": 20, "token_delay": 0.02, "repeats": 3},
        "policy_text_cost": {"events": [1000, 32000], "total_events": 64000, "repeats": 5},
        "startup": {"runs": 7},
        # the 2,000 prompts; limits 10x its 120 rpm / 40,000 otpm (same ratio) so a variant takes ~1 min
        "rate_limits": {"prompts": 2000, "rpm": 1200, "otpm": 400_000, "concurrency": 64, "tokens": 20,
                        "token_delay": 0.005},
        "ray_scale": {"streams": 200, "tokens": 50, "token_delay": 0.02, "batch_interval": 0.02, "repeats": 3,
                      "delegations": 20, "delegation_concurrency": 4, "interrupt_streams": 100, "interrupt_repeats": 5},
    },
    "quick": {
        "cost": {"requests": 60, "concurrency": 30, "tokens": 200, "repeats": 1,
                 "kinds": ["floor", "ours", "sdk_raw"]},
        "fanout": {"requests": 64, "concurrency": 32, "tokens": 10, "token_delay": 0.02, "ttft": 0.2,
                   "seed_requests": 10, "seed_workers": [5], "repeats": 1, "kinds": ["ours", "sdk_raw"]},
        "scale": {"streams": [300], "tokens": 15, "token_delay": 0.1, "repeats": 1,
                  "variants": ["ours", "ours_aiohttp"]},
        "interrupt": {"tokens": 30, "streams": {100: 3}, "seed_streams": {10: 1}, "aiohttp_streams": {100: 3},
                      "one_client_streams": {}},
        "delegation": {"turns": 1},
        "cache_priming": {"requests": 20, "workers": 5, "ttft": 0.3, "tokens": 20, "token_delay": 0.02, "repeats": 1},
        "policy_text_cost": {"events": [1000, 32000], "total_events": 32000, "repeats": 3},
        "startup": {"runs": 3},
        "rate_limits": {"prompts": 600, "rpm": 480, "otpm": 160_000, "concurrency": 64, "tokens": 20,
                        "token_delay": 0.005},
        "ray_scale": {"streams": 100, "tokens": 30, "token_delay": 0.02, "batch_interval": 0.02, "repeats": 1,
                      "delegations": 4, "delegation_concurrency": 4, "interrupt_streams": 100, "interrupt_repeats": 2},
    },
    "tiny": {
        "cost": {"requests": 10, "concurrency": 5, "tokens": 20, "repeats": 1,
                 "kinds": ["floor", "ours", "sdk_raw", "sdk_stream", "floor_aiohttp", "ours_aiohttp", "sdk_raw_aiohttp"]},
        "fanout": {"requests": 10, "concurrency": 5, "tokens": 5, "token_delay": 0.0, "ttft": 0.0,
                   "seed_requests": 10, "seed_workers": [5, 2], "repeats": 1,
                   "kinds": ["ours", "sdk_raw", "ours_aiohttp"]},
        "scale": {"streams": [20], "tokens": 5, "token_delay": 0.01, "repeats": 1, "variants": ["ours", "ours_aiohttp"]},
        "interrupt": {"tokens": 10, "streams": {5: 1}, "seed_streams": {5: 1}, "aiohttp_streams": {5: 1},
                      "one_client_streams": {}},
        "delegation": {"turns": 1},
        "cache_priming": {"requests": 6, "workers": 5, "ttft": 0.3, "tokens": 20, "token_delay": 0.02, "repeats": 1},
        "policy_text_cost": {"events": [1000, 32000], "total_events": 32000, "repeats": 1},
        "startup": {"runs": 2},
        "rate_limits": {"prompts": 40, "rpm": 1200, "otpm": 400_000, "concurrency": 16, "tokens": 5,
                        "token_delay": 0.0},
        "ray_scale": {"streams": 10, "tokens": 20, "token_delay": 0.02, "batch_interval": 0.02, "repeats": 1,
                      "delegations": 1, "delegation_concurrency": 1, "interrupt_streams": 10, "interrupt_repeats": 1},
    },
}


@contextlib.contextmanager
def simulator(**settings: Any) -> Iterator[dict[str, str]]:
    """A simulator process (:mod:`bench.simproc`); yields its ``url`` and ``stats_url``."""
    process = subprocess.Popen([sys.executable, "-m", "bench.simproc", json.dumps(settings)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield json.loads(process.stdout.readline())
    finally:
        process.stdin.close()  # type: ignore[union-attr]
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def client(kind: str, env: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    """Run one client process (with ``env`` added to this process's environment) and return its measurements."""
    done = subprocess.run([sys.executable, "-m", "bench.clients", json.dumps({"kind": kind, **spec})],
                          capture_output=True, text=True, timeout=CLIENT_TIMEOUT,
                          env={**os.environ, **env} if env else None)
    if done.returncode != 0:
        raise RuntimeError(f"client {kind} failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result.get("failed"):
        raise RuntimeError(f"client {kind}: {result['failed']} requests failed, e.g. {result['error']}")
    return result


def events_per_request(url: str) -> int:
    """SSE data events in one answer (text deltas plus the message and block framing)."""
    body = {"model": "claude-sonnet-4-6", "max_tokens": 4096, "stream": True,
            "messages": [{"role": "user", "content": "count"}]}
    response = httpx2.post(url + "/v1/messages", json=body, headers={"x-api-key": API_KEY}, timeout=30)
    return response.text.count("\ndata:") + response.text.startswith("data:")


def median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run with the median ``key``, plus every run's ``key`` under ``all_<key>``."""
    ordered = sorted(runs, key=lambda r: r[key])
    return {**ordered[len(ordered) // 2], f"all_{key}": [r[key] for r in runs]}


def streaming_cost(size: dict[str, Any]) -> dict[str, Any]:
    """CPU µs per streamed event: ours, SDK helper, SDK raw events, bare httpx2 (the floor); each on aiohttp too.

    The clients take turns ``repeats`` times; each one's median run is reported.
    """
    kinds = size["kinds"]
    with simulator(tokens=size["tokens"], token_delay=0) as sim:
        per_request = events_per_request(sim["url"])
        events = per_request * size["requests"]
        runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
        for _ in range(size["repeats"]):
            for kind in kinds:
                measured = client(kind, url=sim["url"], requests=size["requests"], concurrency=size["concurrency"])
                measured["us_per_event"] = measured["cpu_s"] / events * 1e6
                runs[kind].append(measured)
    clients = {kind: median_run(kind_runs, "us_per_event") for kind, kind_runs in runs.items()}
    floor = clients["floor"]["us_per_event"]
    for measured in clients.values():
        measured["ratio_to_floor"] = measured["us_per_event"] / floor
    return {**size, "events_per_request": per_request, "clients": clients,
            "targets": {"ours_vs_floor_max": 1.5, "ours_below_sdk_raw": True}}


def fan_out(size: dict[str, Any]) -> dict[str, Any]:
    """Wall time of a paced fan-out: ours vs AsyncAnthropic + gather, and the seed's thread pool.

    Ours and the SDK's ``gather`` alternate ``repeats`` times (their ratio is
    within the noise); the medians are reported, with every run kept.
    """
    requests, concurrency = size["requests"], size["concurrency"]
    with simulator(tokens=size["tokens"], token_delay=size["token_delay"], ttft=size["ttft"]) as sim:
        pairs = [("sdk_gather" if kind == "sdk_raw" else kind, kind) for kind in size["kinds"]]
        repeated: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in pairs}
        for _ in range(size["repeats"]):
            for name, kind in pairs:
                repeated[name].append(client(kind, url=sim["url"], requests=requests, concurrency=concurrency))
        clients = {name: median_run(runs, "wall_s") for name, runs in repeated.items()}
        for workers in size["seed_workers"]:
            # A pool smaller than the concurrency is slow: it runs fewer requests, its time scaled to the same count.
            count = requests if workers >= concurrency else size["seed_requests"]
            seed = client("seed_threads", url=sim["url"], requests=count, workers=workers)
            seed.update(workers=workers, requests=count, wall_s_scaled=seed["wall_s"] * requests / count)
            clients[f"seed_threads_{workers}"] = seed
    ours = clients["ours"]["wall_s"]
    for measured in clients.values():
        measured["ratio_ours_to_this"] = ours / measured.get("wall_s_scaled", measured["wall_s"])
    one = size["ttft"] + size["tokens"] * size["token_delay"]
    return {**size, "ideal_s": one * -(-requests // concurrency), "clients": clients,
            "ratio_ours_to_sdk_gather": ours / clients["sdk_gather"]["wall_s"],
            "targets": {"ours_vs_sdk_gather_max": 1.05}}


def scale(size: dict[str, Any]) -> dict[str, Any]:
    """Many concurrent streams: wall time vs the ideal paced time, and the client's peak RSS.

    The variants take turns ``repeats`` times at each size; each one's median run is reported.
    """
    ideal = size["tokens"] * size["token_delay"]
    runs = {}
    with simulator(tokens=size["tokens"], token_delay=size["token_delay"]) as sim:
        for streams in size["streams"]:
            repeated: dict[str, list[dict[str, Any]]] = {kind: [] for kind in size["variants"]}
            for _ in range(size["repeats"]):
                for kind in size["variants"]:
                    repeated[kind].append(client(kind, url=sim["url"], requests=streams, concurrency=streams))
            for kind, kind_runs in repeated.items():
                measured = median_run(kind_runs, "wall_s")
                measured["ratio_to_ideal"] = measured["wall_s"] / ideal
                runs[f"{kind}_{streams}"] = {"streams": streams, "variant": kind, **measured}
    return {**size, "ideal_s": ideal, "runs": runs, "targets": {"at_1000_ratio_max": 1.3, "at_1000_rss_mb_max": 200}}


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    """Median, p90, p99 and max, in milliseconds."""
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50_ms": statistics.median(ms), "p90_ms": percentile(ms, 0.9),
            "p99_ms": percentile(ms, 0.99), "max_ms": max(ms)}


def interrupt_latency(size: dict[str, Any]) -> dict[str, Any]:
    """Time from ``interrupt()`` to every task terminal (client's view) and every stream closed (simulator's)."""
    runs = {}
    with simulator(tokens=size["tokens"], token_delay=0.05) as sim:
        for streams, repeats in size["streams"].items():
            measured = client("ours_interrupt", url=sim["url"], stats_url=sim["stats_url"], streams=int(streams),
                              repeats=repeats)
            runs[f"ours_{streams}"] = {"streams": int(streams), "terminal": summary(measured["terminal_s"]),
                                       "closed": summary(measured["closed_s"]), "statuses": measured["statuses"]}
        variants = (("aiohttp", size["aiohttp_streams"], {"http_client": "aiohttp"}),
                    ("oneclient", size["one_client_streams"], {"one_client": True}))
        for name, sizes, extra in variants:
            for streams, repeats in sizes.items():
                measured = client("ours_interrupt", url=sim["url"], stats_url=sim["stats_url"], streams=int(streams),
                                  repeats=repeats, **extra)
                runs[f"{name}_{streams}"] = {"streams": int(streams), "terminal": summary(measured["terminal_s"]),
                                             "closed": summary(measured["closed_s"]), "statuses": measured["statuses"]}
        for streams, repeats in size["seed_streams"].items():
            measured = client("seed_interrupt", url=sim["url"], streams=int(streams), repeats=repeats)
            runs[f"seed_{streams}"] = {"streams": int(streams), "terminal": summary(measured["terminal_s"])}
    return {"stream_tokens": size["tokens"], "token_delay": 0.05, **size, "runs": runs,
            "targets": {"p99_ms_at_100_max": 50}}


def delegation(size: dict[str, Any]) -> dict[str, Any]:
    """Added latency per message of ``agent-ws`` to ``AgentServer`` vs the Agent SDK in-process."""
    with simulator(tokens=20, token_delay=0) as sim:
        return {**size, **client("delegate", url=sim["url"], turns=size["turns"])}


def cache_priming(size: dict[str, Any]) -> dict[str, Any]:
    """Wall time of ``invoke_parallel`` with ``cache_shared_system=True`` against the same call without it.

    The two variants alternate ``repeats`` times, each in a fresh client process
    with a system prompt of its own (so its first request writes the cache);
    the medians are compared.
    """
    pacing = {key: size[key] for key in ("ttft", "tokens", "token_delay")}
    with simulator(**pacing) as sim:
        env = {"ANTHROPIC_BASE_URL": sim["url"], "ANTHROPIC_API_KEY": API_KEY}
        repeated: dict[str, list[dict[str, Any]]] = {"uncached": [], "cached": []}
        for _ in range(size["repeats"]):
            for name in repeated:
                repeated[name].append(client("cache_priming", env=env, stats_url=sim["stats_url"],
                                             requests=size["requests"], workers=size["workers"],
                                             cache=name == "cached"))
    variants = {name: median_run(runs, "wall_s") for name, runs in repeated.items()}
    one = size["ttft"] + size["tokens"] * size["token_delay"]
    return {**size, "ideal_s": one * -(-size["requests"] // size["workers"]), "variants": variants,
            "ratio_cached_to_uncached": variants["cached"]["wall_s"] / variants["uncached"]["wall_s"],
            "targets": {"cached_vs_uncached_max": 1.15}}


def policy_text_cost(size: dict[str, Any]) -> dict[str, Any]:
    """CPU per event with a policy reading ``task.text[-200:]`` on every text event, short tasks against long ones."""
    measured = client("policy_text_cost", **size)
    runs = measured["runs"]
    for run in runs.values():
        run["policy_ratio"] = run["with_policy_us_per_event"] / run["without_policy_us_per_event"]
    shortest, longest = (runs[str(events)] for events in (min(size["events"]), max(size["events"])))
    return {**size, "runs": runs,
            "ratio_longest_to_shortest": longest["with_policy_us_per_event"] / shortest["with_policy_us_per_event"],
            "targets": {"longest_to_shortest_about": 1.0}}


def startup(size: dict[str, Any]) -> dict[str, Any]:
    """Whole-process wall time of imports, ``mac --help`` and a first request (ours and the bare SDK's)."""
    with simulator(tokens=20, token_delay=0) as sim:
        measured = measure_startup(sim["url"], API_KEY, size["runs"])
    return {**size, **measured, "targets": {"import_mac_core_max_s": 0.3, "mac_help_max_s": 0.3,
                                            "first_invoke_vs_bare_sdk_max": 1.5}}


def ray_scale(size: dict[str, Any]) -> dict[str, Any]:
    """The ``ray`` transport on a local cluster against the in-process transports (:mod:`bench.ray_scale`)."""
    from .ray_scale import ray_scale as measure

    return measure(size)


SECTIONS = {
    "streaming_cost": ("cost", streaming_cost),
    "fan_out": ("fanout", fan_out),
    "scale": ("scale", scale),
    "interrupt": ("interrupt", interrupt_latency),
    "delegation": ("delegation", delegation),
    "cache_priming": ("cache_priming", cache_priming),
    "policy_text_cost": ("policy_text_cost", policy_text_cost),
    "startup": ("startup", startup),
    "ray_scale": ("ray_scale", ray_scale),
    "rate_limits": ("rate_limits", rate_limits),
}


def run_all(mode: str, log=print) -> dict[str, Any]:
    """Every section at the sizes of ``mode``; returns the results (without the machine description)."""
    results = {}
    for name, (key, function) in SECTIONS.items():
        log(f"bench: {name} ...")
        started = time.perf_counter()
        results[name] = function(MODES[mode][key])
        results[name]["section_s"] = time.perf_counter() - started
    return results
