"""The machine description, the Markdown tables and the PNG plot written into docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from .runner import MODES

START = "<!-- bench:results:start (written by python -m bench; edits inside are lost) -->"
END = "<!-- bench:results:end -->"
OURS_AIOHTTP = 'mac `stream`, `http_client="aiohttp"`'
PACKAGES = ("multi-agent-coordination", "anthropic", "httpx2", "aiohttp", "anyio", "uvicorn", "starlette",
            "claude-agent-sdk")


def machine() -> dict[str, Any]:
    """CPU model, cores, OS, Python and the versions of the packages that matter."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(), "python": sys.version.split()[0],
            "packages": versions}


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _spread(values: list[float], digits: int = 2) -> str:
    return f"{min(values):.{digits}f}–{max(values):.{digits}f}" if len(values) > 1 else "–"


def _runs(repeats: int) -> str:
    return "one run" if repeats == 1 else f"median of {repeats} alternated runs"


def tables(results: dict[str, Any]) -> str:
    """Markdown tables of every section."""
    m = results["machine"]
    lines = [f"Mode `{results['mode']}`, {results['total_s']:.0f} s in all. Machine: {m['cpu']}, {m['cores']} cores, "
             f"{m['os']}, Python {m['python']}; "
             + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v) + ".", ""]

    cost = results["streaming_cost"]
    lines += [f"**1. Streaming cost** ({cost['requests']} requests × {cost['events_per_request']} SSE events, "
              f"concurrency {cost['concurrency']}, no pacing; client CPU time, {_runs(cost['repeats'])})", "",
              _row("client", "CPU µs / event", "× floor", "all runs"), _row("---", "---:", "---:", "---:")]
    names = {"floor": "bare httpx2 + json (floor)", "ours": "mac `stream` transport",
             "sdk_raw": "SDK `create(stream=True)`", "sdk_stream": "SDK `messages.stream()`",
             "floor_aiohttp": "bare aiohttp + json", "ours_aiohttp": OURS_AIOHTTP,
             "sdk_raw_aiohttp": "SDK `create(stream=True)` on `DefaultAioHttpClient`"}
    for kind, c in cost["clients"].items():
        lines.append(_row(names[kind], f"{c['us_per_event']:.2f}", f"{c['ratio_to_floor']:.2f}",
                          _spread(c["all_us_per_event"])))

    fan = results["fan_out"]
    lines += ["", f"**2. Fan-out** ({fan['requests']} requests, concurrency {fan['concurrency']}, ttft {fan['ttft']} s, "
              f"{fan['tokens']} tokens at {fan['token_delay']} s; ideal {fan['ideal_s']:.2f} s)", "",
              _row("client", "wall s", "ours ÷ this"), _row("---", "---:", "---:")]
    names = {"ours": "mac `stream`", "sdk_gather": "AsyncAnthropic + gather + semaphore",
             "ours_aiohttp": OURS_AIOHTTP}
    for kind, c in fan["clients"].items():
        wall = f"{c['wall_s']:.2f}"
        if "workers" in c:
            names[kind] = f"seed: ThreadPoolExecutor({c['workers']}) + sync SDK"
            if c["requests"] != fan["requests"]:
                wall = f"{c['wall_s_scaled']:.2f} (scaled from {c['requests']} requests)"
        lines.append(_row(names[kind], wall, f"{c['ratio_ours_to_this']:.3f}"))

    sc = results["scale"]
    lines += ["", f"**3. Scale** (every stream at once, {sc['tokens']} events at {sc['token_delay']} s; "
              f"ideal {sc['ideal_s']:.1f} s; {_runs(sc['repeats'])})", "",
              _row("streams", "client", "wall s", "× ideal", "all runs, s", "peak RSS MB"),
              _row("---:", "---", "---:", "---:", "---:", "---:")]
    for run in sc["runs"].values():
        variant = {"ours": "mac `stream`", "ours_one_client": "mac `stream`, one SDK client (before ADR 0011)",
                   "ours_aiohttp": OURS_AIOHTTP,
                   "floor": "bare httpx2 + json (floor)", "floor_aiohttp": "bare aiohttp + json"}[run["variant"]]
        lines.append(_row(run["streams"], variant, f"{run['wall_s']:.2f}", f"{run['ratio_to_ideal']:.2f}",
                          _spread(run["all_wall_s"]), f"{run['maxrss_mb']:.0f}"))

    it = results["interrupt"]
    lines += ["", f"**4. Interrupt latency** (streams of {it['stream_tokens']} tokens at {it['token_delay']} s, "
              "interrupted mid-stream; ms)", "",
              _row("streams", "client", "repeats", "terminal p50", "terminal p99", "closed p50 (sim)", "closed p99 (sim)"),
              _row("---:", "---", "---:", "---:", "---:", "---:", "---:")]
    for name, run in it["runs"].items():
        t = run["terminal"]
        closed = run.get("closed")
        who = {"ours": "mac `stream`", "oneclient": "mac `stream`, one SDK client (before ADR 0011)",
               "aiohttp": OURS_AIOHTTP,
               "seed": "seed (threads; in flight run to the end)"}[name.split("_")[0]]
        lines.append(_row(run["streams"], who, t["n"], f"{t['p50_ms']:.1f}", f"{t['p99_ms']:.1f}",
                          f"{closed['p50_ms']:.1f}" if closed else "=", f"{closed['p99_ms']:.1f}" if closed else "="))

    d = results["delegation"]
    lines += ["", f"**5. Delegation** ({d['turns']} cold turns each way, {d['messages_per_turn']:.0f} SDK messages "
              "a turn: Write, Read, reply)", "",
              _row("path", "median turn s", "added per message ms"), _row("---", "---:", "---:"),
              _row("Agent SDK `query()` in-process", f"{sorted(d['in_process_turn_s'])[len(d['in_process_turn_s']) // 2]:.3f}", "–"),
              _row("`delegate()` → agent-ws → `AgentServer`",
                   f"{sorted(d['agent_ws_turn_s'])[len(d['agent_ws_turn_s']) // 2]:.3f}",
                   f"{d['added_per_message_s'] * 1000:.1f} (ratio {d['ratio']:.2f})")]
    lines += _cache_priming(results["cache_priming"]) + _policy_text_cost(results["policy_text_cost"])
    lines += _startup(results["startup"])
    if "rate_limits" in results:
        lines += _rate_limits(results["rate_limits"])
    if "ray_scale" in results:
        lines += _ray_scale(results["ray_scale"], results["mode"])
    return "\n".join(lines)


