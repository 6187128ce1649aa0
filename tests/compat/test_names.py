"""Every public name of the skill's scripts is importable from mac_core, with the skill's parameters in order."""

from __future__ import annotations

import inspect

import pytest

import mac_core

# The skill's parameter names, in order, for each of its public callables (orchestrating-agents 0.6.0).
SKILL_SIGNATURES = {
    "invoke_claude": ["prompt", "model", "system", "max_tokens", "temperature", "streaming", "cache_system",
                      "cache_prompt", "messages", "max_retries", "on_error", "kwargs"],
    "invoke_claude_streaming": ["prompt", "callback", "model", "system", "max_tokens", "temperature", "cache_system",
                                "cache_prompt", "kwargs"],
    "invoke_parallel": ["prompts", "model", "max_tokens", "max_workers", "shared_system", "cache_shared_system"],
    "invoke_parallel_streaming": ["prompts", "callbacks", "model", "max_tokens", "max_workers", "shared_system",
                                  "cache_shared_system"],
    "invoke_parallel_interruptible": ["prompts", "interrupt_token", "model", "max_tokens", "max_workers",
                                      "shared_system", "cache_shared_system"],
    "invoke_claude_json": ["prompt", "model", "system", "max_tokens", "temperature", "cache_system", "cache_prompt",
                           "messages", "max_parse_retries", "kwargs"],
    "parse_json_response": ["raw"],
    "get_available_models": [],
    "get_anthropic_api_key": [],
    "ConversationThread": ["system", "model", "max_tokens", "temperature", "cache_system", "max_turns",
                           "continuation_prompt"],
    "StallDetector": ["timeout", "on_stall"],
    "InterruptToken": [],
    "ClaudeInvocationError": ["message", "status_code", "details", "kind"],
    "Retry": ["prompt", "system"],
    "Fail": ["message"],
    "AgentPool": ["shared_system", "max_agents", "max_depth", "model"],
    "compute_backoff_delay": ["attempt", "is_continuation", "base_ms", "max_ms"],
    "invoke_with_retry": ["prompt", "max_retries", "base_delay_ms", "max_delay_ms", "is_continuation", "model",
                          "system", "max_tokens", "temperature", "kwargs"],
    "invoke_parallel_with_reconciliation": ["prompts", "reconcile", "model", "max_tokens", "max_workers",
                                            "shared_system", "cache_shared_system", "max_retries", "stall_timeout",
                                            "on_stall"],
    "ConcurrencyLimiter": ["global_limit", "category_limits"],
    "invoke_parallel_managed": ["prompts", "model", "max_tokens", "max_workers", "shared_system",
                                "cache_shared_system", "max_retries", "reconcile", "concurrency_limiter",
                                "stall_timeout", "on_stall"],
    "TaskTracker": ["max_retries"],
}
OTHER_NAMES = ["EXECUTE_MODE", "AgentMessage", "SpawnReservation", "TaskState", "TaskInfo", "InvalidTransitionError",
               "TERMINAL_STATES", "ERROR_RATE_LIMIT", "ERROR_OVERLOADED", "ERROR_CONTEXT_TOO_LONG",
               "ERROR_OUTPUT_PARSE", "ERROR_CONNECTION", "ERROR_AUTH", "ERROR_UNKNOWN"]


@pytest.mark.parametrize("name", sorted(SKILL_SIGNATURES))
def test_a_skill_callable_takes_the_skills_parameters_in_order(name):
    obj = getattr(mac_core, name)
    assert name in mac_core.__all__
    params = [p for p in inspect.signature(obj).parameters if p != "self"]
    assert params == SKILL_SIGNATURES[name]


@pytest.mark.parametrize("name", OTHER_NAMES)
def test_the_skills_other_public_names_are_exported(name):
    assert hasattr(mac_core, name) and name in mac_core.__all__


def test_the_skills_error_kinds_and_task_states_keep_their_values():
    assert [mac_core.ERROR_RATE_LIMIT, mac_core.ERROR_OVERLOADED, mac_core.ERROR_CONTEXT_TOO_LONG,
            mac_core.ERROR_OUTPUT_PARSE, mac_core.ERROR_CONNECTION, mac_core.ERROR_AUTH, mac_core.ERROR_UNKNOWN] == [
        "rate_limit", "overloaded", "context_overflow", "output_parse", "connection", "auth", "unknown"]
    assert [s.value for s in mac_core.TaskState] == [
        "unclaimed", "claimed", "running", "completed", "failed", "retry_queued", "cancelled"]
    assert mac_core.ClaudeInvocationError("x").kind == "unknown"
