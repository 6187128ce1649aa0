"""The simulator's rate limits: token buckets per model, the API's headers and 429s, and its counters."""

from __future__ import annotations

import datetime
import signal
import subprocess
import sys
import time
import types

import anthropic
import httpx2
import pytest
from conftest import KEY, wait_until
from mac_plugins.simulator import SimulatorSettings
from mac_plugins.simulator.rate_limits import RateLimits

HI = [{"role": "user", "content": "hi"}]  # one input token
LIMIT_HEADERS = [
    f"anthropic-ratelimit-{bucket}-{what}"
    for bucket in ("requests", "input-tokens", "output-tokens", "tokens")
    for what in ("limit", "remaining", "reset")
]


def post(sim, model="m", max_tokens=20, messages=HI, **extra) -> httpx2.Response:
    body = {"model": model, "max_tokens": max_tokens, "messages": messages, **extra}
    return httpx2.post(sim.url + "/v1/messages", headers={"x-api-key": KEY}, json=body, timeout=10)


def words(count: int) -> list[dict]:
    """A user message of ``count`` input tokens (the simulator counts four characters a token)."""
    return [{"role": "user", "content": "abc " * count}]


def remaining(response, bucket: str) -> int:
    return int(response.headers[f"anthropic-ratelimit-{bucket}-remaining"])


def test_a_burst_beyond_rpm_is_refused_with_429_retry_after_and_the_limit_headers(start_sim):
    sim = start_sim(rpm=3, itpm=10_000, otpm=10_000)
    answers = [post(sim) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [remaining(a, "requests") for a in answers] == [2, 1, 0, 0]
    refused = answers[3]
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert "3 requests per minute" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 20  # one request flows back in every 20 s
    for answer in answers:
        assert all(name in answer.headers for name in LIMIT_HEADERS), answer.headers
        assert answer.headers["anthropic-ratelimit-requests-limit"] == "3"
    reset = datetime.datetime.strptime(
        refused.headers["anthropic-ratelimit-requests-reset"], "%Y-%m-%dT%H:%M:%SZ"
    )
    seconds_to_full = reset.replace(tzinfo=datetime.timezone.utc).timestamp() - time.time()
    assert (
        55 <= seconds_to_full <= 62
    )  # empty: full again a minute from now (reset is RFC 3339, whole seconds)
    assert sim.stats.rate_limited == 1 and sim.stats.rate_limited_by == {"requests": 1}
    assert sim.stats.admitted == {"m": 3} and not sim.stats.faults


def test_a_bucket_refills_continuously_at_its_limit_per_minute(start_sim):
    sim = start_sim(itpm=600)  # 10 input tokens a second
    assert post(sim, messages=words(600)).status_code == 200
    refused = post(sim, messages=words(5))
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    time.sleep(0.6)
    admitted = post(sim, messages=words(5))
    assert admitted.status_code == 200
    assert 0 <= remaining(admitted, "input-tokens") <= 3  # ~6 flowed back in 0.6 s, 5 of them spent
    assert sim.stats.admitted_input_tokens == {"m": 605} and sim.stats.rate_limited_by == {"input-tokens": 1}


def test_output_is_reserved_from_max_tokens_while_answering_and_corrected_at_the_end(start_sim):
    sim = start_sim(otpm=1000, tokens=5, token_delay=0.05)
    client = anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=0, timeout=10)
    with client.messages.stream(model="m", max_tokens=900, messages=HI) as stream:
        assert stream.response.headers["anthropic-ratelimit-output-tokens-remaining"] == "100"
        busy = post(sim, max_tokens=200)  # 900 are reserved: 200 more do not fit
        assert busy.status_code == 429 and sim.stats.rate_limited_by == {"output-tokens": 1}
        assert stream.get_final_message().usage.output_tokens == 5
    wait_until(lambda: sim.stats.admitted_output_tokens["m"] == 5)  # settled once the last byte is sent
    after = post(sim, max_tokens=200)  # the 895 not produced were given back
    assert after.status_code == 200
    assert 1000 - 5 - 200 <= remaining(after, "output-tokens") <= 1000 - 200
    wait_until(lambda: sim.stats.admitted_output_tokens["m"] == 10)


def test_a_stream_the_client_leaves_is_charged_only_the_output_it_produced(start_sim):
    sim = start_sim(otpm=1000, tokens=100, token_delay=0.05)
    client = anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=0, timeout=10)
    with client.messages.stream(model="m", max_tokens=900, messages=HI) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                break  # leave after the first words
    wait_until(lambda: sim.stats.client_disconnects == 1)
    wait_until(lambda: "m" in sim.stats.admitted_output_tokens)
    produced = sim.stats.admitted_output_tokens["m"]
    assert 1 <= produced < 20
    after = post(sim, max_tokens=100)
    assert 1000 - produced - 100 <= remaining(after, "output-tokens") <= 1000 - 100


