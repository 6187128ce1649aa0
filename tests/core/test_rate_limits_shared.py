"""Limits shared through a real redis-server: two OS processes keep one budget; an outage degrades, never fails."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time

import pytest
import redis
from mac_plugins.simulator import Simulator
from redis_server import redis_server  # noqa: F401  (the fixture)

from mac_core import Coordinator
from mac_core.rate_limits import built_in_scheduler

MODEL = "claude-shared"

CHILD = """
import json, os, sys
from mac_core import Coordinator
results = Coordinator(base_url=sys.argv[1]).run(
    [f"Task {i} of {sys.argv[2]}." for i in range(int(sys.argv[3]))],
    transport="stream", model="claude-shared", max_tokens=1000, max_concurrency=10)
print(json.dumps([r.status for r in results]))
"""


@pytest.mark.timeout(180)
def test_two_processes_share_one_budget_and_stay_within_the_limit(redis_server):  # noqa: F811
    key = f"sk-ant-shared-{time.monotonic_ns()}"
    env = {**os.environ, "ANTHROPIC_API_KEY": key, "MAC_REDIS_URL": redis_server.url}
    # 10,000 output tokens a minute at max_tokens=1,000: ten requests in flight between both processes
    with Simulator(otpm=10_000, tokens=20, token_delay=0.01) as sim:
        children = [
            subprocess.Popen(
                [sys.executable, "-c", CHILD, sim.url, name, "60"], env=env, stdout=subprocess.PIPE, text=True
            )
            for name in ("one", "two")
        ]
        outputs = [child.communicate(timeout=150)[0] for child in children]
        refused, admitted = sim.stats.rate_limited, sum(sim.stats.admitted.values())
    statuses = [status for output in outputs for status in json.loads(output.strip().splitlines()[-1])]
    assert statuses == ["completed"] * 120
    # only requests sent before either process knew the limit may be refused
    assert refused <= 20, f"{refused} refused of {admitted + refused}"
    keys = redis.Redis.from_url(redis_server.url).keys("mac:rate-limits:*")
    assert len(keys) == 1 and keys[0].decode().endswith(f":{MODEL}")
    assert key.encode() not in keys[0]  # the key never reaches Redis, only a hash of it


@pytest.mark.timeout(120)
def test_a_redis_outage_mid_run_falls_back_to_this_process_with_one_warning(redis_server, caplog):  # noqa: F811
    with Simulator(otpm=10_000, tokens=20, token_delay=0.01) as sim:
        coordinator = Coordinator(
            api_key=f"sk-ant-outage-{time.monotonic_ns()}",
            base_url=sim.url,
            redis_url=redis_server.url,
            rate_limits={"otpm": 10_000},
        )
        killer = threading.Timer(1.0, redis_server.stop)
        killer.start()
        with caplog.at_level(logging.WARNING, logger="mac_core.rate_limits"):
            results = coordinator.run(
                [f"Task {i}." for i in range(150)],
                transport="stream",
                model=MODEL,
                max_tokens=1000,
                max_concurrency=10,
            )
        killer.join()
        refused = sim.stats.rate_limited
    assert [r.status for r in results] == ["completed"] * 150
    warnings = [r for r in caplog.records if r.name == "mac_core.rate_limits"]
    assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()
    assert redis_server.url not in caplog.text
    assert refused <= 3  # this process's own buckets carried on


def test_an_unreachable_redis_at_start_degrades_with_one_warning(caplog, api_key):
    with Simulator(tokens=5) as sim:
        coordinator = Coordinator(
            base_url=sim.url, redis_url="redis://:hunter2@127.0.0.1:1/0", rate_limits={"rpm": 600}
        )
        with caplog.at_level(logging.WARNING, logger="mac_core.rate_limits"):
            results = coordinator.run(["a", "b", "c"], transport="messages", model=MODEL)
    assert all(r.ok for r in results)
    assert caplog.text.count("unreachable") == 1 and "hunter2" not in caplog.text
    from mac_core.rate_limits import RateLimitSettings, account_id

    settings = coordinator.settings("messages")
    scheduler = built_in_scheduler(
        RateLimitSettings(
            account_id(settings.api_key, settings.base_url), coordinator._rate_limits, coordinator._redis_url
        )
    )
    assert "hunter2" not in repr(scheduler) and not scheduler.shared


@pytest.mark.timeout(120)
def test_a_redis_that_stops_answering_mid_run_degrades_like_an_outage(redis_server, caplog):  # noqa: F811
    """A paused redis-server (SIGSTOP) keeps its connections open but never answers: the timeout counts it lost."""
    import signal

    with Simulator(otpm=10_000, tokens=20, token_delay=0.01) as sim:
        coordinator = Coordinator(
            api_key=f"sk-ant-paused-{time.monotonic_ns()}",
            base_url=sim.url,
            redis_url=redis_server.url,
            rate_limits={"otpm": 10_000},
        )
        pauser = threading.Timer(1.0, os.kill, (redis_server.process.pid, signal.SIGSTOP))
        pauser.start()
        started = time.monotonic()
        try:
            with caplog.at_level(logging.WARNING, logger="mac_core.rate_limits"):
                results = coordinator.run(
                    [f"Task {i}." for i in range(150)],
                    transport="stream",
                    model=MODEL,
                    max_tokens=1000,
                    max_concurrency=10,
                )
        finally:
            pauser.join()
            os.kill(redis_server.process.pid, signal.SIGCONT)
        elapsed = time.monotonic() - started
        refused = sim.stats.rate_limited
    assert [r.status for r in results] == ["completed"] * 150
    warnings = [r for r in caplog.records if r.name == "mac_core.rate_limits"]
    assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()
    assert refused <= 3
    # the pause costs one Redis timeout per request then in flight, not one per request of the run
    assert elapsed < 40, f"{elapsed:.1f} s"
