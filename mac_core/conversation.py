"""A multi-turn conversation that caches its growing history: :class:`ConversationThread`."""

from __future__ import annotations

import copy
from typing import Any

from .invoke import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, invoke_claude
from .prompts import CACHE_CONTROL

DEFAULT_CONTINUATION = "Continue from where you left off."


def _cache_marked(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``content`` as blocks whose last carries ``cache_control``."""
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else copy.deepcopy(content)
    if blocks and "cache_control" not in blocks[-1]:
        blocks[-1]["cache_control"] = dict(CACHE_CONTROL)
    return blocks


class ConversationThread:
    """One agent's conversation: each :meth:`send` carries the whole history and caches it.

    With ``cache_history`` (the default) a request marks two cache
    breakpoints in the history: the previous user turn (so the prefix the
    last request wrote is read from the cache) and the new one (so the next
    request can read this longer prefix). With ``cache_system`` the system
    prompt is a third. :attr:`messages` (and :meth:`get_messages`) hold the
    plain history, without those marks.

    :param system: the system prompt (string or text blocks).
    :param model: the model (default ``$MAC_MODEL`` or ``claude-sonnet-4-6``).
    :param max_tokens, temperature: per answer.
    :param cache_system: cache the system prompt (default on).
    :param max_turns: turns allowed before :meth:`send` raises ``RuntimeError`` (``None``: no limit).
    :param continuation_prompt: what :meth:`send_continuation` sends by default.
    """

    def __init__(
        self,
        system: str | list[dict[str, Any]] | None = None,
        model: str | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float = DEFAULT_TEMPERATURE,
        cache_system: bool = True,
        max_turns: int | None = None,
        continuation_prompt: str | None = None,
    ) -> None:
        if max_turns is not None and (isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1):
            raise ValueError(f"max_turns must be a positive integer or None, got {max_turns!r}")
        self.system = system
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.cache_system = cache_system
        self.max_turns = max_turns
        self.continuation_prompt = continuation_prompt or DEFAULT_CONTINUATION
        self.messages: list[dict[str, Any]] = []

    @property
    def turn_count(self) -> int:
        """Completed turns (user message and answer pairs)."""
        return len(self.messages) // 2

    def _request_messages(self, cache_history: bool) -> list[dict[str, Any]]:
        messages = [dict(m) for m in self.messages]
        if cache_history:
            user_turns = [i for i, m in enumerate(messages) if m["role"] == "user"]
            for i in user_turns[-2:]:
                messages[i]["content"] = _cache_marked(messages[i]["content"])
        return messages

    def send(self, user_message: str | list[dict[str, Any]], cache_history: bool = True, **kwargs: Any) -> str:
        """Send the next user message with the whole history; return the answer and keep both.

        :param cache_history: cache the history up to this message (default on).
        :param kwargs: as :func:`~mac_core.invoke_claude` (``max_retries``,
            ``on_error``, ``stop_sequences``…).
        :raises RuntimeError: when ``max_turns`` turns were already made.
        :raises ClaudeInvocationError: when the request fails; the history is
            left as it was before the call.
        """
        if self.max_turns is not None and self.turn_count >= self.max_turns:
            raise RuntimeError(f"Maximum turns ({self.max_turns}) reached")
        if isinstance(user_message, str):
            if not user_message.strip():
                raise ValueError("user_message is empty")
        elif not isinstance(user_message, list) or not user_message:
            raise TypeError("user_message must be a string or a non-empty list of content blocks")
        self.messages.append({"role": "user", "content": copy.deepcopy(user_message)})
        try:
            answer = invoke_claude(
                "",
                model=self.model,
                system=self.system,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                cache_system=self.cache_system,
                messages=self._request_messages(cache_history),
                **kwargs,
            )
        except BaseException:
            self.messages.pop()  # a failed turn leaves no unanswered user message behind
            raise
        self.messages.append({"role": "assistant", "content": answer})
        return answer

    def send_continuation(self, guidance: str | None = None, cache_history: bool = True, **kwargs: Any) -> str:
        """A light follow-up turn: ``guidance`` or :attr:`continuation_prompt`.

        :raises RuntimeError: before any :meth:`send`, or when ``max_turns`` is reached.
        """
        if not self.messages:
            raise RuntimeError("No previous turns. Use send() for the first turn.")
        return self.send(guidance or self.continuation_prompt, cache_history=cache_history, **kwargs)

    def get_messages(self) -> list[dict[str, Any]]:
        """A copy of the history (user and assistant messages, in order)."""
        return copy.deepcopy(self.messages)

    def clear(self) -> None:
        """Forget the history (the settings stay)."""
        self.messages = []

    def __len__(self) -> int:
        return self.turn_count

    def __repr__(self) -> str:
        return f"<ConversationThread turns={self.turn_count} model={self.model or 'default'}>"