def test_cache_reads_do_not_count_against_input_tokens_but_cache_writes_do(start_sim):
    sim = start_sim(itpm=1000)  # 17 a second flow back: little between two requests
    system = [{"type": "text", "text": "abc " * 400, "cache_control": {"type": "ephemeral"}}]
    first = post(sim, system=system, messages=words(10))
    second = post(sim, system=system, messages=words(10))
    assert first.json()["usage"]["cache_creation_input_tokens"] == 400
    assert second.json()["usage"]["cache_read_input_tokens"] == 400
    assert sim.stats.admitted_input_tokens["m"] == (400 + 10) + 10
    spent = remaining(first, "input-tokens") - remaining(second, "input-tokens")
    assert 0 < spent <= 10  # 10 less what flowed back between them; a charged cache read would be 410


def test_each_model_has_its_own_buckets_and_an_entry_inherits_the_limits_it_leaves_out(start_sim):
    sim = start_sim(rpm=1, otpm=5000, model_limits={"big": {"rpm": 5}, "free": RateLimits()})
    assert [post(sim, model="small").status_code for _ in range(2)] == [200, 429]
    big = [post(sim, model="big") for _ in range(5)]
    assert [a.status_code for a in big] == [200] * 5
    assert big[0].headers["anthropic-ratelimit-output-tokens-limit"] == "5000"  # from otpm, not set for "big"
    assert post(sim, model="other").status_code == 200  # its own bucket, not "small"'s
    free = post(sim, model="free")  # its entry leaves every limit to the defaults, so it has them
    assert free.headers["anthropic-ratelimit-requests-limit"] == "1"
    assert sim.stats.admitted == {"small": 1, "big": 5, "other": 1, "free": 1}


def test_without_limits_nothing_is_refused_and_no_limit_headers_are_sent(start_sim):
    sim = start_sim()
    answer = post(sim)
    assert answer.status_code == 200
    assert not [name for name in answer.headers if name.startswith("anthropic-ratelimit-")]
    assert sim.stats.admitted == {"m": 1}
    wait_until(
        lambda: sim.stats.admitted_output_tokens["m"] == 20
    )  # counted once the answer is sent; cut at max_tokens


def test_the_sdk_sees_a_rate_limit_error_and_its_retry_waits_the_retry_after(start_sim):
    sim = start_sim(itpm=60)  # one input token a second
    assert post(sim, messages=words(60)).status_code == 200
    impatient = anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=0, timeout=10)
    with pytest.raises(anthropic.RateLimitError) as refused:
        impatient.messages.create(model="m", max_tokens=5, messages=HI)
    assert refused.value.response.headers["retry-after"] == "1"
    assert "retry-after-ms" not in refused.value.response.headers  # the API sends whole seconds only
    assert refused.value.response.headers["anthropic-ratelimit-input-tokens-limit"] == "60"
    # Its own backoff (0.5 s at first) would be refused again; waiting the retry-after (1 s) fits.
    patient = anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=1, timeout=10)
    assert patient.messages.create(model="m", max_tokens=5, messages=HI).usage.input_tokens == 1
    # Refused: the impatient request and the patient one's first attempt; its retry came late enough.
    assert sim.stats.rate_limited == 2 and sim.stats.admitted == {"m": 2}


def test_a_request_larger_than_a_whole_bucket_is_refused_without_inviting_a_retry(start_sim):
    sim = start_sim(otpm=1000)
    client = anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=2, timeout=10)
    with pytest.raises(anthropic.RateLimitError) as refused:
        client.messages.create(model="m", max_tokens=4096, messages=HI)
    assert "can never fit" in refused.value.message
    assert refused.value.response.headers["x-should-retry"] == "false"
    assert sim.stats.rate_limited == 1  # the SDK did not retry


def test_an_injected_rate_limit_fault_is_counted_apart_and_costs_no_budget(start_sim):
    sim = start_sim(rpm=10)
    faulted = httpx2.post(
        sim.url + "/v1/messages",
        headers={"x-api-key": KEY, "x-mac-sim-fault": "rate_limit"},
        json={"model": "m", "max_tokens": 5, "messages": HI},
        timeout=10,
    )
    assert faulted.status_code == 429 and remaining(faulted, "requests") == 10
    assert sim.stats.faults == {"rate_limit": 1} and sim.stats.rate_limited == 0
    assert remaining(post(sim), "requests") == 9


