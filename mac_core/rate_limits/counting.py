"""``count_tokens`` when asked: a request's input tokens counted by the API before the scheduler charges them.

With ``RateLimits(count_tokens=True)`` for a model, the engine asks
``POST /v1/messages/count_tokens`` for each of its requests (once per
request, not per retry) and the scheduler charges that count instead of the
local estimate (:func:`~mac_core.rate_limits.estimate_input_tokens` returns it).
A count that fails (any error, a timeout of :data:`COUNT_TIMEOUT_SECONDS`, an
answer without a number) falls back to the local estimate: it never fails a task.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..run import Task
    from ..transport import ClientSettings

log = logging.getLogger("mac_core.rate_limits")

#: The longest a count may take before the local estimate is used instead.
COUNT_TIMEOUT_SECONDS = 5.0
#: The request fields ``count_tokens`` takes (the others, such as ``max_tokens``, do not change the input).
COUNTED_FIELDS = ("model", "messages", "system", "tools", "tool_choice", "thinking")

#: The API's count of the input tokens of the request being admitted in this context, or ``None``.
counted_input_tokens: ContextVar[int | None] = ContextVar("counted_input_tokens", default=None)


class TokenCounter:
    """One SDK client (opened on first use, no retries) that counts requests' input tokens."""

    def __init__(self, settings: ClientSettings) -> None:
        self._settings = settings
        self._client: Any = None
        self.failures = 0  # counts that fell back to the local estimate

    async def count(self, task: Task) -> int | None:
        """The input tokens of ``task``'s next request as the API counts them, or ``None`` if it could not."""
        from ..anthropic_api import make_client, messages_request

        body = messages_request(task)
        try:
            if self._client is None:
                self._client = make_client(self._settings, streaming=False).with_options(
                    max_retries=0, timeout=COUNT_TIMEOUT_SECONDS
                )
            answer = await self._client.messages.count_tokens(
                **{field: body[field] for field in COUNTED_FIELDS if field in body}
            )
            tokens = answer.input_tokens
            if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
                raise ValueError(f"count_tokens answered input_tokens={tokens!r}")
            return tokens
        except Exception as exc:  # an API error, a timeout, a malformed answer: the local estimate serves
            self.failures += 1
            log.debug("count_tokens failed (%s); the local estimate is used", type(exc).__name__)
            return None

    async def aclose(self) -> None:
        """Close the client, if one was opened."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()
