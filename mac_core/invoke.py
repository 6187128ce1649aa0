"""The classic functions (``invoke_claude``, ``invoke_parallel``…), kept name for name.

Code written against the skill this project grew from (``invoking-claude``,
``multi-agent-coordination``, ``orchestrating-agents``) keeps working: same
names, parameters, defaults, return values and exceptions. Each is a thin
wrapper over :class:`~mac_core.Coordinator` (through
:func:`~mac_core.attempts.run_attempts`, which adds per-prompt retries and
``on_error``). ``invoke_claude`` and ``invoke_parallel`` send non-streaming
requests, as they always did; streaming is opt-in (docs/adr/0004).
"""

from __future__ import annotations

import copy
import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .attempts import Attempt, Outcome, check_max_retries, check_on_error, run_attempts
from .coordinator import default_model
from .interrupt import InterruptToken
from .invocation_errors import ClaudeInvocationError
from .prompts import CACHE_CONTROL
from .skill_credentials import require_skill_api_key

DEFAULT_MAX_TOKENS = 4096
DEFAULT_TEMPERATURE = 1.0
#: The largest ``max_tokens`` any model takes; above it the call is refused before sending.
MAX_TOKENS_LIMIT = 128_000

#: Keys of a prompt dict that steer recovery rather than the request.
_CONTROL_KEYS = ("max_retries", "on_error")


def _label(messages: list[Any]) -> str:
    """A short text naming a conversation (the engine labels tasks by their prompt)."""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str) and content.strip():
                return content
            if isinstance(content, list):
                text = " ".join(b.get("text", "") for b in content if isinstance(b, Mapping)).strip()
                if text:
                    return text
    return "(conversation)"


def _check_request(prompt: Any, messages: Any, max_tokens: Any, temperature: Any, where: str) -> None:
    """The skill's checks, made before the key is looked up or anything is sent."""
    if not messages:
        if prompt is None or (isinstance(prompt, str) and not prompt.strip()) or (isinstance(prompt, list) and not prompt):
            raise ValueError(f"{where}: prompt is empty (pass a prompt, or messages=[...] with an empty prompt)")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise TypeError(f"{where}: max_tokens must be an integer, not {type(max_tokens).__name__}")
    if max_tokens < 1:
        raise ValueError(f"{where}: max_tokens must be positive (1 to {MAX_TOKENS_LIMIT}), got {max_tokens}")
    if max_tokens > MAX_TOKENS_LIMIT:
        raise ValueError(f"{where}: max_tokens must be at most {MAX_TOKENS_LIMIT} (1 to {MAX_TOKENS_LIMIT}), got {max_tokens}")
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
            raise TypeError(f"{where}: temperature must be a number, not {type(temperature).__name__}")
        if not 0 <= temperature <= 1:
            raise ValueError(f"{where}: temperature must be between 0 and 1, got {temperature}")


def _drop_stream(options: dict[str, Any], caller: str) -> None:
    if "stream" in options:
        options.pop("stream")
        warnings.warn(f"{caller}(): dropping 'stream'; use invoke_claude_streaming() or streaming=True",
                      RuntimeWarning, stacklevel=4)


def plan_for(source: Mapping[str, Any], where: str) -> Attempt:
    """An :class:`Attempt` from an ``invoke_claude``-style dict (``prompt`` plus any of its keywords)."""
    if not isinstance(source, Mapping):
        raise ValueError(f"{where} must be a dict with 'prompt', not {type(source).__name__}")
    if "prompt" not in source:
        raise ValueError(f"{where} is missing 'prompt'")
    spec = {k: v for k, v in source.items() if k not in _CONTROL_KEYS and v is not None}
    prompt, messages = source["prompt"], source.get("messages")
    _check_request(prompt, messages, spec.get("max_tokens", DEFAULT_MAX_TOKENS), spec.get("temperature"), where)
    _drop_stream(spec, "invoke_claude")
    if not spec.get("cache_system", True):
        spec.pop("cache_system")
    if isinstance(prompt, list) and not messages:  # content blocks: send them as the user turn
        for j, block in enumerate(prompt):
            if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
                raise TypeError(f"{where}: prompt[{j}] must be a content block dict with a 'type', not {type(block).__name__}")
        blocks = copy.deepcopy(list(prompt))
        if spec.pop("cache_prompt", False) and "cache_control" not in blocks[-1]:
            blocks[-1]["cache_control"] = dict(CACHE_CONTROL)
        spec["messages"] = messages = [{"role": "user", "content": blocks}]
    if messages:
        spec["prompt"] = _label(messages) if not isinstance(prompt, str) or not prompt.strip() else prompt
    return Attempt(
        spec,
        max_retries=check_max_retries(source.get("max_retries"), where),
        on_error=check_on_error(source.get("on_error"), where),
    )