def test_streamed_answers_carry_the_limit_headers(start_sim):
    sim = start_sim(rpm=10, itpm=1000, otpm=1000)
    answer = post(sim, stream=True, max_tokens=100)
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert remaining(answer, "output-tokens") == 900 and remaining(answer, "input-tokens") == 999
    assert answer.headers["anthropic-ratelimit-tokens-remaining"] == "900"  # the tighter of input and output


def test_the_counters_are_served_as_json_to_loopback_clients(start_sim):
    sim = start_sim(rpm=1, otpm=500, model_limits={"big": {"rpm": 7}})
    post(sim)
    post(sim)
    wait_until(lambda: sim.stats.admitted_output_tokens["m"] == 20)  # counted once the answer is sent
    stats = httpx2.get(sim.url + "/v1/_mac/stats", headers={"x-api-key": KEY}, timeout=10).json()
    assert stats["rate_limited"] == 1 and stats["rate_limited_by"] == {"requests": 1}
    assert stats["admitted"] == {"m": 1} and stats["admitted_output_tokens"] == {"m": 20}
    assert stats["statuses"] == {"200": 1, "429": 1} and stats["elapsed"] > 0
    assert stats["limits"] == {
        "default": {"rpm": 1, "itpm": None, "otpm": 500},
        "models": {"big": {"rpm": 7, "itpm": None, "otpm": 500}},  # filled in from the defaults
    }


def test_the_counters_are_hidden_from_other_hosts():
    from mac_plugins.simulator import create_app
    from starlette.testclient import TestClient

    with TestClient(create_app(SimulatorSettings(rpm=1)), client=("192.0.2.7", 5000)) as client:
        assert client.get("/v1/_mac/stats", headers={"x-api-key": KEY}).status_code == 404


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"rpm": 0}, "rpm must be a whole number of at least 1"),
        ({"otpm": 2.5}, "otpm must be a whole number"),
        ({"model_limits": {"m": {"rpx": 1}}}, "model_limits['m']: unknown limit(s) ['rpx']"),
        ({"model_limits": {"m": {"itpm": -1}}}, "model_limits['m']: itpm must be"),
        ({"model_limits": [("m", 1)]}, "model_limits must be a mapping"),
        (
            {"model_limits": {"m": 5}},
            "model_limits['m']: expected RateLimits or a mapping of rpm/itpm/otpm, not int",
        ),
    ],
)
def test_bad_limits_are_refused_naming_what_is_wrong(settings, message):
    with pytest.raises(ValueError) as error:
        SimulatorSettings(**settings)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--rpm", "0"], "Invalid value for '--rpm': 0 is not in the range x>=1."),
        (["--otpm", "many"], "Invalid value for '--otpm': 'many' is not a valid integer range."),
        (["--model-limit", "claude-x"], "expected MODEL:rpm=N,itpm=N,otpm=N, got 'claude-x'"),
        (
            ["--model-limit", "claude-x:rpm=5,tpm=3"],
            "expected rpm=N, itpm=N or otpm=N after 'claude-x':, got 'tpm=3'",
        ),
        (["--model-limit", "claude-x:itpm=0"], "itpm must be a whole number of at least 1, got '0'"),
        (["--model-limit", "a:rpm=1", "--model-limit", "a:otpm=9"], "'a' is given twice"),
    ],
)
def test_mac_sim_refuses_bad_limits_with_a_usage_error_naming_them(arguments, message):
    from click.testing import CliRunner
    from mac_plugins.simulator.cli import sim_command

    result = CliRunner().invoke(sim_command, ["--port", "0", *arguments])
    assert result.exit_code == 2
    last = result.output.splitlines()[-1]  # click's usage lines, then the error on one line
    assert last.startswith("Error: Invalid value for '--") and last.endswith(message), result.output


