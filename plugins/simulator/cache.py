"""Prompt caching as the API accounts it: a ``cache_control`` marker caches the prefix up to its block.

The first request with a marked prefix reports it as
``cache_creation_input_tokens``; later requests with the same prefix, within
the marker's life (5 minutes, or 1 hour with ``"ttl": "1h"``), report it as
``cache_read_input_tokens``, and each read renews that life. A prefix is
identified by a hash of the model, the tools, the system blocks and the
messages up to the marker (a string content counts as one text block, as the
API renders it). Unlike the API there is no minimum length.

As on the API, a breakpoint also hits a prefix an earlier request cached that
ends a little before it: the look-back checks :data:`LOOKBACK_BLOCKS` block
positions, the breakpoint's own first, then each earlier block. On a hit the
tokens up to that earlier prefix are read and those from there to the
breakpoint are written, so a conversation that moves its one breakpoint to its
newest block reads what the previous request wrote. A prefix further back is
not found: a turn that adds more blocks than that needs a second breakpoint.
Only prefixes that ended at a breakpoint are ever written.
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
#: Block positions a breakpoint's look-back checks for an earlier cached prefix, its own included.
LOOKBACK_BLOCKS = 20


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
    """The prefixes written by earlier requests, each with the moment it expires and its life."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[str, tuple[float, float]] = {}  # prefix hash -> (expires at, life in seconds)
        self._clock = clock

    def account(self, request: dict[str, Any]) -> InputUsage:
        """Split the request's input tokens into uncached, read and written; record what it writes."""
        hasher = hashlib.sha256(
            json.dumps([request.get("model"), request.get("tools")], sort_keys=True).encode()
        )
        keys: list[str] = []  # the hash of the prefix ending at each block
        totals: list[int] = []  # the tokens up to and including each block
        breakpoints: list[tuple[int, float]] = []  # (block position, life)
        total = 0
        for role, block in prompt_blocks(request):
            hasher.update(json.dumps([role, _as_cached(block)], sort_keys=True).encode())
            total += block_tokens(block)
            keys.append(hasher.copy().hexdigest())
            totals.append(total)
            marker = block.get("cache_control") if isinstance(block, dict) else None
            if isinstance(marker, dict):
                breakpoints.append(
                    (len(keys) - 1, TTL_SECONDS.get(str(marker.get("ttl", "5m")), TTL_SECONDS["5m"]))
                )
        if not breakpoints:
            return InputUsage(input_tokens=total)
        now = self._clock()
        hits = [
            hit for position, _ in breakpoints if (hit := self._look_back(keys, position, now)) is not None
        ]
        read = max((totals[hit] for hit in hits), default=0)
        for hit in hits:  # each read renews the entry's life
            expires, life = self._entries[keys[hit]]
            self._entries[keys[hit]] = (max(expires, now + life), life)
        for position, life in breakpoints:
            expires, known_life = self._entries.get(keys[position], (0.0, 0.0))
            self._entries[keys[position]] = (max(expires, now + life), max(life, known_life))
        written_5m = written_1h = 0
        last_position, last_life = breakpoints[-1]
        if totals[last_position] > read:
            if last_life > TTL_SECONDS["5m"]:
                written_1h = totals[last_position] - read
            else:
                written_5m = totals[last_position] - read
        if len(self._entries) > _PRUNE_ABOVE:
            self._entries = {key: entry for key, entry in self._entries.items() if entry[0] > now}
        return InputUsage(
            input_tokens=total - read - written_5m - written_1h,
            cache_read_input_tokens=read,
            cache_creation_5m=written_5m,
            cache_creation_1h=written_1h,
        )

    def _look_back(self, keys: list[str], position: int, now: float) -> int | None:
        """The nearest block position at or before ``position``, within the look-back, whose prefix is cached."""
        for candidate in range(position, max(-1, position - LOOKBACK_BLOCKS), -1):
            entry = self._entries.get(keys[candidate])
            if entry is not None and entry[0] > now:
                return candidate
        return None


def _as_cached(block: Any) -> Any:
    """What of ``block`` identifies a prefix: a string as the text block it stands for, without its marker."""
    if isinstance(block, str):
        return {"type": "text", "text": block}
    if isinstance(block, dict) and "cache_control" in block:
        return {key: value for key, value in block.items() if key != "cache_control"}
    return block