def _rate_limits(rl: dict[str, Any]) -> list[str]:
    names = {"ours": "mac, rate-limit scheduler on (default)", "off": "mac, `rate_limits=False` (the SDK's retries)",
             "sdk": "AsyncAnthropic + `asyncio.gather`, default retries",
             "ours_4_processes_redis": "mac, 4 processes sharing one budget through Redis"}
    targets = rl["targets"]
    lines = ["", f"**9. Rate limits** ({rl['prompts']:,} prompts against a simulator limited to {rl['rpm']:,} "
             f"requests and {rl['otpm']:,} output tokens a minute; concurrency {rl['concurrency']} for mac, every "
             "prompt at once for `gather`; limit achieved = requests admitted ÷ (one full bucket + its refill over "
             "the wall time))", "",
             _row("client", "limit achieved", "tasks failed", "requests refused (429)", "wall s"),
             _row("---", "---:", "---:", "---:", "---:")]
    for kind, c in rl["clients"].items():
        lines.append(_row(names.get(kind, kind), f"{100 * c['limit_fraction']:.1f} %", c["failed"],
                          f"{c['refused_pct']:.2f} % ({c['refused']:,} of {c['requests']:,})", f"{c['wall_s']:.1f}"))
    lines += ["", f"Goal: ≥ {100 * targets['limit_fraction_min']:.0f} % of the limit, {targets['failed_max']} failed, "
              f"≤ {targets['refused_pct_max']:.0f} % refused."]
    return lines