def _single(plan: Attempt, *, transport: str, callback: Callable[[str], Any] | None) -> str:
    api_key = require_skill_api_key()
    (outcome,) = run_attempts(
        [plan], api_key=api_key, transport=transport, callbacks=[callback],
        model=default_model(), max_tokens=DEFAULT_MAX_TOKENS, max_concurrency=1,
    )
    if outcome.error is not None:
        raise outcome.error
    return outcome.result.text


def invoke_claude(
    prompt: str | list[dict[str, Any]],
    model: str | None = None,
    system: str | list[dict[str, Any]] | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    temperature: float = DEFAULT_TEMPERATURE,
    streaming: bool = False,
    cache_system: bool = False,
    cache_prompt: bool = False,
    messages: list[dict[str, Any]] | None = None,
    max_retries: int | None = None,
    on_error: Callable[[ClaudeInvocationError, int], Any] | None = None,
    **kwargs: Any,
) -> str:
    """Ask Claude once and return the answer's text.

    :param prompt: the user message (a string, or a list of content blocks);
        may be ``""`` when ``messages`` is given.
    :param model: the model (default ``$MAC_MODEL`` or ``claude-sonnet-4-6``).
    :param system: a system prompt (string or text blocks).
    :param max_tokens: 1 to 128000. :param temperature: 0 to 1.
    :param streaming: stream the answer and print it to stdout as it arrives.
    :param cache_system, cache_prompt: mark the system prompt or the user
        message with ``cache_control`` (worth it above 1024 tokens).
    :param messages: a whole conversation to send instead of ``prompt``.
    :param max_retries: retries after the first attempt (``None``: 2). Rate
        limits, overloads, connection and server errors are retried with backoff.
    :param on_error: ``on_error(error, attempt)`` after each failure while
        retries are left: return :class:`~mac_core.Retry` (``prompt=``,
        ``system=``) to try again changed, :class:`~mac_core.Fail` to stop,
        ``None`` for the default (retry transient errors, raise the rest).
    :param kwargs: further request fields (``tools``, ``stop_sequences``,
        ``top_p``, ``top_k``, ``metadata``, ``extra_headers``…).
    :raises ValueError: bad input, or no API key (also a ``ClaudeInvocationError``).
    :raises ClaudeInvocationError: the request failed; ``kind`` says how.
    """
    plan = plan_for({
        "prompt": prompt, "model": model, "system": system, "max_tokens": max_tokens, "temperature": temperature,
        "cache_system": cache_system, "cache_prompt": cache_prompt, "messages": messages,
        "max_retries": max_retries, "on_error": on_error, **kwargs,
    }, "invoke_claude")
    callback = None
    if streaming:

        def callback(chunk: str) -> None:
            print(chunk, end="", flush=True)

    text = _single(plan, transport="stream" if streaming else "messages", callback=callback)
    if streaming:
        print()
    return text


def invoke_claude_streaming(
    prompt: str | list[dict[str, Any]],
    callback: Callable[[str], Any] | None = None,
    model: str | None = None,
    system: str | list[dict[str, Any]] | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    temperature: float = DEFAULT_TEMPERATURE,
    cache_system: bool = False,
    cache_prompt: bool = False,
    **kwargs: Any,
) -> str:
    """Ask Claude once, streaming: ``callback(chunk)`` gets each text chunk; returns the whole text.

    A callback that raises is logged and never breaks the stream. Takes
    ``messages``, ``max_retries`` and ``on_error`` as :func:`invoke_claude` does.
    """
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, not {type(callback).__name__}")
    plan = plan_for({
        "prompt": prompt, "model": model, "system": system, "max_tokens": max_tokens, "temperature": temperature,
        "cache_system": cache_system, "cache_prompt": cache_prompt, **kwargs,
    }, "invoke_claude_streaming")
    return _single(plan, transport="stream", callback=callback)