def test_mac_sim_serves_the_limits_its_flags_set():
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from mac_core.cli import main; main()",
            "sim",
            "--port",
            "0",
            "--token-delay",
            "0",
            "--rpm",
            "2",
            "--otpm",
            "5000",
            "--model-limit",
            "claude-big:rpm=50,itpm=7000",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        while not (lines and lines[-1].startswith("  rate limits: ")):
            lines.append(process.stderr.readline())
            assert lines[-1], "".join(lines)
        assert lines[-1].strip() == (
            "rate limits: every model rpm=2, itpm=unlimited, otpm=5000; "
            "claude-big rpm=50, itpm=7000, otpm=unlimited"
        )
        url = next(line for line in lines if line.startswith("mac sim: ")).split()[2]
        sim = types.SimpleNamespace(url=url)
        assert [post(sim).status_code for _ in range(3)] == [200, 200, 429]
        big = post(sim, model="claude-big")
        assert big.headers["anthropic-ratelimit-requests-limit"] == "50"
        assert big.headers["anthropic-ratelimit-input-tokens-limit"] == "7000"
        assert big.headers["anthropic-ratelimit-output-tokens-limit"] == "5000"
        stats = httpx2.get(url + "/v1/_mac/stats", headers={"x-api-key": KEY}, timeout=10).json()
        assert stats["rate_limited"] == 1 and stats["admitted"] == {"m": 2, "claude-big": 1}
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) in (0, 130)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        process.stderr.close()


def test_batches_are_not_held_to_the_messages_limits(start_sim):
    sim = start_sim(rpm=1, otpm=100, batch_delay=0.0)
    client = anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=0, timeout=10)
    params = {"model": "m", "max_tokens": 90, "messages": HI}
    batch = client.messages.batches.create(
        requests=[{"custom_id": f"r{i}", "params": params} for i in range(5)]
    )
    wait_until(lambda: client.messages.batches.retrieve(batch.id).processing_status == "ended")
    assert [r.result.type for r in client.messages.batches.results(batch.id)] == ["succeeded"] * 5
    assert sim.stats.rate_limited == 0 and not sim.stats.admitted
    assert (
        remaining(post(sim, max_tokens=90), "output-tokens") == 10
    )  # the batch took nothing from the buckets


def test_a_request_refused_for_output_composes_nothing_and_writes_no_cache(start_sim):
    sim = start_sim(otpm=1000, tokens=5, token_delay=0.05)
    client = anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=0, timeout=10)
    system = [{"type": "text", "text": "abc " * 100, "cache_control": {"type": "ephemeral"}}]
    with client.messages.stream(model="m", max_tokens=900, messages=HI) as stream:
        assert post(sim, max_tokens=200, system=system).status_code == 429
        stream.get_final_message()
    wait_until(lambda: sim.stats.admitted_output_tokens["m"] == 5)
    admitted = post(sim, max_tokens=200, system=system).json()["usage"]
    assert admitted["cache_creation_input_tokens"] == 100 and admitted["cache_read_input_tokens"] == 0


def test_a_stream_cut_by_a_midstream_fault_is_charged_the_words_it_sent(start_sim):
    sim = start_sim(otpm=1000, tokens=40)
    cut = httpx2.post(
        sim.url + "/v1/messages",
        headers={"x-api-key": KEY, "x-mac-sim-fault": "midstream"},
        json={"model": "m", "max_tokens": 500, "messages": HI, "stream": True},
        timeout=10,
    )
    assert b"overloaded_error" in cut.content and remaining(cut, "output-tokens") == 500
    wait_until(lambda: "m" in sim.stats.admitted_output_tokens)
    assert sim.stats.admitted_output_tokens["m"] == cut.content.count(b"event: content_block_delta") < 40
    assert sim.stats.faults == {"midstream": 1}


def test_count_tokens_is_not_held_to_the_limits(start_sim):
    sim = start_sim(rpm=1, itpm=10)
    counted = [
        httpx2.post(
            sim.url + "/v1/messages/count_tokens",
            headers={"x-api-key": KEY},
            json={"model": "m", "messages": words(50)},
            timeout=10,
        )
        for _ in range(3)
    ]
    assert [c.json() for c in counted] == [{"input_tokens": 50}] * 3 and sim.stats.rate_limited == 0


def test_many_model_names_do_not_grow_the_buckets_without_bound():
    from mac_plugins.simulator.rate_limits import RateLimiter

    limiter = RateLimiter(RateLimits(rpm=5), {}, clock=lambda: 0.0)  # time stands still: nothing refills
    limiter.buckets("busy").take(0, 0)
    for index in range(25_000):
        limiter.buckets(f"model-{index}")
    assert len(limiter._buckets) <= 10_001  # full buckets are forgotten: a new one would be the same
    assert limiter.buckets("busy").requests.remaining == 4  # one in use is kept


def test_the_engines_rate_limits_can_set_the_simulators():
    from mac_core.rate_limits import RateLimits as EngineRateLimits

    settings = SimulatorSettings(model_limits={"m": EngineRateLimits(rpm=2, otpm=900)})
    assert settings.model_limits == {"m": RateLimits(rpm=2, otpm=900)}
