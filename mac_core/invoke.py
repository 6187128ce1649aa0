"""The classic functions (``invoke_claude``, ``invoke_parallel``…), kept name for name.

Code written against the original multi-agent-coordination skill keeps
working: same names, parameters, defaults and return values. Each is a thin
wrapper over :class:`~mac_core.Coordinator`. ``invoke_claude`` and
``invoke_parallel`` send non-streaming requests, as they always did;
streaming is opt-in through the ``*_streaming`` functions (docs/adr/0004).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .coordinator import Coordinator, default_model
from .interrupt import InterruptToken
from .results import COMPLETED, TaskResult

DEFAULT_MAX_TOKENS = 4096
DEFAULT_TEMPERATURE = 1.0


class ClaudeInvocationError(Exception):
    """A call failed; raised by the classic functions (the rich API returns ``failed`` results instead).

    :ivar status_code: the HTTP status, when there was one.
    :ivar details: more context (which invocations failed).
    """

    def __init__(self, message: str, status_code: int | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.details = details


def _status_of(error: str | None) -> int | None:
    if error and error.startswith("HTTP "):
        code = error[5:8]
        return int(code) if code.isdigit() else None
    return None


def _raise_first_failure(results: list[TaskResult], single: bool = False) -> None:
    failures = [r for r in results if r.status != COMPLETED]
    if not failures:
        return
    first = failures[0]
    reason = first.error or first.interrupt_reason or first.status
    if single:
        raise ClaudeInvocationError(f"API request failed: {reason}", status_code=_status_of(first.error))
    raise ClaudeInvocationError(
        f"Invocation {first.index} failed: {reason}",
        status_code=_status_of(first.error),
        details=f"{len(failures)} of {len(results)} invocations failed",
    )


def _single(
    prompt: str | list[dict[str, Any]],
    *,
    transport: str,
    callback: Callable[[str], Any] | None,
    model: str | None,
    system: Any,
    max_tokens: int,
    temperature: float | None,
    cache_system: bool,
    cache_prompt: bool,
    messages: list[dict[str, Any]] | None,
    options: dict[str, Any],
) -> str:
    spec: dict[str, Any] = {"cache_system": cache_system, "cache_prompt": cache_prompt}
    if isinstance(prompt, list):  # content blocks: send them as the user turn
        for j, block in enumerate(prompt):
            if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                raise TypeError(f"prompt[{j}] must be a content block dict with a 'type', not {type(block).__name__}")
        messages = messages or [{"role": "user", "content": prompt}]
        prompt = " ".join(b.get("text", "") for b in prompt if isinstance(b, dict)) or "(content blocks)"
    spec["prompt"] = prompt
    if system is not None:
        spec["system"] = system
    if messages is not None:
        spec["messages"] = messages
    results = Coordinator().run(
        [spec],
        transport=transport,
        model=model or default_model(),
        max_tokens=max_tokens,
        temperature=temperature,
        callbacks=[callback],
        **options,
    )
    _raise_first_failure(results, single=True)
    return results[0].text


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
    **kwargs: Any,
) -> str:
    """Ask Claude once and return the answer's text.

    :param prompt: the user message (a string, or a list of content blocks).
    :param model: the model (default ``$MAC_MODEL`` or ``claude-sonnet-4-6``).
    :param system: a system prompt (string or text blocks).
    :param streaming: stream the answer and print it to stdout as it arrives.
    :param cache_system, cache_prompt: mark the system prompt or the user
        message with ``cache_control`` (worth it above 1024 tokens).
    :param messages: a whole conversation to send instead of ``prompt``.
    :param kwargs: further request fields (``tools``, ``stop_sequences``…).
    :raises ClaudeInvocationError: when the request fails after retries.
    """
    callback = None
    if streaming:

        def callback(chunk: str) -> None:
            print(chunk, end="", flush=True)

    text = _single(
        prompt,
        transport="stream" if streaming else "messages",
        callback=callback,
        model=model,
        system=system,
        max_tokens=max_tokens,
        temperature=temperature,
        cache_system=cache_system,
        cache_prompt=cache_prompt,
        messages=messages,
        options=kwargs,
    )
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

    A callback that raises is logged and never breaks the stream.
    """
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, not {type(callback).__name__}")
    return _single(
        prompt,
        transport="stream",
        callback=callback,
        model=model,
        system=system,
        max_tokens=max_tokens,
        temperature=temperature,
        cache_system=cache_system,
        cache_prompt=cache_prompt,
        messages=None,
        options=kwargs,
    )


def _parallel(
    prompts: Sequence[dict[str, Any]],
    *,
    transport: str,
    model: str | None,
    max_tokens: int,
    max_workers: int,
    shared_system: Any,
    cache_shared_system: bool,
    callbacks: Sequence[Callable[[str], Any] | None] | None = None,
    interrupt_token: InterruptToken | None = None,
) -> list[TaskResult]:
    return Coordinator().run(
        prompts,
        transport=transport,
        model=model or default_model(),
        max_tokens=max_tokens,
        temperature=DEFAULT_TEMPERATURE,
        max_concurrency=max_workers,
        system=shared_system,
        cache_shared_system=cache_shared_system,
        callbacks=callbacks,
        interrupt_token=interrupt_token,
    )


def invoke_parallel(
    prompts: Sequence[dict[str, Any]],
    model: str | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    max_workers: int = 5,
    shared_system: str | list[dict[str, Any]] | None = None,
    cache_shared_system: bool = False,
) -> list[str]:
    """Ask Claude many things at once; answers come back in the prompts' order.

    :param prompts: dicts with ``prompt`` and optionally ``system``, ``model``,
        ``max_tokens``, ``temperature``, ``cache_system``, ``cache_prompt``.
    :param max_workers: requests in flight at once.
    :param shared_system: a system prompt before every prompt's own.
    :param cache_shared_system: cache ``shared_system``: the first request
        goes alone and the rest follow on its first event, reading the cache.
    :raises ClaudeInvocationError: if any prompt fails (after retries).
    """
    results = _parallel(
        prompts,
        transport="messages",
        model=model,
        max_tokens=max_tokens,
        max_workers=max_workers,
        shared_system=shared_system,
        cache_shared_system=cache_shared_system,
    )
    _raise_first_failure(results)
    return [r.text for r in results]


def invoke_parallel_streaming(
    prompts: Sequence[dict[str, Any]],
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
    results = _parallel(
        prompts,
        transport="stream",
        model=model,
        max_tokens=max_tokens,
        max_workers=max_workers,
        shared_system=shared_system,
        cache_shared_system=cache_shared_system,
        callbacks=callbacks,
    )
    _raise_first_failure(results)
    return [r.text for r in results]


def invoke_parallel_interruptible(
    prompts: Sequence[dict[str, Any]],
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
    results = _parallel(
        prompts,
        transport="stream",
        model=model,
        max_tokens=max_tokens,
        max_workers=max_workers,
        shared_system=shared_system,
        cache_shared_system=cache_shared_system,
        interrupt_token=interrupt_token,
    )
    return [r.text if r.status == COMPLETED else None for r in results]
