"""The simulator refuses a request holding a lone surrogate as the API does: a 400, not a 500."""

from __future__ import annotations

import json

import httpx2
import pytest
from mac_plugins.simulator import Simulator

HEADERS = {
    "x-api-key": "sk-ant-simulated",
    "anthropic-version": "2023-06-01",
    "content-type": "application/json",
}


@pytest.fixture(scope="module")
def sim():
    simulator = Simulator(token_delay=0.0, tokens=5).start()
    yield simulator
    simulator.stop()


def message(content: str, *, stream: bool) -> dict:
    return {
        "model": "claude-test",
        "max_tokens": 50,
        "stream": stream,
        "messages": [{"role": "user", "content": content}],
    }


@pytest.mark.parametrize("stream", [False, True])
def test_a_lone_surrogate_in_the_messages_is_a_400_invalid_request_error_naming_it(sim, stream):
    body = json.dumps(message("bad \udc80 byte [[reply: ok \udc80]]", stream=stream))  # escaped: \\udc80
    response = httpx2.post(f"{sim.url}/v1/messages", content=body.encode(), headers=HEADERS)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "body.messages[0].content holds the lone surrogate '\\udc80'" in error["message"]


def test_a_lone_surrogate_in_a_batch_request_is_refused_too(sim):
    params = {**message("hi", stream=False), "system": "x\ud800"}
    body = json.dumps({"requests": [{"custom_id": "a", "params": params}]})
    response = httpx2.post(f"{sim.url}/v1/messages/batches", content=body.encode(), headers=HEADERS)
    assert response.status_code == 400 and "'\\ud800'" in response.json()["error"]["message"]


def test_a_surrogate_pair_escaped_in_json_is_valid_and_answered(sim):
    body = json.dumps(
        message("emoji 😀 [[reply: 😀 ok]]", stream=False)
    )  # ensure_ascii: \ud83d\ude00, a pair
    assert "\\ud83d" in body
    response = httpx2.post(f"{sim.url}/v1/messages", content=body.encode(), headers=HEADERS)
    assert response.status_code == 200 and response.json()["content"][0]["text"] == "😀 ok"
