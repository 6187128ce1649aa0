"""The API's error statuses and bodies, for requests the simulator must refuse."""

from __future__ import annotations

import anthropic
import httpx2
import pytest
from conftest import KEY

HEADERS = {"x-api-key": KEY, "content-type": "application/json"}
VALID = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def assert_api_error(response: httpx2.Response, status: int, error_type: str) -> dict:
    assert response.status_code == status
    assert response.headers["request-id"].startswith("req_")
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type and body["error"]["message"]
    return body["error"]


def test_malformed_json_is_a_400(sim):
    response = httpx2.post(sim.url + "/v1/messages", content=b'{"model": ', headers=HEADERS)
    assert "not valid JSON" in assert_api_error(response, 400, "invalid_request_error")["message"]


@pytest.mark.parametrize("field", ["model", "max_tokens", "messages"])
def test_a_missing_required_field_is_a_400_naming_it(sim, field):
    body = {key: value for key, value in VALID.items() if key != field}
    response = httpx2.post(sim.url + "/v1/messages", json=body, headers=HEADERS)
    assert assert_api_error(response, 400, "invalid_request_error")["message"] == f"{field}: Field required"


@pytest.mark.parametrize(
    "change",
    [{"max_tokens": 0}, {"messages": []}, {"messages": [{"role": "robot", "content": "x"}]}, {"stream": "yes"}],
)
def test_invalid_fields_are_400s(sim, change):
    response = httpx2.post(sim.url + "/v1/messages", json={**VALID, **change}, headers=HEADERS)
    assert_api_error(response, 400, "invalid_request_error")


def test_no_api_key_is_a_401_and_a_bearer_token_is_accepted(sim):
    response = httpx2.post(sim.url + "/v1/messages", json=VALID)
    assert_api_error(response, 401, "authentication_error")
    bearer = httpx2.post(sim.url + "/v1/messages", json=VALID, headers={"authorization": "Bearer sk-ant-oat-x"})
    assert bearer.status_code == 200
    assert sim.stats.statuses[401] == 1


def test_the_sdk_raises_its_typed_errors(sim):
    client = anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        client.messages.create(**{**VALID, "max_tokens": 0})
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve("msgbatch_missing")


def test_a_body_over_the_limit_is_a_413(start_sim):
    sim = start_sim(max_body_bytes=50_000)
    big = {**VALID, "messages": [{"role": "user", "content": "x" * 60_000}]}
    response = httpx2.post(sim.url + "/v1/messages", json=big, headers=HEADERS)
    assert_api_error(response, 413, "request_too_large")
    chunked = httpx2.post(sim.url + "/v1/messages", content=iter([b"x" * 30_000] * 2), headers=HEADERS)
    assert_api_error(chunked, 413, "request_too_large")  # no content-length: counted while reading
    assert httpx2.post(sim.url + "/v1/messages", json=VALID, headers=HEADERS).status_code == 200


def test_unknown_paths_and_methods_get_the_api_shape(sim):
    assert_api_error(httpx2.get(sim.url + "/v1/nothing", headers=HEADERS), 404, "not_found_error")
    assert_api_error(httpx2.get(sim.url + "/v1/messages", headers=HEADERS), 405, "invalid_request_error")


def test_a_bad_fault_header_is_a_400_listing_the_kinds(sim):
    response = httpx2.post(sim.url + "/v1/messages", json=VALID, headers={**HEADERS, "x-mac-sim-fault": "meteor"})
    assert "rate_limit" in assert_api_error(response, 400, "invalid_request_error")["message"]
