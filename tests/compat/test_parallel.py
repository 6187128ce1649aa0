"""invoke_parallel*: a prompt dict carries any invoke_claude keyword, max_retries included; types stay the skill's."""

from __future__ import annotations

import threading

import pytest
from conftest import fault

from mac_core import (
    ERROR_RATE_LIMIT,
    ClaudeInvocationError,
    InterruptToken,
    Retry,
    invoke_parallel,
    invoke_parallel_interruptible,
    invoke_parallel_streaming,
)


def test_each_prompt_gets_its_own_max_retries(sim, no_waiting):
    answers = invoke_parallel([
        {"prompt": "[[reply: patient]]", "max_retries": 2, **fault("rate_limit:2")},
        {"prompt": "[[reply: plain]]", "max_retries": 0},
    ])
    assert answers == ["patient", "plain"]
    assert sim.stats.messages == 4  # two refused, then the patient prompt's third try, and the plain one


def test_a_prompt_without_retries_fails_the_call_naming_its_index_and_kind(sim, no_waiting):
    with pytest.raises(ClaudeInvocationError, match="Invocation 1 failed: HTTP 429") as info:
        invoke_parallel([
            {"prompt": "[[reply: fine]]", "max_retries": 3},
            {"prompt": "[[reply: unlucky]]", "max_retries": 0, **fault("rate_limit")},
        ])
    assert info.value.kind == ERROR_RATE_LIMIT and info.value.status_code == 429
    assert info.value.details == "1 of 2 invocations failed"


def test_a_prompt_dict_may_carry_on_error_messages_and_request_fields(sim, no_waiting):
    conversation = [{"role": "user", "content": "[[reply: from the conversation]]"}]
    answers = invoke_parallel([
        {"prompt": "", "messages": conversation},
        {"prompt": "[[reply: x]]", "max_retries": 1, "on_error": lambda e, a: Retry(prompt="[[reply: recovered]]"),
         **fault("overloaded:1")},
        {"prompt": "[[reply: cut here STOP not this]]", "stop_sequences": ["STOP"], "temperature": 0.2},
    ])
    assert answers[:2] == ["from the conversation", "recovered"]
    assert "not this" not in answers[2]


def test_more_than_ten_workers_and_per_prompt_models_are_kept(sim):
    prompts = [{"prompt": f"[[reply: r{i}]]", "model": "claude-haiku-4-5-20251001" if i % 2 else "claude-opus-4-6"}
               for i in range(16)]
    assert invoke_parallel(prompts, max_workers=16) == [f"r{i}" for i in range(16)]


@pytest.mark.parametrize(("prompts", "message"), [
    ([], "cannot be empty"),
    ("not a list", "must be a list"),
    (["just a string"], r"prompts\[0\] must be a dict"),
    ([{"system": "no prompt"}], r"prompts\[0\] is missing 'prompt'"),
])
def test_bad_prompt_lists_are_a_value_error_as_in_the_skill(sim, prompts, message):
    with pytest.raises(ValueError, match=message):
        invoke_parallel(prompts)
    assert sim.stats.requests == 0


def test_parallel_streaming_rejects_a_callback_list_of_the_wrong_length(sim):
    with pytest.raises(ValueError, match="callbacks list must match"):
        invoke_parallel_streaming([{"prompt": "a"}, {"prompt": "b"}], callbacks=[print])


def test_an_interrupt_returns_none_for_what_did_not_finish(start_sim, api_key, project_dir, monkeypatch):
    slow = start_sim(tokens=60, token_delay=0.05)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", slow.url)
    token = InterruptToken()
    threading.Timer(0.3, token.interrupt).start()
    results = invoke_parallel_interruptible([{"prompt": f"Write a long essay about topic {i}"} for i in range(5)],
                                            interrupt_token=token, max_tokens=200)
    assert len(results) == 5 and results == [None] * 5
