"""Running the classic functions' prompts on the engine, with per-prompt retries and ``on_error`` recovery.

Each prompt is an :class:`Attempt` plan: the prompt dict the
:class:`~mac_core.Coordinator` takes, its own ``max_retries``, and an
optional ``on_error(error, attempt) -> Retry | Fail | None``.

Two paths, one outcome. When every prompt shares one ``max_retries`` and
none has ``on_error`` (the usual call), one engine run does it all and the
SDK retries 408/409/429/5xx itself, honouring ``retry-after``. Otherwise the
prompts run in rounds on one engine run each: after a round, each failed
prompt with retries left asks its ``on_error`` (or, without one, is retried
if the failure was transient), and the next round carries the retried
prompts after a jittered backoff. ``max_workers`` bounds every round, and an
interrupt stops the rounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .coordinator import Coordinator
from .credentials import Secret
from .interrupt import InterruptToken
from .invocation_errors import (
    ClaudeInvocationError,
    Fail,
    Retry,
    backoff_delay,
    error_from_result,
    is_transient,
)
from .results import COMPLETED, FAILED, TaskResult

#: Retries when a caller gives no ``max_retries`` (the engine's own default).
DEFAULT_MAX_RETRIES = 2

OnError = Callable[[ClaudeInvocationError, int], Any]


def caller_retry_delay(attempt: int) -> float:
    """The short pause before a retry that ``on_error`` asked for."""
    return backoff_delay(attempt, base=0.5, cap=5.0)


@dataclass
class Attempt:
    """One prompt's plan: what to send and how to recover.

    :ivar spec: the prompt dict for :meth:`Coordinator.run`.
    :ivar max_retries: attempts after the first (``None``: :data:`DEFAULT_MAX_RETRIES`).
    :ivar on_error: consulted after a failure while retries are left.
    :ivar should_retry: whether a failure is retried when ``on_error`` gives no answer.
    :ivar delay: seconds to wait before retry ``attempt + 1``.
    :ivar retry_delay: the same, when ``on_error`` returned :class:`Retry`.
    :ivar sdk_retries: let the SDK make the retries when it can (its own
        backoff, ``retry-after`` honoured); off when ``delay`` must be kept.
    """

    spec: dict[str, Any]
    max_retries: int | None = None
    on_error: OnError | None = None
    should_retry: Callable[[ClaudeInvocationError], bool] = is_transient
    delay: Callable[[int], float] = backoff_delay
    retry_delay: Callable[[int], float] = caller_retry_delay
    sdk_retries: bool = True

    @property
    def limit(self) -> int:
        """Retries allowed."""
        return DEFAULT_MAX_RETRIES if self.max_retries is None else self.max_retries


@dataclass
class Outcome:
    """A prompt's end: its last :class:`TaskResult` and, unless it completed, the error to raise."""

    result: TaskResult
    error: ClaudeInvocationError | None = None
    stopped_by_caller: bool = False

    @property
    def reason(self) -> str:
        """Why it did not complete: the caller's :class:`Fail` message, else the task's error or status."""
        if self.stopped_by_caller and self.error is not None:
            return self.error.message
        return self.result.error or self.result.interrupt_reason or self.result.status

    @property
    def text(self) -> str | None:
        """The answer, or ``None`` when the prompt did not complete."""
        return self.result.text if self.result.status == COMPLETED else None


def check_max_retries(value: Any, where: str) -> int | None:
    """``None`` or a non-negative integer, else a clear error."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where}: max_retries must be an integer, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{where}: max_retries must be 0 or more, got {value}")
    return value


def check_on_error(value: Any, where: str) -> OnError | None:
    """``None`` or a callable, else a clear error."""
    if value is not None and not callable(value):
        raise TypeError(f"{where}: on_error must be callable as on_error(error, attempt), not {type(value).__name__}")
    return value


def with_retry_count(spec: dict[str, Any], attempt: int) -> dict[str, Any]:
    """``spec`` telling the server which retry this is, in the header the SDK's own retries send."""
    if attempt == 0:
        return spec
    headers = {**(spec.get("extra_headers") or {}), "x-stainless-retry-count": str(attempt)}
    return {**spec, "extra_headers": headers}


