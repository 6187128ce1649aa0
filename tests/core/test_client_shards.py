"""Many concurrent requests spread over several SDK clients: each carries a bounded share, all of them work."""

from __future__ import annotations

import threading
import time

import anyio
import pytest
from mac_plugins.simulator import Simulator

from mac_core import ClientSettings, Coordinator, InterruptToken, Secret
from mac_core.anthropic_api import HTTP_CLIENTS, REQUESTS_PER_CLIENT, ClientShards

SETTINGS = ClientSettings(api_key=Secret("sk-ant-test"), base_url="http://127.0.0.1:9")


async def hold(shards: ClientShards, count: int, release: anyio.Event, seen: list) -> None:
    """Hold ``count`` clients from ``shards`` until ``release`` is set, noting each one in ``seen``."""
    async with anyio.create_task_group() as group:
        for _ in range(count):

            async def one() -> None:
                async with shards.client() as client:
                    seen.append(client)
                    await release.wait()

            group.start_soon(one)
        await anyio.wait_all_tasks_blocked()
        release.set()


@pytest.mark.anyio
async def test_a_client_carries_at_most_its_share_and_a_freed_slot_is_reused():
    shards = ClientShards(SETTINGS, streaming=True, per_client=2)
    seen: list = []
    await hold(shards, 5, anyio.Event(), seen)
    assert len(shards) == 3  # 5 at once, 2 per client
    assert [seen.count(client) for client in dict.fromkeys(seen)] == [2, 2, 1]
    async with shards.client() as again:  # all free again: the first client takes the next request
        assert again is seen[0]
    assert len(shards) == 3
    await shards.aclose()
    assert all(client.is_closed() for client in dict.fromkeys(seen))


@pytest.mark.anyio
async def test_a_request_that_fails_gives_its_slot_back():
    shards = ClientShards(SETTINGS, streaming=False, per_client=1)
    with pytest.raises(RuntimeError):
        async with shards.client():
            raise RuntimeError("the request failed")
    async with shards.client():
        pass
    assert len(shards) == 1
    await shards.aclose()


@pytest.mark.anyio
async def test_a_run_within_one_share_opens_one_client_with_the_run_settings():
    shards = ClientShards(SETTINGS, streaming=True)
    seen: list = []
    await hold(shards, REQUESTS_PER_CLIENT, anyio.Event(), seen)
    assert len(shards) == 1
    client = seen[0]
    assert str(client.base_url).rstrip("/") == SETTINGS.base_url
    assert client.timeout.read == SETTINGS.idle_timeout and client.timeout.connect == SETTINGS.connect_timeout
    assert client.max_retries == SETTINGS.max_retries
    await shards.aclose()


@pytest.fixture
def slow_sim():
    """Forty words a stream, 20 ms apart: long enough for every stream of a big fan-out to be open at once."""
    sim = Simulator(tokens=40, token_delay=0.02).start()
    yield sim
    sim.stop()


@pytest.mark.parametrize("http_client", HTTP_CLIENTS)
@pytest.mark.parametrize("transport", ["stream", "messages"])
def test_a_fan_out_wider_than_one_client_completes_every_request(
    slow_sim, api_key, transport, http_client, aiohttp_connections
):
    prompts = [f"question {i}" for i in range(3 * REQUESTS_PER_CLIENT)]
    results = Coordinator(api_key=api_key, base_url=slow_sim.url, http_client=http_client).run(
        prompts, transport=transport, max_concurrency=len(prompts)
    )
    assert [r.status for r in results] == ["completed"] * len(prompts)
    assert all(len(r.text.split()) == 40 for r in results)
    assert len({r.request_id for r in results}) == len(prompts)
    assert len(aiohttp_connections) == (len(prompts) if http_client == "aiohttp" else 0)
    assert len(set(aiohttp_connections)) == (3 if http_client == "aiohttp" else 0)  # one pool per client


@pytest.mark.parametrize("http_client", HTTP_CLIENTS)
def test_an_interrupt_closes_the_streams_of_every_client(slow_sim, api_key, http_client):
    prompts = [f"question {i}" for i in range(3 * REQUESTS_PER_CLIENT)]
    token = InterruptToken()

    def interrupt_when_all_stream():
        deadline = time.monotonic() + 20
        while slow_sim.stats.streams_open < len(prompts) and time.monotonic() < deadline:
            time.sleep(0.005)
        token.interrupt("enough")

    threading.Thread(target=interrupt_when_all_stream).start()
    results = Coordinator(api_key=api_key, base_url=slow_sim.url, http_client=http_client).run(
        prompts, transport="stream", max_concurrency=len(prompts), interrupt_token=token
    )
    assert [r.status for r in results] == ["interrupted"] * len(prompts)
    deadline = time.monotonic() + 5
    while slow_sim.stats.streams_open and time.monotonic() < deadline:
        time.sleep(0.01)
    assert slow_sim.stats.streams_open == 0  # every connection, on every client, was closed
    assert slow_sim.stats.streams_finished == 0