def _ray_scale(rs: dict[str, Any], mode: str) -> list[str]:
    streams, agents, it = rs["streams"], rs["delegations"], rs["interrupt"]
    size = MODES[mode]["ray_scale"]  # the section's results reuse the names of its stream and delegation counts
    lines = ["", f"**10. Ray** (a local cluster on this machine against the in-process transports; "
             f"{size['streams']} streams of {rs['tokens']} tokens at {rs['token_delay']} s, median of {rs['repeats']}; "
             f"{size['delegations']} scripted delegations with the real Agent SDK, concurrency "
             f"{rs['delegation_concurrency']}; cluster and pool start {rs['cluster_start_s']:.1f} s, not counted)", "",
             _row("measure", "in-process", "ray", "ray ÷ in-process"), _row("---", "---:", "---:", "---:"),
             _row("paced streams, wall s", f"{streams['stream']['wall_s']:.2f}", f"{streams['ray']['wall_s']:.2f}",
                  f"{rs['stream_wall_ratio_ray_to_in_process']:.2f}"),
             _row("driver CPU µs / event", f"{streams['stream']['driver_us_per_event']:.0f}",
                  f"{streams['ray']['driver_us_per_event']:.0f}",
                  f"{rs['driver_cpu_per_event_ratio_ray_to_in_process']:.2f}"),
             _row("delegations, wall s", f"{agents['in_process']['wall_s']:.2f}", f"{agents['ray']['wall_s']:.2f}",
                  f"{rs['delegation_wall_ratio_ray_to_in_process']:.2f}")]
    if "driver_cpu_s" in agents["ray"]:
        lines.append(_row("delegations, driver CPU s", f"{agents['in_process']['driver_cpu_s']:.2f}",
                          f"{agents['ray']['driver_cpu_s']:.2f}",
                          f"{agents['ray']['driver_cpu_s'] / max(agents['in_process']['driver_cpu_s'], 1e-9):.2f}"))
    t, c = it["terminal"], it["closed"]
    lines += ["", f"Interrupt at {rs['interrupt_streams']} streams on Ray ({t['n']} runs): every task terminal in "
              f"p50 {t['p50_ms']:.0f} ms (max {t['max_ms']:.0f}), every remote stream closed in p50 {c['p50_ms']:.0f} ms "
              f"(max {c['max_ms']:.0f}); target ≤ {rs['targets']['interrupt_closed_ms_at_100_max']} ms."]
    return lines


def _cache_priming(cp: dict[str, Any]) -> list[str]:
    lines = ["", f"**6. Cache priming** (`invoke_parallel` of {cp['requests']} prompts, `max_workers={cp['workers']}`, "
             f"a long `shared_system`; ttft {cp['ttft']} s, {cp['tokens']} tokens at {cp['token_delay']} s; "
             f"ideal {cp['ideal_s']:.2f} s; {_runs(cp['repeats'])})", "",
             _row("call", "wall s", "all runs, s", "requests reading the cache", "cache-read tokens",
                  "cache-write tokens"),
             _row("---", "---:", "---:", "---:", "---:", "---:")]
    for name, label in (("uncached", "`cache_shared_system=False`"), ("cached", "`cache_shared_system=True`")):
        v = cp["variants"][name]
        lines.append(_row(label, f"{v['wall_s']:.2f}", _spread(v["all_wall_s"]), v["cache_read_requests"],
                          v["cache_read_input_tokens"], v["cache_creation_input_tokens"]))
    lines += ["", f"Cached ÷ uncached: **{cp['ratio_cached_to_uncached']:.2f}×** "
              f"(target ≤ {cp['targets']['cached_vs_uncached_max']}×)."]
    return lines


def _policy_text_cost(pt: dict[str, Any]) -> list[str]:
    lines = ["", f"**7. Policy text cost** (in-process, a transport emitting canned text events without I/O, "
             f"{pt['total_events']:,} events a run; the README's `StopOnCritical` reads `task.text[-200:]` on every "
             f"text event; client CPU time, median of {pt['repeats']})", "",
             _row("events per task", "tasks", "µs / event, no policy", "µs / event, with the policy", "policy ×"),
             _row("---:", "---:", "---:", "---:", "---:")]
    for run in pt["runs"].values():
        lines.append(_row(f"{run['events_per_task']:,}", run["tasks"], f"{run['without_policy_us_per_event']:.2f}",
                          f"{run['with_policy_us_per_event']:.2f}", f"{run['policy_ratio']:.2f}"))
    lines += ["", f"Per-event cost with the policy, {max(pt['events']):,} ÷ {min(pt['events']):,} events a task: "
              f"**{pt['ratio_longest_to_shortest']:.2f}** (about 1.0 when reading the text stays cheap as it grows)."]
    return lines


