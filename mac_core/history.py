"""A conversation's history as the Messages API takes it: checked, rebuilt from a run's events, marked for the cache.

:class:`TurnRecorder` turns a task's events back into the messages a history
keeps (text, and a tool loop's ``tool_use``/``tool_result`` exchange);
:func:`settled` cuts a turn to the part the API accepts as history;
:func:`with_breakpoints` copies messages with cache breakpoints. Used by
:class:`~mac_core.thread.Thread`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .events import TEXT, TOOL_RESULT, TOOL_USE, Event
from .plugins import hookimpl
from .prompts import CACHE_CONTROL, check_encodable  # noqa: F401 - shared with threads and the orchestrator
from .tool_loop import AssistantTurn

#: One message of a conversation: ``{"role": "user" | "assistant", "content": [blocks]}``.
Message = dict[str, Any]


def as_blocks(content: Any) -> list[dict[str, Any]]:
    """Content as a list of blocks: a string is one text block, as the API renders it."""
    return [{"type": "text", "text": content}] if isinstance(content, str) else copy.deepcopy(list(content))


def checked_history(history: Any) -> list[Message]:
    """A starting history: alternating user and assistant messages, from a user message to an answer."""
    if isinstance(history, (str, bytes, Mapping)) or not isinstance(history, Sequence):
        raise TypeError(
            f"history must be a list of {{'role', 'content'}} dicts, not {type(history).__name__}"
        )
    checked = []
    for i, message in enumerate(history):
        expected = "user" if i % 2 == 0 else "assistant"
        if not isinstance(message, Mapping) or message.get("role") != expected:
            raise ValueError(
                f"history[{i}] must be a dict with role {expected!r} (turns alternate, user first)"
            )
        content = message.get("content")
        if not isinstance(content, (str, list)) or not content:
            raise TypeError(f"history[{i}]['content'] must be a non-empty string or list of content blocks")
        checked.append({"role": expected, "content": as_blocks(content)})
    if len(checked) % 2:
        raise ValueError("history must end with an assistant answer (the thread sends the next user turn)")
    return checked


def block_count(messages: Iterable[Message]) -> int:
    """How many content blocks ``messages`` hold (the unit of the cache's look-back)."""
    return sum(len(message["content"]) for message in messages)


def settled(turn: list[Message]) -> list[Message]:
    """The longest start of ``turn`` (a user message, then what came back) the API accepts as history.

    It must end with an assistant message that has text or answered tool
    calls: trailing tool results with no answer after them, and ``tool_use``
    blocks whose results never came, are cut; so is a turn with no answer.
    """
    kept = copy.deepcopy(turn)
    while len(kept) > 1:
        last = kept[-1]
        if last["role"] == "user":  # tool results the model never answered
            kept.pop()
            continue
        content = [b for b in last["content"] if b.get("type") != "tool_use" and _has_substance(b)]
        if content:
            kept[-1] = {"role": "assistant", "content": content}
            return kept
        kept.pop()
    return []


def _has_substance(block: dict[str, Any]) -> bool:
    return block.get("type") != "text" or bool(str(block.get("text", "")).strip())


class TurnRecorder:
    """A one-run plugin that rebuilds each task's answer from its events, as the messages a history keeps.

    For a plain answer that is one assistant message; for a tool loop, each
    round's assistant message (text and ``tool_use`` blocks) and the user
    message of its ``tool_result`` blocks (in the order the model asked), up to
    the last answer. It sees what the task saw: after a stop, nothing more.
    """

    def __init__(self) -> None:
        self._exchanges: dict[int, _Exchange] = {}

    @hookimpl
    def mac_task_event(self, task: Any, event: Event) -> None:
        exchange = self._exchanges.get(task.index)
        if exchange is None:
            exchange = self._exchanges[task.index] = _Exchange()
        exchange.add(event)

    def messages(self, index: int) -> list[Message]:
        """What task ``index`` received, as assistant (and tool-result) messages."""
        exchange = self._exchanges.get(index)
        return exchange.messages() if exchange is not None else []


class _Exchange:
    """One task's rounds so far."""

    def __init__(self) -> None:
        self._done: list[Message] = []
        self._answer = AssistantTurn(lambda event: None)
        self._results: list[dict[str, Any]] = []

    def add(self, event: Event) -> None:
        if event.type == TOOL_RESULT:
            self._results.append(event.data)
        elif event.type in (TEXT, TOOL_USE):
            if self._results:  # the model answers the tool results: a new round
                self._close()
            self._answer.emit(event)

    def _close(self) -> None:
        content = self._answer.content()
        if not content and not self._results:
            return
        self._done.append({"role": "assistant", "content": content})
        if self._results:
            order = {b["id"]: i for i, b in enumerate(content) if b.get("type") == "tool_use"}
            results = sorted(self._results, key=lambda r: order.get(r.get("tool_use_id"), len(order)))
            self._done.append({"role": "user", "content": results})
        self._answer = AssistantTurn(lambda event: None)
        self._results = []

    def messages(self) -> list[Message]:
        self._close()
        return copy.deepcopy(self._done)


def user_message(text: str) -> Message:
    """A user message of one text block (the form a history keeps, so its cached prefix never changes)."""
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def with_breakpoints(messages: list[Message], marks: Iterable[int]) -> list[Message]:
    """A copy of ``messages`` with a cache breakpoint on the last block of each message in ``marks``."""
    copied = [{"role": m["role"], "content": list(m["content"])} for m in messages]
    for index in set(marks):
        blocks = copied[index]["content"]
        blocks[-1] = {**blocks[-1], "cache_control": dict(CACHE_CONTROL)}
    return copied
