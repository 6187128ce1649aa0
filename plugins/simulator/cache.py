"""Prompt caching as the API accounts it: a ``cache_control`` marker caches the prefix up to its block.

The first request with a marked prefix reports it as
``cache_creation_input_tokens``; later requests with the same prefix, within
the marker's life (5 minutes, or 1 hour with ``"ttl": "1h"``), report it as
``cache_read_input_tokens``, and each read renews that life. A prefix is
identified by a hash of the model, the tools, the system blocks and the
messages up to the marker. Unlike the API there is no minimum length.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .script import count_tokens

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
IMAGE_TOKENS = 1600  # about what the API charges for one image or PDF page
_PRUNE_ABOVE = 50_000  # entries before expired ones are swept


@dataclass(frozen=True)
class InputUsage:
    """How a request's input tokens split: uncached, read from the cache, written to it."""

    input_tokens: int
    cache_read_input_tokens: int = 0
    cache_creation_5m: int = 0
    cache_creation_1h: int = 0

    @property
    def cache_creation_input_tokens(self) -> int:
        """Tokens written to the cache, whatever their life."""
        return self.cache_creation_5m + self.cache_creation_1h

    def as_api(self, output_tokens: int) -> dict[str, Any]:
        """The API's ``usage`` object."""
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_creation_5m,
                "ephemeral_1h_input_tokens": self.cache_creation_1h,
            },
            "output_tokens": output_tokens,
            "service_tier": "standard",
        }


def block_tokens(block: Any) -> int:
    """The input tokens of one content block (text, tool_use, tool_result, thinking, image…)."""
    if isinstance(block, str):
        return count_tokens(block)
    if not isinstance(block, dict):
        return 0
    kind = block.get("type")
    if kind == "text":
        return count_tokens(str(block.get("text", "")))
    if kind == "thinking":
        return count_tokens(str(block.get("thinking", "")))
    if kind in ("image", "document"):
        return IMAGE_TOKENS
    if kind == "tool_use":
        return count_tokens(json.dumps(block.get("input", {})))
    if kind == "tool_result":
        content = block.get("content", "")
        if isinstance(content, list):
            return sum(block_tokens(part) for part in content)
        return count_tokens(str(content))
    return count_tokens(json.dumps(block))


def prompt_blocks(request: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """``(role, block)`` for every system and message block, in prompt order."""
    system = request.get("system")
    for block in [system] if isinstance(system, str) else system or ():
        yield "system", block
    for message in request.get("messages") or ():
        content = message.get("content")
        for block in [content] if isinstance(content, str) else content or ():
            yield str(message.get("role")), block


def input_tokens(request: dict[str, Any]) -> int:
    """All input tokens of a request (system and messages)."""
    return sum(block_tokens(block) for _, block in prompt_blocks(request))


class PromptCache:
    """The prefixes written by earlier requests, each with the moment it expires."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._expires: dict[str, float] = {}
        self._clock = clock

    def account(self, request: dict[str, Any]) -> InputUsage:
        """Split the request's input tokens into uncached, read and written; record what it writes."""
        hasher = hashlib.sha256(json.dumps([request.get("model"), request.get("tools")], sort_keys=True).encode())
        total = 0
        breakpoints: list[tuple[str, int, float]] = []  # (prefix hash, tokens up to it, life)
        for role, block in prompt_blocks(request):
            hasher.update(json.dumps([role, _without_marker(block)], sort_keys=True).encode())
            total += block_tokens(block)
            marker = block.get("cache_control") if isinstance(block, dict) else None
            if isinstance(marker, dict):
                life = TTL_SECONDS.get(str(marker.get("ttl", "5m")), TTL_SECONDS["5m"])
                breakpoints.append((hasher.copy().hexdigest(), total, life))
        if not breakpoints:
            return InputUsage(input_tokens=total)
        now = self._clock()
        read = next((tokens for key, tokens, _ in reversed(breakpoints) if self._expires.get(key, 0) > now), 0)
        written_5m = written_1h = 0
        for key, _, life in breakpoints:
            self._expires[key] = max(self._expires.get(key, 0), now + life)
        last_tokens, last_life = breakpoints[-1][1], breakpoints[-1][2]
        if last_tokens > read:
            if last_life > TTL_SECONDS["5m"]:
                written_1h = last_tokens - read
            else:
                written_5m = last_tokens - read
        if len(self._expires) > _PRUNE_ABOVE:
            self._expires = {key: until for key, until in self._expires.items() if until > now}
        return InputUsage(
            input_tokens=total - read - written_5m - written_1h,
            cache_read_input_tokens=read,
            cache_creation_5m=written_5m,
            cache_creation_1h=written_1h,
        )


def _without_marker(block: Any) -> Any:
    if isinstance(block, dict) and "cache_control" in block:
        return {key: value for key, value in block.items() if key != "cache_control"}
    return block