def _startup(st: dict[str, Any]) -> list[str]:
    cache = "on (warmed once, in a private `PYTHONPYCACHEPREFIX`)" if st["bytecode_cache"] else "off"
    if st["harness_dont_write_bytecode"]:
        cache += "; `PYTHONDONTWRITEBYTECODE`, set where the benchmark ran, was left out of these processes"
    names = {"python_only": "`python -c pass`", "import_mac_core": "`python -c \"import mac_core\"`",
             "mac_help": "`mac --help`", "import_anthropic": "`python -c \"import anthropic\"`",
             "first_invoke_claude": "first `invoke_claude(\"hi\")` in a fresh process",
             "bare_sdk_create": "bare `anthropic.Anthropic().messages.create(...)` in a fresh process"}
    lines = ["", f"**8. Start-up** (whole-process wall time, median of {st['runs']} alternated runs; the requests go "
             f"to the simulator, unpaced; bytecode cache {cache})", "",
             _row("process", "wall s", "all runs, s"), _row("---", "---:", "---:")]
    for name, c in st["commands"].items():
        lines.append(_row(names[name], f"{c['wall_s']:.3f}", _spread(c["all_wall_s"], 3)))
    lines += ["", f"First `invoke_claude` ÷ bare SDK call: **{st['ratio_first_invoke_to_bare_sdk']:.2f}×** "
              f"(target ≤ {st['targets']['first_invoke_vs_bare_sdk_max']}×); `import mac_core` ÷ `import anthropic`: "
              f"{st['ratio_import_mac_core_to_anthropic']:.2f}× (targets: `import mac_core` and `mac --help` "
              f"≤ {st['targets']['import_mac_core_max_s']} s)."]
    return lines


def _short(run: str) -> str:
    """A scale run's key as a bar label: ``ours_aiohttp_1000`` -> ``mac aio 1000``."""
    for long, short in (("ours_one_client_", "1 client "), ("_aiohttp_", " aio "),
                        ("ours_", "mac "), ("ours", "mac"), ("floor_", "floor ")):
        run = run.replace(long, short)
    return run


def plot(results: dict[str, Any], path: Path) -> bool:
    """Draw the ratios as bar charts into ``path``; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    cost = results["streaming_cost"]["clients"]
    axes[0].bar(list(cost), [c["ratio_to_floor"] for c in cost.values()], color="tab:blue")
    axes[0].axhline(1.5, color="red", linestyle="--", label="target 1.5×")
    axes[0].set_title("CPU per event, × floor")
    axes[0].legend()
    fan = results["fan_out"]["clients"]
    axes[1].bar([k.replace("seed_threads", "seed") for k in fan],
                [c.get("wall_s_scaled", c["wall_s"]) for c in fan.values()], color="tab:green")
    axes[1].set_yscale("log")
    axes[1].set_title("fan-out wall time, s (log)")
    runs = results["scale"]["runs"]
    axes[2].bar([_short(k) for k in runs],
                [r["ratio_to_ideal"] for r in runs.values()], color="tab:orange")
    axes[2].axhline(1.3, color="red", linestyle="--", label="target 1.3×")
    axes[2].set_title("scale: wall × ideal")
    axes[2].legend()
    for axis in axes:
        axis.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def write_docs(results: dict[str, Any], docs: Path) -> None:
    """Replace the generated region of ``docs`` (created if missing) with the tables and the plot."""
    image = docs.with_name("benchmarks.png")
    body = tables(results)
    if plot(results, image):
        body += f"\n\n![ratios]({image.name})"
    region = f"{START}\n{body}\n{END}"
    text = docs.read_text() if docs.exists() else "# Benchmarks\n\n"
    if START in text and END in text:
        text = text[: text.index(START)] + region + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + region + "\n"
    docs.write_text(text)