def _retried_spec(spec: dict[str, Any], action: Retry) -> dict[str, Any]:
    spec = dict(spec)
    if action.system is not None:
        spec["system"] = action.system
    if action.prompt is not None:
        if isinstance(action.prompt, str):
            spec["prompt"] = action.prompt
        if spec.get("messages") or not isinstance(action.prompt, str):
            # The new prompt replaces the last user turn of the conversation.
            messages = list(spec.get("messages") or [{"role": "user", "content": action.prompt}])
            messages[-1] = {"role": "user", "content": action.prompt}
            spec["messages"] = messages
    return spec


def run_attempts(
    plans: Sequence[Attempt],
    *,
    api_key: Secret,
    transport: str,
    callbacks: Sequence[Callable[[str], Any] | None] | None = None,
    interrupt_token: InterruptToken | None = None,
    **run_options: Any,
) -> list[Outcome]:
    """Run every plan to its end; one :class:`Outcome` per plan, in order.

    :param run_options: passed to :meth:`Coordinator.run` (``model``,
        ``max_tokens``, ``temperature``, ``max_concurrency``, ``system``,
        ``cache_shared_system``).
    """
    limits = {plan.limit for plan in plans}
    if len(limits) == 1 and all(plan.sdk_retries and plan.on_error is None for plan in plans):
        (limit,) = limits
        results = Coordinator(api_key=api_key, max_retries=limit).run(
            [plan.spec for plan in plans], transport=transport, callbacks=callbacks,
            interrupt_token=interrupt_token, **run_options,
        )
        return [_outcome(result, attempt=0, attempts=1) for result in results]
    return _run_rounds(plans, api_key=api_key, transport=transport, callbacks=callbacks,
                       interrupt_token=interrupt_token, run_options=run_options)


def _outcome(result: TaskResult, *, attempt: int, attempts: int) -> Outcome:
    if result.status == COMPLETED:
        return Outcome(result)
    return Outcome(result, error_from_result(result, attempt=attempt, attempts=attempts))


def _run_rounds(
    plans: Sequence[Attempt],
    *,
    api_key: Secret,
    transport: str,
    callbacks: Sequence[Callable[[str], Any] | None] | None,
    interrupt_token: InterruptToken | None,
    run_options: dict[str, Any],
) -> list[Outcome]:
    coordinator = Coordinator(api_key=api_key, max_retries=0)  # every retry is a round here, so on_error sees each failure
    specs = [dict(plan.spec) for plan in plans]
    attempts = [0] * len(plans)
    outcomes: list[Outcome | None] = [None] * len(plans)
    pending = list(range(len(plans)))
    while pending:
        results = coordinator.run(
            [with_retry_count(specs[i], attempts[i]) for i in pending], transport=transport,
            callbacks=[callbacks[i] for i in pending] if callbacks is not None else None,
            interrupt_token=interrupt_token, **run_options,
        )
        again: list[int] = []
        wait = 0.0
        for i, result in zip(pending, results, strict=True):
            plan, attempt = plans[i], attempts[i]
            outcome = _outcome(result, attempt=attempt, attempts=plan.limit + 1)
            outcomes[i] = outcome
            if outcome.error is None or result.status != FAILED or attempt >= plan.limit:
                continue
            try:
                action = plan.on_error(outcome.error, attempt) if plan.on_error is not None else None
            except Exception as exc:  # the callback failed: this prompt ends with the API error, caused by it
                outcome.error.__cause__ = exc
                continue
            if isinstance(action, Fail):
                outcome.error = _failed_by_caller(outcome.error, action)
                outcome.stopped_by_caller = True
            elif isinstance(action, Retry):
                specs[i] = _retried_spec(specs[i], action)
                wait = max(wait, plan.retry_delay(attempt))
                again.append(i)
            elif plan.should_retry(outcome.error):
                wait = max(wait, plan.delay(attempt))
                again.append(i)
        if interrupt_token is not None and interrupt_token.is_interrupted():
            break
        for i in again:
            attempts[i] += 1
        if again and wait > 0:
            time.sleep(wait)
        pending = again
    return [outcome for outcome in outcomes if outcome is not None]


def _failed_by_caller(error: ClaudeInvocationError, action: Fail) -> ClaudeInvocationError:
    stopped = ClaudeInvocationError(action.message or error.message, status_code=error.status_code,
                                    details=error.details, kind=error.kind)
    stopped.retries = error.retries
    return stopped
