"""An interrupt stops requests in flight on a real socket: connection closed, partial text kept."""

from __future__ import annotations

import threading
import time

import pytest
from hanging_server import HangingSSEServer

from mac_core import Coordinator, InterruptToken, invoke_parallel_interruptible
from mac_core.anthropic_api import HTTP_CLIENTS


@pytest.mark.parametrize("http_client", HTTP_CLIENTS)
def test_interrupt_closes_the_streams_in_flight_and_keeps_their_partial_text(api_key, http_client, aiohttp_connections):
    token = InterruptToken()
    with HangingSSEServer(["The first ", "findings"]) as server:
        def stop_when_streaming():
            assert server.streaming.wait(10)
            time.sleep(0.2)  # let every in-flight stream deliver its chunks
            token.interrupt("enough")

        threading.Thread(target=stop_when_streaming).start()
        results = Coordinator(base_url=server.url, http_client=http_client).run(
            ["a", "b", "c", "d", "e"], max_concurrency=3, interrupt_token=token
        )
        deadline = time.monotonic() + 5
        while server.closed_by_client < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.closed_by_client == 3  # every in-flight connection was closed by the client
        assert server.requests == 3  # nothing started after the interrupt
    assert len(aiohttp_connections) == (3 if http_client == "aiohttp" else 0)  # the stack asked for carried them
    assert [r.status for r in results] == ["interrupted"] * 3 + ["cancelled"] * 2
    assert all(r.text == "The first findings" for r in results[:3])
    assert all(r.interrupt_reason == "enough" for r in results)


def test_the_classic_interruptible_call_returns_none_for_what_did_not_complete(api_key, monkeypatch):
    token = InterruptToken()
    with HangingSSEServer(["partial"]) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        threading.Thread(target=lambda: (server.streaming.wait(10), token.interrupt())).start()
        results = invoke_parallel_interruptible([{"prompt": "a"}, {"prompt": "b"}], interrupt_token=token, max_workers=1)
    assert results == [None, None]