def _parallel(
    prompts: Sequence[Mapping[str, Any]],
    *,
    transport: str,
    model: str | None,
    max_tokens: int,
    max_workers: int,
    shared_system: Any,
    cache_shared_system: bool,
    callbacks: Sequence[Callable[[str], Any] | None] | None = None,
    interrupt_token: InterruptToken | None = None,
) -> list[Outcome]:
    if not isinstance(prompts, Sequence) or isinstance(prompts, (str, bytes)):
        raise ValueError(f"prompts must be a list of dicts, not {type(prompts).__name__}")
    if not prompts:
        raise ValueError("prompts list cannot be empty")
    plans = [plan_for(item, f"prompts[{i}]") for i, item in enumerate(prompts)]
    if callbacks is not None and len(callbacks) != len(prompts):
        raise ValueError(f"callbacks list must match prompts list length: callbacks has {len(callbacks)} "
                         f"entries but there are {len(prompts)} prompts")
    return run_attempts(
        plans,
        api_key=require_skill_api_key(),
        transport=transport,
        callbacks=callbacks,
        interrupt_token=interrupt_token,
        model=model or default_model(),
        max_tokens=max_tokens,
        temperature=DEFAULT_TEMPERATURE,
        max_concurrency=max_workers,
        system=shared_system,
        cache_shared_system=cache_shared_system,
    )


def texts_or_raise(outcomes: list[Outcome]) -> list[str]:
    """Every answer, or the first failure (by index) as a :class:`ClaudeInvocationError`."""
    failed = [(i, o) for i, o in enumerate(outcomes) if o.error is not None]
    if not failed:
        return [o.result.text for o in outcomes]
    index, first = failed[0]
    error = ClaudeInvocationError(
        f"Invocation {index} failed: {first.reason}",
        status_code=first.error.status_code,
        details=f"{len(failed)} of {len(outcomes)} invocations failed",
        kind=first.error.kind,
    )
    error.retries = first.error.retries
    raise error from first.error


def invoke_parallel(
    prompts: Sequence[Mapping[str, Any]],
    model: str | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    max_workers: int = 5,
    shared_system: str | list[dict[str, Any]] | None = None,
    cache_shared_system: bool = False,
) -> list[str]:
    """Ask Claude many things at once; answers come back in the prompts' order.

    :param prompts: dicts with ``prompt`` and any :func:`invoke_claude`
        keyword (``system``, ``model``, ``max_tokens``, ``temperature``,
        ``cache_system``, ``cache_prompt``, ``messages``, ``max_retries``,
        ``on_error``, ``stop_sequences``…), each for that prompt alone.
    :param max_workers: requests in flight at once (no upper bound).
    :param shared_system: a system prompt before every prompt's own.
    :param cache_shared_system: cache ``shared_system``: the first request
        goes alone and the rest follow on its first event, reading the cache.
    :raises ClaudeInvocationError: if any prompt fails (after its retries).
    """
    outcomes = _parallel(prompts, transport="messages", model=model, max_tokens=max_tokens, max_workers=max_workers,
                         shared_system=shared_system, cache_shared_system=cache_shared_system)
    return texts_or_raise(outcomes)


def invoke_parallel_streaming(
    prompts: Sequence[Mapping[str, Any]],
    callbacks: Sequence[Callable[[str], Any] | None] | None = None,
    model: str | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    max_workers: int = 5,
    shared_system: str | list[dict[str, Any]] | None = None,
    cache_shared_system: bool = False,
) -> list[str]:
    """Like :func:`invoke_parallel`, streaming: ``callbacks[i](chunk)`` sees prompt i's text live.

    ``callbacks`` has one entry per prompt (``None`` allowed) or is ``None``.
    """
    outcomes = _parallel(prompts, transport="stream", model=model, max_tokens=max_tokens, max_workers=max_workers,
                         shared_system=shared_system, cache_shared_system=cache_shared_system, callbacks=callbacks)
    return texts_or_raise(outcomes)


def invoke_parallel_interruptible(
    prompts: Sequence[Mapping[str, Any]],
    interrupt_token: InterruptToken | None = None,
    model: str | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    max_workers: int = 5,
    shared_system: str | list[dict[str, Any]] | None = None,
    cache_shared_system: bool = False,
) -> list[str | None]:
    """Like :func:`invoke_parallel`, stoppable: ``interrupt_token.interrupt()`` stops it at once.

    Requests in flight are cancelled (not just the ones not yet started).
    Returns the answer of each prompt that completed and ``None`` for the
    others. Use :meth:`Coordinator.run` to also get the partial text.
    """
    outcomes = _parallel(prompts, transport="stream", model=model, max_tokens=max_tokens, max_workers=max_workers,
                         shared_system=shared_system, cache_shared_system=cache_shared_system,
                         interrupt_token=interrupt_token)
    return [outcome.text for outcome in outcomes]
