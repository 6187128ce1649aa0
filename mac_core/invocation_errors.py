"""What the classic functions raise, and how a failed task becomes one: :class:`ClaudeInvocationError` and its kinds.

The kinds are the skill lineage's (``orchestrating-agents``): a caller matches
on ``error.kind`` and decides, in an ``on_error`` callback, to :class:`Retry`
with a changed prompt or :class:`Fail` at once. A kind comes from the
:class:`~mac_core.results.TaskResult`'s ``status_code`` and ``error_type``,
never from parsing an error string.
"""

from __future__ import annotations

import json
import random
from typing import Any

from .credentials import MissingAPIKeyError
from .results import TaskResult

#: Values of :attr:`ClaudeInvocationError.kind`.
ERROR_RATE_LIMIT = "rate_limit"  # 429
ERROR_OVERLOADED = "overloaded"  # 529
ERROR_CONTEXT_TOO_LONG = "context_overflow"  # 400 naming the context or tokens, or 413
ERROR_OUTPUT_PARSE = "output_parse"  # the answer was not the JSON asked for (invoke_claude_json)
ERROR_CONNECTION = "connection"  # no answer: connection failed or dropped, timeout, broken stream
ERROR_AUTH = "auth"  # 401/403, or no key at all
ERROR_UNKNOWN = "unknown"

ERROR_KINDS = (
    ERROR_RATE_LIMIT, ERROR_OVERLOADED, ERROR_CONTEXT_TOO_LONG, ERROR_OUTPUT_PARSE,
    ERROR_CONNECTION, ERROR_AUTH, ERROR_UNKNOWN,
)

#: Kinds worth trying again as they are; a server error (5xx) is retried too.
TRANSIENT_KINDS = frozenset({ERROR_RATE_LIMIT, ERROR_OVERLOADED, ERROR_CONNECTION})

_BY_ERROR_TYPE = {
    "rate_limit_error": ERROR_RATE_LIMIT,
    "overloaded_error": ERROR_OVERLOADED,
    "authentication_error": ERROR_AUTH,
    "permission_error": ERROR_AUTH,
    "request_too_large": ERROR_CONTEXT_TOO_LONG,
    "timeout": ERROR_CONNECTION,
    "connection_error": ERROR_CONNECTION,
    "incomplete_stream": ERROR_CONNECTION,
    "malformed_event": ERROR_CONNECTION,
    "worker_lost": ERROR_CONNECTION,  # a Ray worker died: transient, worth another attempt
}
_BY_STATUS = {429: ERROR_RATE_LIMIT, 529: ERROR_OVERLOADED, 401: ERROR_AUTH, 403: ERROR_AUTH, 413: ERROR_CONTEXT_TOO_LONG}
_CONTEXT_WORDS = ("too long", "context", "token")


class ClaudeInvocationError(Exception):
    """A call failed; raised by the classic functions (the rich API returns ``failed`` results instead).

    :ivar status_code: the HTTP status, when there was one.
    :ivar details: more context (which invocations failed, the request id).
    :ivar kind: one of :data:`ERROR_KINDS` (``"rate_limit"``, ``"context_overflow"``…).
    :ivar retries: attempts made after the first before giving up.
    """

    def __init__(
        self, message: str, status_code: int | None = None, details: Any = None, kind: str = ERROR_UNKNOWN
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.details = details
        self.kind = kind
        self.retries = 0


class APIKeyNotFoundError(ClaudeInvocationError, MissingAPIKeyError):
    """No API key anywhere: a :class:`ClaudeInvocationError` of kind ``auth`` and a ``ValueError`` both.

    The lineage raised one from ``invoke_claude`` and the other from its
    streaming twin; callers catch either.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, details="no API key was found; nothing was sent", kind=ERROR_AUTH)


class OutputParseError(json.JSONDecodeError, ClaudeInvocationError):
    """The answer was not JSON, even after the repair attempts: a ``json.JSONDecodeError`` of kind ``output_parse``."""

    def __init__(self, cause: json.JSONDecodeError, attempts: int) -> None:
        json.JSONDecodeError.__init__(self, cause.msg, cause.doc, cause.pos)
        self.status_code = None
        self.details = f"not JSON after {attempts} answer{'s' if attempts != 1 else ''}"
        self.kind = ERROR_OUTPUT_PARSE
        self.retries = attempts - 1
        self.message = str(self)


class Retry:
    """Return from ``on_error`` to try again, with a new ``prompt`` and/or ``system`` (``None`` keeps the old)."""

    __slots__ = ("prompt", "system")

    def __init__(self, prompt: Any = None, system: Any = None) -> None:
        self.prompt = prompt
        self.system = system

    def __repr__(self) -> str:
        return f"Retry(prompt={'...' if self.prompt is not None else None}, system={'...' if self.system is not None else None})"


class Fail:
    """Return from ``on_error`` to stop at once; ``message`` (if any) becomes the error's message."""

    __slots__ = ("message",)

    def __init__(self, message: str = "") -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"Fail({self.message!r})"


def kind_of(result: TaskResult) -> str:
    """The :data:`ERROR_KINDS` entry for a failed task, from its status code and error type."""
    if result.status_code == 400 and any(word in (result.error or "").lower() for word in _CONTEXT_WORDS):
        return ERROR_CONTEXT_TOO_LONG
    if result.error_type in _BY_ERROR_TYPE:
        return _BY_ERROR_TYPE[result.error_type]
    return _BY_STATUS.get(result.status_code, ERROR_UNKNOWN)


def is_transient(error: ClaudeInvocationError) -> bool:
    """Worth retrying unchanged: a rate limit, overload, connection failure or server error (5xx)."""
    return error.kind in TRANSIENT_KINDS or (error.status_code is not None and error.status_code >= 500)


def error_from_result(result: TaskResult, *, attempt: int, attempts: int) -> ClaudeInvocationError:
    """The :class:`ClaudeInvocationError` for a task that did not complete."""
    reason = result.error or result.interrupt_reason or result.status
    where = f" (attempt {attempt + 1}/{attempts})" if attempts > 1 else ""
    details = f"request id {result.request_id}" if result.request_id else result.status
    error = ClaudeInvocationError(
        f"API request failed{where}: {reason}", status_code=result.status_code, details=details, kind=kind_of(result)
    )
    error.retries = max(attempt, result.retries)  # a round sends its attempt number as the retry count
    return error


def backoff_delay(attempt: int, base: float = 1.0, cap: float = 30.0) -> float:
    """Seconds to wait before retry ``attempt + 1``: exponential from ``base``, capped, with half jitter."""
    delay = min(base * (2**attempt), cap)
    return delay * (0.5 + random.random() * 0.5)
