"""Every fault, forced by header or drawn at random, as the official SDK meets it; the server survives them all."""

from __future__ import annotations

import json
import socket

import anthropic
import anyio
import httpx2
import pytest
from conftest import KEY, sse_events, wait_until

REQUEST = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "Tell me something."}]}


def fault(kind: str, **headers: str) -> dict:
    return {"extra_headers": {"x-mac-sim-fault": kind, **headers}}


def sdk(sim, **options) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim.url, api_key=KEY, **{"max_retries": 0, "timeout": 10, **options})


def stream_text(client: anthropic.Anthropic, **extra) -> tuple[str, Exception | None]:
    """The text streamed before the stream ended or failed, and the failure."""
    text = ""
    try:
        with client.messages.stream(**REQUEST, **extra) as stream:
            for chunk in stream.text_stream:
                text += chunk
    except Exception as exc:
        return text, exc
    return text, None


def raw_stream(sim, kind: str, *, silence: float = 5.0) -> tuple[bytes, bool]:
    """The bytes a streaming request with fault ``kind`` gets on a bare socket, and whether the server closed it.

    Reads until the server closes the connection or sends nothing for ``silence`` seconds.
    """
    body = json.dumps({**REQUEST, "stream": True}).encode()
    head = (f"POST /v1/messages HTTP/1.1\r\nHost: {sim.host}\r\nx-api-key: {KEY}\r\n"
            f"content-type: application/json\r\nx-mac-sim-fault: {kind}\r\ncontent-length: {len(body)}\r\n\r\n")
    received = b""
    with socket.create_connection((sim.host, sim.port), timeout=silence) as sock:
        sock.sendall(head.encode() + body)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            return received, False
    return received, True


def test_rate_limit_once_is_retried_by_the_sdk_to_success(sim):
    client = sdk(sim, max_retries=2)
    message = client.messages.create(**REQUEST, **fault("rate_limit:1", **{"x-mac-sim-retry-after": "0.01"}))
    assert message.stop_reason == "end_turn"
    assert sim.stats.faults["rate_limit"] == 1
    assert sim.stats.statuses[429] == 1 and sim.stats.statuses[200] == 1


