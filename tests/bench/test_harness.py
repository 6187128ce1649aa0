"""The benchmark harness runs end to end in its tiny mode and writes every section (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.bench
@pytest.mark.timeout(300)
def test_the_harness_writes_every_section_and_the_docs_region(tmp_path):
    out, docs = tmp_path / "latest.json", tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nHand-written prose stays.\n")
    subprocess.run([sys.executable, "-m", "bench", "--tiny", "--out", str(out), "--docs", str(docs)],
                   cwd=ROOT, check=True, timeout=280, capture_output=True)

    results = json.loads(out.read_text())
    assert {"machine", "streaming_cost", "fan_out", "scale", "interrupt", "delegation", "cache_priming",
            "policy_text_cost", "startup", "rate_limits", "ray_scale"} <= set(results)
    assert set(results["streaming_cost"]["clients"]) == {
        "floor", "ours", "sdk_raw", "sdk_stream", "floor_aiohttp", "ours_aiohttp", "sdk_raw_aiohttp"}
    assert all(c["us_per_event"] > 0 for c in results["streaming_cost"]["clients"].values())
    assert set(results["fan_out"]["clients"]) == {
        "ours", "ours_aiohttp", "sdk_gather", "seed_threads_5", "seed_threads_2"}
    assert {run["variant"] for run in results["scale"]["runs"].values()} == {"ours", "ours_aiohttp"}
    assert all(run["maxrss_mb"] > 0 for run in results["scale"]["runs"].values())
    interrupted = results["interrupt"]["runs"]
    assert {name.split("_")[0] for name in interrupted} == {"ours", "aiohttp", "seed"}
    assert all(s == ["interrupted"] for run in interrupted.values() for s in run.get("statuses", [["interrupted"]]))
    assert results["delegation"]["messages_per_turn"] > 0
    priming = results["cache_priming"]
    assert priming["ratio_cached_to_uncached"] > 0
    assert priming["variants"]["uncached"]["cache_read_input_tokens"] == 0
    cached = priming["variants"]["cached"]
    assert cached["cache_write_requests"] == 1 and cached["cache_read_requests"] == priming["requests"] - 1
    policy = results["policy_text_cost"]
    assert set(policy["runs"]) == {"1000", "32000"} and policy["ratio_longest_to_shortest"] > 0
    assert all(run["with_policy_us_per_event"] > 0 < run["without_policy_us_per_event"]
               for run in policy["runs"].values())
    started = results["startup"]
    assert set(started["commands"]) == {"python_only", "import_mac_core", "mac_help", "import_anthropic",
                                        "first_invoke_claude", "bare_sdk_create"}
    assert started["bytecode_cache"] and started["ratio_first_invoke_to_bare_sdk"] > 0

    limited = results["rate_limits"]["clients"]
    assert {"ours", "off", "sdk", "ours_4_processes_redis"} <= set(limited)
    assert all(c["completed"] + c["failed"] == results["rate_limits"]["prompts"] for c in limited.values())
    ray = results["ray_scale"]
    assert ray["streams"]["ray"]["events"] > 0 and ray["interrupt"]["statuses"]

    text = docs.read_text()
    assert "Hand-written prose stays." in text
    assert "Streaming cost" in text and "Interrupt latency" in text and "Delegation" in text
    assert "Cache priming" in text and "Policy text cost" in text and "Start-up" in text
    assert "Rate limits" in text and "Ray" in text
