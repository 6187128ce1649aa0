"""Message Batches through the official SDK: a batch really processes in the background."""

from __future__ import annotations

import time

import anthropic
import httpx2
import pytest
from conftest import KEY, wait_until


def params(text: str, **extra) -> dict:
    return {"model": "claude-test", "max_tokens": 50, "messages": [{"role": "user", "content": text}], **extra}


def sdk(sim) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=0, timeout=10)


def test_a_batch_moves_from_in_progress_to_ended_and_its_results_are_jsonl(start_sim):
    sim = start_sim(batch_delay=0.05)
    client = sdk(sim)
    requests = [{"custom_id": f"req-{i}", "params": params(f"[[reply: answer {i}]]")} for i in range(6)]
    requests.append({"custom_id": "broken", "params": {"model": "m", "messages": [{"role": "user", "content": "x"}]}})
    batch = client.messages.batches.create(requests=requests)
    assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
    assert batch.processing_status == "in_progress" and batch.results_url is None
    assert batch.request_counts.processing == 7

    seen_partial = False
    deadline = time.monotonic() + 10
    while batch.processing_status != "ended":
        assert time.monotonic() < deadline, "the batch never ended"
        batch = client.messages.batches.retrieve(batch.id)
        done = batch.request_counts.succeeded + batch.request_counts.errored
        seen_partial = seen_partial or 0 < done < 7
        assert batch.request_counts.processing + done == 7
    assert seen_partial, "request_counts never moved gradually"
    assert (batch.request_counts.succeeded, batch.request_counts.errored) == (6, 1)
    assert batch.ended_at is not None and batch.results_url.endswith(f"/v1/messages/batches/{batch.id}/results")

    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert set(results) == {f"req-{i}" for i in range(6)} | {"broken"}
    assert results["req-3"].type == "succeeded" and results["req-3"].message.content[0].text == "answer 3"
    assert results["broken"].type == "errored"
    assert results["broken"].error.error.type == "invalid_request_error"
    assert sim.stats.batches == 1 and sim.stats.batch_requests == 7


def test_cancel_goes_through_canceling_to_ended_with_the_rest_canceled(start_sim):
    sim = start_sim(batch_delay=0.1)
    client = sdk(sim)
    batch = client.messages.batches.create(
        requests=[{"custom_id": f"r{i}", "params": params("hello")} for i in range(20)]
    )
    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
    wait_until(lambda: client.messages.batches.retrieve(batch.id).processing_status == "ended")
    ended = client.messages.batches.retrieve(batch.id)
    counts = ended.request_counts
    assert counts.canceled > 0 and counts.processing == 0
    assert counts.canceled + counts.succeeded == 20
    lines = list(client.messages.batches.results(batch.id))
    assert len(lines) == 20
    assert sum(line.result.type == "canceled" for line in lines) == counts.canceled


def test_results_before_the_end_are_refused(start_sim):
    sim = start_sim(batch_delay=1)
    client = sdk(sim)
    batch = client.messages.batches.create(requests=[{"custom_id": "a", "params": params("x")}])
    with pytest.raises(anthropic.AnthropicError, match="results_url"):
        client.messages.batches.results(batch.id)
    raw = httpx2.get(f"{sim.url}/v1/messages/batches/{batch.id}/results", headers={"x-api-key": KEY})
    assert raw.status_code == 404 and raw.json()["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.delete(batch.id)


def test_list_is_newest_first_and_pages(start_sim):
    sim = start_sim(batch_delay=0)
    client = sdk(sim)
    ids = [client.messages.batches.create(requests=[{"custom_id": "a", "params": params("x")}]).id for _ in range(3)]
    first_page = client.messages.batches.list(limit=2)
    assert [b.id for b in first_page.data] == [ids[2], ids[1]] and first_page.has_more
    assert [b.id for b in client.messages.batches.list(limit=2)] == list(reversed(ids))  # auto-pagination
    wait_until(lambda: client.messages.batches.retrieve(ids[0]).processing_status == "ended")
    assert client.messages.batches.delete(ids[0]).type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(ids[0])


def test_batch_limits_and_bad_requests_get_the_api_errors(start_sim):
    sim = start_sim(max_batch_requests=3, max_batch_bytes=20_000)
    client = sdk(sim)
    one = {"custom_id": "a", "params": params("x")}
    with pytest.raises(anthropic.BadRequestError, match="at most 3 requests"):
        client.messages.batches.create(requests=[{**one, "custom_id": f"r{i}"} for i in range(4)])
    with pytest.raises(anthropic.APIStatusError) as too_big:
        client.messages.batches.create(requests=[{**one, "params": params("x" * 30_000)}])
    assert too_big.value.status_code == 413 and too_big.value.body["error"]["type"] == "request_too_large"
    with pytest.raises(anthropic.BadRequestError, match="duplicate"):
        client.messages.batches.create(requests=[one, one])
    with pytest.raises(anthropic.BadRequestError, match="custom_id"):
        client.messages.batches.create(requests=[{**one, "custom_id": "no spaces allowed"}])
    assert sim.stats.batches == 0