def test_rate_limit_answers_429_with_retry_after(sim):
    response = httpx2.post(sim.url + "/v1/messages", json=REQUEST,
                           headers={"x-api-key": KEY, "x-mac-sim-fault": "rate_limit"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "0"
    assert response.json()["error"]["type"] == "rate_limit_error"
    slower = httpx2.post(sim.url + "/v1/messages", json=REQUEST,
                         headers={"x-api-key": KEY, "x-mac-sim-fault": "rate_limit", "x-mac-sim-retry-after": "2.5"})
    assert (slower.headers["retry-after"], slower.headers["retry-after-ms"]) == ("3", "2500")
    with pytest.raises(anthropic.RateLimitError):
        sdk(sim).messages.create(**REQUEST, **fault("rate_limit"))


def test_overloaded_is_529_and_server_error_is_500(sim):
    client = sdk(sim)
    with pytest.raises(anthropic.OverloadedError) as overloaded:
        client.messages.create(**REQUEST, **fault("overloaded"))
    assert overloaded.value.status_code == 529
    with pytest.raises(anthropic.InternalServerError) as failed:
        client.messages.create(**REQUEST, **fault("server_error"))
    assert failed.value.status_code == 500 and failed.value.body["error"]["type"] == "api_error"
    retried = sdk(sim, max_retries=1).messages.create(
        **REQUEST, **fault("server_error:1", **{"x-mac-sim-retry-after": "0.01"})
    )
    assert retried.stop_reason == "end_turn"


def test_midstream_sends_an_error_event_after_some_text(sim):
    text, error = stream_text(sdk(sim), **fault("midstream"))
    assert isinstance(error, anthropic.APIStatusError) and "overloaded_error" in str(error)
    assert 0 < len(text.split()) < 12
    raw = httpx2.post(sim.url + "/v1/messages", json={**REQUEST, "stream": True},
                      headers={"x-api-key": KEY, "x-mac-sim-fault": "midstream"})
    name, data = sse_events(raw.content)[-1]
    assert (name, data["error"]["type"]) == ("error", "overloaded_error")
    with pytest.raises(anthropic.OverloadedError):  # without streaming there is no stream to break: a 529
        sdk(sim).messages.create(**REQUEST, **fault("midstream"))


def test_disconnect_drops_the_connection_mid_stream_without_message_stop(sim):
    received, closed = raw_stream(sim, "disconnect")
    assert closed and b"content_block_delta" in received
    assert b"message_stop" not in received and not received.endswith(b"0\r\n\r\n")  # no last chunk: cut off
    text, error = stream_text(sdk(sim), **fault("disconnect"))
    assert isinstance(error, anthropic.APIConnectionError | httpx2.TransportError)  # the SDK sees a broken stream
    assert 0 < len(text.split()) < 12
    with pytest.raises(anthropic.APIConnectionError):
        sdk(sim).messages.create(**REQUEST, **fault("disconnect"))
    assert sim.stats.streams_finished == 0
    assert sdk(sim).messages.create(**REQUEST).stop_reason == "end_turn"  # the server carries on


def test_slow_waits_before_the_first_byte_and_notices_the_client_leave(start_sim):
    sim = start_sim(slow_seconds=30)
    with pytest.raises(anthropic.APITimeoutError):
        sdk(sim, timeout=0.3).messages.create(**REQUEST, **fault("slow"))
    wait_until(lambda: sim.stats.client_disconnects == 1)  # long before the 30 s are up
    assert sim.stats.statuses[200] == 0


def test_stall_sends_some_events_then_goes_silent_until_the_client_leaves(sim):
    received, closed = raw_stream(sim, "stall", silence=0.5)
    assert not closed and b"content_block_delta" in received and b"message_stop" not in received
    wait_until(lambda: sim.stats.client_disconnects == 1 and sim.stats.streams_open == 0)
    text, error = stream_text(sdk(sim, timeout=httpx2.Timeout(5, read=0.3)), **fault("stall"))
    assert isinstance(error, anthropic.APITimeoutError | httpx2.TimeoutException)  # the SDK times the silence out
    assert 0 < len(text.split()) < 12
    wait_until(lambda: sim.stats.client_disconnects == 2 and sim.stats.streams_open == 0)


def test_malformed_sends_a_data_line_that_is_not_json(sim):
    text, error = stream_text(sdk(sim), **fault("malformed"))
    assert isinstance(error, json.JSONDecodeError)
    assert 0 < len(text.split()) < 12


def test_fault_count_limits_apply_per_sdk_retry(sim):
    client = sdk(sim, max_retries=3)
    headers = {"x-mac-sim-retry-after": "0.01"}
    assert client.messages.create(**REQUEST, **fault("overloaded:2", **headers)).stop_reason == "end_turn"
    assert sim.stats.faults["overloaded"] == 2


def outcomes(sim, count: int) -> list[str]:
    client = sdk(sim)
    seen = []
    for _ in range(count):
        try:
            client.messages.create(**REQUEST)
            seen.append("ok")
        except anthropic.APIStatusError as exc:
            seen.append(str(exc.status_code))
    return seen


def test_random_faults_are_reproducible_with_a_seed(start_sim):
    settings = {"fault_rate": 0.5, "faults": ("rate_limit", "overloaded", "server_error")}
    first = outcomes(start_sim(seed=11, **settings), 24)
    assert outcomes(start_sim(seed=11, **settings), 24) == first
    assert {"ok", "429", "529", "500"} == set(first)
    assert outcomes(start_sim(seed=12, **settings), 24) != first


def test_random_stream_faults_are_counted_by_kind(start_sim):
    sim = start_sim(seed=3, fault_rate=1.0, faults=("midstream", "malformed"))
    client = sdk(sim)
    errors = [stream_text(client)[1] for _ in range(6)]
    assert all(error is not None for error in errors)
    assert sum(sim.stats.faults.values()) == 6 and set(sim.stats.faults) <= {"midstream", "malformed"}


def test_a_client_that_disconnects_mid_stream_leaves_the_server_healthy(start_sim):
    sim = start_sim(tokens=100, token_delay=0.05)
    with httpx2.stream("POST", sim.url + "/v1/messages", json={**REQUEST, "stream": True},
                       headers={"x-api-key": KEY}, timeout=10) as response:
        chunks = response.iter_bytes()
        next(chunks)
        next(chunks)
    wait_until(lambda: sim.stats.client_disconnects == 1 and sim.stats.streams_open == 0)
    assert sim.stats.streams_finished == 0
    still = sdk(sim).messages.create(**{**REQUEST, "messages": [{"role": "user", "content": "[[reply: still here]]"}]})
    assert still.content[0].text == "still here"


@pytest.mark.anyio
async def test_many_clients_leaving_at_once_leak_no_stream(start_sim):
    sim = start_sim(tokens=200, token_delay=0.01)
    client = anthropic.AsyncAnthropic(base_url=sim.url, api_key=KEY, max_retries=0, timeout=10)

    async def leave_early() -> None:
        async with client.messages.stream(**REQUEST) as stream:
            async for _ in stream.text_stream:
                break

    async with anyio.create_task_group() as group:
        for _ in range(50):
            group.start_soon(leave_early)
    await client.close()
    await anyio.to_thread.run_sync(lambda: wait_until(lambda: sim.stats.streams_open == 0))
    assert sim.stats.streams_started == sim.stats.client_disconnects == 50


@pytest.fixture
def anyio_backend():
    return "asyncio"
